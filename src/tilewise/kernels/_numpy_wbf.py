"""WBF for the numpy kernels: ``run_wbf`` of ``_native.c``, per component.

Rows are taken in rank order. Row ``j`` joins the live cluster whose fused box intersects
it, lies in its area window and has the highest ``metric(fused, j) > thr`` (ties: the
smallest rank); otherwise it starts a cluster whose fused box is its own. A cluster keeps,
in rank order, the sums ``w * box``, ``box`` and ``w`` (w: confidence); its fused box is
``sums / weight``, or the plain mean when the weight sum is not positive, with the same
float64 operations as C. A fused box of zero area retires the cluster for good.

With weights that are 0 or in [1e-100, 1e100] and coordinates below 1e200, a fused box
stays within its members' bounding box widened by ``1e-6 * max|coordinate| + 1e-200``
(rounding of the sums is far below that), so such segments split into components
(``_numpy_components``); other segments form one component each. Small components step in
lockstep (step t handles the t-th row of every component at once, against its t earlier
rows as a dense matrix); large ones run row by row against their live clusters.
"""

from __future__ import annotations

import numpy as np

from tilewise.kernels._numpy_components import components, grouped, interleaved
from tilewise.kernels._numpy_grid import (
    area_of,
    area_window,
    expand_ranges,
    intersects,
    overlap_of,
)
from tilewise.kernels._numpy_wbf_batch import wbf_batched

__all__ = ["wbf"]

SMALL = 128
"""Components up to this size step in lockstep."""


def wbf(
    boxes: np.ndarray, conf: np.ndarray, seg: np.ndarray, metric: int, thr: float
) -> np.ndarray:
    """Parent row (absolute) of every row under WBF."""
    n = boxes.shape[0]
    parent = np.arange(n, dtype=np.int64)
    area = area_of(boxes)
    rows = np.flatnonzero(area > 0.0)
    if rows.shape[0] < 2:
        return parent
    label, slack, bad = _labels(boxes[rows], conf[rows], seg[rows])
    order, starts, sizes = grouped(label)
    members = rows[order]
    small = (sizes > 1) & (sizes <= SMALL)
    by_size = np.argsort(-sizes[small], kind="stable")
    st, sz = starts[small][by_size], sizes[small][by_size]
    _lockstep(members, st, sz, boxes, area, conf, metric, thr, parent)
    large = sizes > SMALL
    alone = large & bad[order[starts]]
    for start, size in zip(starts[alone].tolist(), sizes[alone].tolist(), strict=True):
        _alone(members[start : start + size], boxes, area, conf, metric, thr, parent)
    sel = expand_ranges(starts[large & ~alone], sizes[large & ~alone])
    if sel.shape[0]:
        pick = np.sort(order[sel])
        pick = pick[interleaved(seg[rows[pick]])]  # every segment in each round
        big = rows[pick]
        cl = _Clusters(boxes[big], area[big], conf[big])
        local = wbf_batched(cl, seg[big], slack[pick], metric, thr)
        parent[big] = big[local]
    return parent


def _labels(
    boxes: np.ndarray, conf: np.ndarray, seg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Component labels, slack and rows of bad segments.

    A segment whose weights or coordinates break the bound is one piece (and bad).
    """
    reach = np.abs(boxes).max(axis=1)
    ok = np.isfinite(conf) & ((conf == 0.0) | ((conf >= 1e-100) & (conf <= 1e100)))
    ok &= reach < 1e200
    nseg = int(seg.max()) + 1
    bad_seg = np.bincount(seg[~ok], minlength=nseg) > 0
    seg_reach = np.zeros(nseg)
    np.maximum.at(seg_reach, seg, reach)
    slack = 1e-6 * seg_reach[seg] + 1e-200
    label = components(boxes, seg, slack, whole_dense=True)
    first = np.full(nseg, -1, dtype=np.int64)
    first[seg[::-1]] = np.arange(seg.shape[0] - 1, -1, -1)
    return np.where(bad_seg[seg], first[seg], label), slack, bad_seg[seg]


class _Clusters:
    """Cluster state kept at the position of each cluster's first member."""

    def __init__(self, box: np.ndarray, area: np.ndarray, weight: np.ndarray) -> None:
        k = box.shape[0]
        self.box, self.area, self.weight = box, area, weight
        self.live = np.zeros(k, dtype=bool)
        self.fused = np.zeros((k, 4))
        self.fused_area = np.zeros(k)
        self.sums = np.zeros((k, 9))
        self.count = np.zeros(k)

    def start(self, j: np.ndarray) -> None:
        """Rows ``j`` start clusters of their own."""
        w, b = self.weight[j], self.box[j]
        self.sums[j, :4] = w[:, None] * b
        self.sums[j, 4:8] = b
        self.sums[j, 8] = w
        self.count[j] = 1.0
        self.fused[j] = b
        self.fused_area[j] = self.area[j]
        self.live[j] = True

    def join(self, c: np.ndarray, j: np.ndarray) -> None:
        """Rows ``j`` join clusters ``c`` (distinct); refresh their fused boxes."""
        w, b = self.weight[j], self.box[j]
        s = self.sums[c]
        s[:, :4] = s[:, :4] + w[:, None] * b
        s[:, 4:8] = s[:, 4:8] + b
        s[:, 8] = s[:, 8] + w
        self.sums[c] = s
        self.count[c] += 1.0
        weight = s[:, 8:9]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            fused = np.where(weight > 0.0, s[:, :4] / weight, s[:, 4:8] / self.count[c][:, None])
        fa = area_of(fused)
        live = fa > 0.0
        self.live[c] = live
        self.fused[c[live]] = fused[live]
        self.fused_area[c[live]] = fa[live]

    def best(self, cand: np.ndarray, j: np.ndarray, metric: int, thr: float) -> np.ndarray:
        """Per row of ``cand`` (cluster positions for row ``j``): chosen column, or -1."""
        shape = cand.shape
        c, jj = cand.ravel(), np.repeat(j, shape[1])
        lo, hi = area_window(self.area[jj], metric, thr)
        fa = self.fused_area[c]
        ok = self.live[c] & intersects(self.fused[c], self.box[jj]) & (fa >= lo) & (fa <= hi)
        m = np.full(c.shape[0], -np.inf)
        idx = np.flatnonzero(ok)
        m_ok = overlap_of(
            self.fused[c[idx]], fa[idx], self.box[jj[idx]], self.area[jj[idx]], metric
        )
        passed = m_ok > thr
        m[idx[passed]] = m_ok[passed]
        valid = np.zeros(c.shape[0], dtype=bool)
        valid[idx[passed]] = True
        m, valid = m.reshape(shape), valid.reshape(shape)
        top = m.max(axis=1)
        choice = np.argmax(valid & (m == top[:, None]), axis=1)
        return np.where(valid.any(axis=1), choice, -1)


def _lockstep(
    members: np.ndarray,
    starts: np.ndarray,
    sizes: np.ndarray,
    boxes: np.ndarray,
    area: np.ndarray,
    conf: np.ndarray,
    metric: int,
    thr: float,
    parent: np.ndarray,
) -> None:
    """WBF over small components sorted by size (descending): step t takes their t-th rows."""
    if starts.shape[0] == 0:
        return
    cl = _Clusters(boxes[members], area[members], conf[members])
    for t in range(int(sizes[0])):
        act = int(np.searchsorted(-sizes, -t, side="left"))  # components with size > t
        base = starts[:act]
        j = base + t
        if t == 0:
            cl.start(j)
            continue
        cand = base[:, None] + np.arange(t)
        choice = cl.best(cand, j, metric, thr)
        joined = choice >= 0
        cl.start(j[~joined])
        c = base[joined] + choice[joined]
        cl.join(c, j[joined])
        parent[members[j[joined]]] = members[c]


def _alone(
    rows: np.ndarray,
    boxes: np.ndarray,
    area: np.ndarray,
    conf: np.ndarray,
    metric: int,
    thr: float,
    parent: np.ndarray,
) -> None:
    """WBF over one large component, row by row against its live clusters."""
    cl = _Clusters(boxes[rows], area[rows], conf[rows])
    heads = np.zeros(0, dtype=np.int64)
    for j in range(rows.shape[0]):
        jj = np.array([j])
        heads = heads[cl.live[heads]]
        choice = cl.best(heads[None, :], jj, metric, thr)[0] if heads.shape[0] else -1
        if choice < 0:
            cl.start(jj)
            heads = np.append(heads, j)
            continue
        c = heads[choice : choice + 1]
        cl.join(c, jj)
        parent[rows[j]] = rows[c[0]]
