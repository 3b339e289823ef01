"""Plain O(N^2) reference implementations of the merge definitions, for tests only.

Written straight from the definitions in the issue, in pure Python floats (IEEE double),
with the overlap formula of ``tilewise.boxes.box_overlap``. Each returns ``(keep,
parent)`` as lists; WBF also returns the fused boxes of its clusters.
"""

from __future__ import annotations

from collections.abc import Sequence

Box = Sequence[float]


def area(b: Box) -> float:
    w = b[2] - b[0]
    h = b[3] - b[1]
    return max(w, 0.0) * max(h, 0.0)


def overlap(a: Box, b: Box, metric: str) -> float:
    w = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    h = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = w * h
    aa, ab = area(a), area(b)
    denom = (aa + ab) - inter if metric == "iou" else min(aa, ab)
    return inter / denom if denom > 0 else 0.0


def rank(conf: Sequence[float]) -> list[int]:
    """Descending confidence, ties by index."""
    return sorted(range(len(conf)), key=lambda i: (-conf[i], i))


def _same(cls: Sequence[int] | None, i: int, j: int) -> bool:
    return cls is None or cls[i] == cls[j]


def nms(boxes, conf, cls, thr, metric):
    """Kept boxes suppress later ones with overlap > thr; parent = first suppressor."""
    order = rank(conf)
    parent = [-1] * len(boxes)
    keep = []
    for pos, i in enumerate(order):
        if parent[i] >= 0:
            continue
        parent[i] = i
        keep.append(i)
        for j in order[pos + 1 :]:
            if parent[j] < 0 and _same(cls, i, j) and overlap(boxes[i], boxes[j], metric) > thr:
                parent[j] = i
    return keep, parent


def greedy_nmm(boxes, conf, cls, thr, metric):
    """Each unassigned box becomes a keeper, absorbing later ones with overlap >= thr."""
    order = rank(conf)
    parent = [-1] * len(boxes)
    keep = []
    for pos, i in enumerate(order):
        if parent[i] >= 0:
            continue
        parent[i] = i
        keep.append(i)
        for j in order[pos + 1 :]:
            if parent[j] < 0 and _same(cls, i, j) and overlap(boxes[i], boxes[j], metric) >= thr:
                parent[j] = i
    return keep, parent


def nmm(boxes, conf, cls, thr, metric):
    """Seed B; repeatedly merge the best-ranked unassigned box with overlap(B, .) >= thr."""
    order = rank(conf)
    parent = [-1] * len(boxes)
    keep = []
    for seed in order:
        if parent[seed] >= 0:
            continue
        parent[seed] = seed
        keep.append(seed)
        b = list(boxes[seed])
        while True:
            match = next(
                (
                    j
                    for j in order
                    if parent[j] < 0 and _same(cls, seed, j) and overlap(b, boxes[j], metric) >= thr
                ),
                None,
            )
            if match is None:
                break
            parent[match] = seed
            o = boxes[match]
            b = [min(b[0], o[0]), min(b[1], o[1]), max(b[2], o[2]), max(b[3], o[3])]
    return keep, parent


def wbf(boxes, conf, cls, thr, metric):
    """Clusters in rank order; join the best fused box if overlap > thr (earliest on ties).

    Returns ``(keep, parent, fused)`` where ``fused[k]`` is cluster ``keep[k]``'s box.
    """
    order = rank(conf)
    parent = [-1] * len(boxes)
    keep: list[int] = []
    fused: list[list[float]] = []
    wsum: list[list[float]] = []  # 4 weighted sums, 4 plain sums, weight sum, count
    for j in order:
        best, best_m = -1, 0.0
        for k, first in enumerate(keep):
            if not _same(cls, first, j):
                continue
            m = overlap(fused[k], boxes[j], metric)
            if m > thr and (best < 0 or m > best_m):
                best, best_m = k, m
        w = float(conf[j])
        b = [float(v) for v in boxes[j]]
        if best < 0:
            parent[j] = j
            keep.append(j)
            fused.append(b)
            wsum.append([w * v for v in b] + b + [w, 1.0])
            continue
        parent[j] = keep[best]
        s = wsum[best]
        for d in range(4):
            s[d] += w * b[d]
            s[4 + d] += b[d]
        s[8] += w
        s[9] += 1.0
        fused[best] = [s[d] / s[8] if s[8] > 0 else s[4 + d] / s[9] for d in range(4)]
    return keep, parent, fused


def pairs(boxes, cls=None):
    """All i < j with positive intersection area (same class when ``cls`` is given)."""
    out = []
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            w = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
            h = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
            if w * h > 0 and _same(cls, i, j):
                out.append((i, j))
    return out


REFERENCES = {"nms": nms, "greedy_nmm": greedy_nmm, "nmm": nmm}
