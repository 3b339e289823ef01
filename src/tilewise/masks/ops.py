"""Pairwise mask overlap and unions on ``CompactMasks``, crop-local and vectorised.

Only pairs whose crops overlap are ever looked at (``candidate_pairs``), and only the
intersection of the two crops is read: the pixels of all pairs of a chunk are gathered
from the unpacked crops in one vectorised pass (no Python loop per pair or per pixel),
ANDed and summed per pair. Unions scatter the members' pixels into one canvas per
group, then the canvases are bit-packed in one call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tilewise.boxes import Metric, MetricLike
from tilewise.errors import TilewiseError
from tilewise.masks.store import CompactMasks

__all__ = [
    "candidate_pairs",
    "mask_overlap",
    "pairwise_intersection",
    "union_groups",
]

CHUNK_PIXELS = 1 << 20
"""Pixels gathered per vectorised pass (bounds the temporaries to a few tens of MB)."""

WINDOW_PIXELS = 1024
"""Crop intersections from this many pixels on are ANDed window by window."""


def candidate_pairs(
    masks: CompactMasks, class_id: Any = None, *, class_agnostic: bool = True
) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, whose crops overlap: the only pairs that can intersect.

    Args:
        masks: the masks.
        class_id: (N,) classes, used when ``class_agnostic`` is False.
        class_agnostic: pair masks of any classes.

    Returns:
        (P, 2) int64 pairs, sorted.

    Example:
        >>> import numpy as np
        >>> m = CompactMasks.from_crops([np.ones((2, 2), bool)] * 3, [(0, 0), (1, 1), (5, 5)])
        >>> candidate_pairs(m).tolist()
        [[0, 1]]
    """
    from tilewise.boxes import overlapping_pairs

    if len(masks) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    boxes = masks.crop_boxes.astype(np.float64)
    return overlapping_pairs(boxes, class_id, class_agnostic=class_agnostic)


def _unpacked(masks: CompactMasks, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unpack the crops of masks ``ids`` back to back: (bits, bit start, row stride) per id."""
    sub = masks[ids]
    data, start = sub._packed()
    bits = np.unpackbits(data).view(bool)
    stride = 8 * ((sub._shape[:, 1] + 7) // 8)
    return bits, 8 * start, stride


def _chunks(weights: np.ndarray, select: np.ndarray, budget: int) -> list[np.ndarray]:
    """Split the selected pair indices into runs whose weights sum to about ``budget``."""
    idx = np.flatnonzero(select)
    if idx.size == 0:
        return []
    cum = np.cumsum(weights[idx])
    cut = np.searchsorted(cum, np.arange(budget, int(cum[-1]), budget), side="right")
    return [p for p in np.split(idx, np.unique(cut)) if p.size]


def _gather_counts(
    masks: CompactMasks,
    pr: np.ndarray,
    ix0: np.ndarray,
    iy0: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
) -> np.ndarray:
    """Intersections of many small pairs: every pixel gathered in one vectorised pass."""
    ids, local = np.unique(pr, return_inverse=True)
    local = local.reshape(-1, 2)
    bits, start, stride = _unpacked(masks, ids)
    area = w * h
    first = np.cumsum(area) - area
    t = np.arange(int(area.sum()), dtype=np.int64) - np.repeat(first, area)
    w_rep = np.repeat(w, area)
    row = t // w_rep
    col = t - row * w_rep
    hit: np.ndarray | None = None
    for side in (0, 1):
        k = local[:, side]
        org = masks._origin[ids[k]]
        base = start[k] + (iy0 - org[:, 1]) * stride[k] + (ix0 - org[:, 0])
        values = bits[np.repeat(base, area) + row * np.repeat(stride[k], area) + col]
        hit = values if hit is None else hit & values
    assert hit is not None
    return np.add.reduceat(hit, first, dtype=np.int64)


def _window_counts(
    masks: CompactMasks,
    pr: np.ndarray,
    ix0: np.ndarray,
    iy0: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
) -> np.ndarray:
    """Intersections of a few large pairs: AND of 2-D windows of the unpacked crops."""
    ids, local = np.unique(pr, return_inverse=True)
    local = local.reshape(-1, 2)
    bits, start, stride = _unpacked(masks, ids)
    origin = masks._origin[ids]
    rows = masks._shape[ids, 0]
    out = np.zeros(pr.shape[0], dtype=np.int64)
    for p in range(pr.shape[0]):
        views = []
        for k in (int(local[p, 0]), int(local[p, 1])):
            s, st = int(start[k]), int(stride[k])
            crop = bits[s : s + int(rows[k]) * st].reshape(-1, st)
            y, x = int(iy0[p] - origin[k, 1]), int(ix0[p] - origin[k, 0])
            views.append(crop[y : y + int(h[p]), x : x + int(w[p])])
        out[p] = np.count_nonzero(views[0] & views[1])
    return out


def pairwise_intersection(masks: CompactMasks, pairs: Any) -> np.ndarray:
    """Pixels common to both masks of each pair, read over the crops' intersection only.

    Pairs whose crops overlap by fewer than ``WINDOW_PIXELS`` pixels are done all at
    once by gathering their pixels; larger ones by ANDing 2-D windows, one pair at a
    time (where numpy's inner loops beat the gather's index arithmetic).

    Args:
        masks: the masks.
        pairs: (P, 2) int indices into ``masks``.

    Returns:
        (P,) int64 intersection areas.

    Example:
        >>> import numpy as np
        >>> m = CompactMasks.from_crops([np.ones((2, 2), bool)] * 2, [(0, 0), (1, 1)])
        >>> pairwise_intersection(m, [[0, 1], [0, 0]]).tolist()
        [1, 4]
    """
    pr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    out = np.zeros(pr.shape[0], dtype=np.int64)
    if pr.size == 0:
        return out
    if pr.min() < 0 or pr.max() >= len(masks):
        raise TilewiseError(f"pairs hold indices outside [0, {len(masks)})")
    box = masks.crop_boxes
    a, b = box[pr[:, 0]], box[pr[:, 1]]
    ix0, iy0 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - ix0, 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - iy0, 0, None)
    area = iw * ih
    large = (area > 0) & (area >= WINDOW_PIXELS)
    for sel in _chunks(area, (area > 0) & ~large, CHUNK_PIXELS):
        out[sel] = _gather_counts(masks, pr[sel], ix0[sel], iy0[sel], iw[sel], ih[sel])
    crop_px = (masks._shape[:, 0] * masks._shape[:, 1])[pr].sum(axis=1)
    for sel in _chunks(crop_px, large, 8 * CHUNK_PIXELS):
        out[sel] = _window_counts(masks, pr[sel], ix0[sel], iy0[sel], iw[sel], ih[sel])
    return out


def mask_overlap(masks: CompactMasks, pairs: Any, metric: MetricLike = "iou") -> np.ndarray:
    """Mask IoU (or IoS: over the smaller mask) of each pair, as float64.

    Equal to the same metric on the dense masks; 0 when the denominator is 0.

    Example:
        >>> import numpy as np
        >>> m = CompactMasks.from_crops([np.ones((2, 2), bool), np.ones((1, 1), bool)],
        ...                             [(0, 0), (1, 1)])
        >>> mask_overlap(m, [[0, 1]]).tolist(), mask_overlap(m, [[0, 1]], "ios").tolist()
        ([0.25], [1.0])
    """
    m = Metric.parse(metric)
    pr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    inter = pairwise_intersection(masks, pr).astype(np.float64)
    area = masks.area.astype(np.float64)
    a, b = area[pr[:, 0]], area[pr[:, 1]]
    denom = a + b - inter if m is Metric.IOU else np.minimum(a, b)
    out = np.zeros_like(inter)
    np.divide(inter, denom, out=out, where=denom > 0)
    return out


def union_groups(masks: CompactMasks, offsets: np.ndarray, members: np.ndarray) -> CompactMasks:
    """One mask per group: the union of its members' masks (groups in CSR form).

    Group ``k`` is ``members[offsets[k]:offsets[k + 1]]`` (as ``MergeResult.members()``
    returns). Each union is built on a canvas covering only its members' crops; groups
    of one member reuse their mask's bytes.

    Example:
        >>> import numpy as np
        >>> m = CompactMasks.from_crops([np.ones((1, 2), bool)] * 3, [(0, 0), (1, 1), (9, 9)])
        >>> u = union_groups(m, np.array([0, 2, 3]), np.array([0, 1, 2]))
        >>> u.crop_boxes.tolist(), u.area.tolist()
        ([[0, 0, 3, 2], [9, 9, 11, 10]], [4, 2])
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    members = np.asarray(members, dtype=np.int64)
    sizes = np.diff(offsets)
    k = sizes.size
    firsts = members[offsets[:-1]] if k else np.zeros(0, dtype=np.int64)
    multi = np.flatnonzero(sizes > 1)
    if multi.size == 0:
        return masks[firsts]
    box = masks.crop_boxes
    nonempty = (masks._shape > 0).all(axis=1)
    big = np.iinfo(np.int64).max // 4
    lo = np.where(nonempty[:, None], box[:, :2], big)
    hi = np.where(nonempty[:, None], box[:, 2:], -big)
    group_of = np.repeat(np.arange(k, dtype=np.int64), sizes)
    g_lo = np.full((k, 2), big, dtype=np.int64)
    g_hi = np.full((k, 2), -big, dtype=np.int64)
    np.minimum.at(g_lo, group_of, lo[members])
    np.maximum.at(g_hi, group_of, hi[members])
    crops: list[np.ndarray] = []
    origins = np.zeros((multi.size, 2), dtype=np.int64)
    for pos, g in enumerate(multi.tolist()):
        if g_hi[g, 0] <= g_lo[g, 0]:  # every member is empty
            origins[pos] = masks._origin[members[offsets[g]]]
            crops.append(np.zeros((0, 0), dtype=bool))
            continue
        x0, y0 = (int(v) for v in g_lo[g])
        x1, y1 = (int(v) for v in g_hi[g])
        canvas = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        for i in members[offsets[g] : offsets[g + 1]].tolist():
            if nonempty[i]:
                mx, my = (int(v) for v in masks._origin[i])
                mh, mw = (int(v) for v in masks._shape[i])
                canvas[my - y0 : my - y0 + mh, mx - x0 : mx - x0 + mw] |= masks.crop(i)
        origins[pos] = (x0, y0)
        crops.append(canvas)
    unions = CompactMasks._pack(crops, origins, masks.image_wh)
    pick = masks[firsts]
    return pick._replace(multi, unions)
