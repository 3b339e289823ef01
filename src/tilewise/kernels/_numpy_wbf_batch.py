"""WBF over large components for the numpy kernels: rounds of rows split into regions.

``run_wbf`` of ``_native.c`` takes rows in rank order; a row joins the live cluster whose
fused box has the highest ``metric > thr`` with it (ties: the smallest rank), else starts
one. With the weights ``_numpy_wbf`` admits, a fused box after a join lies inside the
bounding box of the fused box before and the joining row, up to rounding far below the
segment's slack. So for a round of consecutive rows:

- each row's zone is the bounding box of the row and of the live fused boxes it meets at
  round start, widened by the slack; zones are closed under intersection
  (``_numpy_components``) into regions;
- a cluster a row of one region can touch lies in that region's zones, before and after
  the join, so it meets no row of another region: regions are independent, and the
  live clusters a row may meet are those its region's rows met at round start or
  started in the round.

Step ``t`` of a round takes the ``t``-th row of every region at once against its
region's clusters. A region of more than ``REGION`` rows cuts the round at its next row.
The live fused boxes sit in a main index, rebuilt now and then, beside an index of the
clusters changed since, rebuilt each round. ``K`` (rows per round) halves when a round is
cut before half its rows and doubles when none is cut.
"""

from __future__ import annotations

import numpy as np

from tilewise.kernels._numpy_components import components, grouped
from tilewise.kernels._numpy_grid import (
    GridIndex,
    area_window,
    expand_ranges,
    intersects,
    overlap_of,
)

__all__ = ["wbf_batched"]

FIRST = 1 << 10
"""Rows in the first round."""

MOST = 1 << 14
"""Rows per round at most."""

REGION = 16
"""Rows a region may hold before the round is cut."""

REBUILD = 1 << 13
"""Changed rows past which the main index of fused boxes is rebuilt."""


def wbf_batched(cl, seg: np.ndarray, slack: np.ndarray, metric: int, thr: float) -> np.ndarray:
    """WBF over the rows of ``cl`` (a ``_numpy_wbf._Clusters``, rank order); local parents."""
    m = seg.shape[0]
    parent = np.arange(m, dtype=np.int64)
    pos, size = 0, FIRST
    fused = _Fused(cl, seg, parent)
    while pos < m:
        batch = np.arange(pos, min(m, pos + size), dtype=np.int64)
        done = _round(cl, fused, batch, seg, slack, metric, thr, parent)
        fused.touched(batch[:done], 4 * size)
        pos += done
        if done == batch.shape[0]:
            size = min(2 * size, MOST)
        elif 2 * done < batch.shape[0]:
            size = max(size // 2, 1)
    return parent


class _Fused:
    """Index of the live fused boxes: a main index plus the clusters changed since it was built.

    Entries of the main index whose cluster changed since are ignored; the changed live
    clusters are indexed afresh at each query. The main index is rebuilt once the changed
    ones outgrow a few rounds' worth.
    """

    def __init__(self, cl, seg: np.ndarray, parent: np.ndarray) -> None:
        self.cl, self.seg, self.parent = cl, seg, parent
        self.main: GridIndex | None = None
        self.stale = np.zeros(seg.shape[0], dtype=bool)
        self.changed: list[np.ndarray] = []
        self.count = 0

    def touched(self, rows: np.ndarray, room: int) -> None:
        """Rows ``rows`` were handled: the clusters they started or joined changed."""
        self.changed.append(rows)
        self.count += rows.shape[0]
        if self.count > max(REBUILD, room):
            heads = np.flatnonzero(self.cl.live)
            self.main = GridIndex(self.cl.fused[heads], self.seg[heads], heads)
            self.stale[:] = False
            self.changed, self.count = [], 0

    def query(self, q: np.ndarray, qseg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (query, live cluster) whose fused box intersects the query box."""
        out_q, out_c = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        rows = np.concatenate(self.changed) if self.changed else np.zeros(0, np.int64)
        # a row that joined names its cluster through its parent; started ones are heads
        heads = np.unique(self.parent[rows]) if rows.shape[0] else rows
        heads = heads[self.cl.live[heads]]
        self.stale[heads] = True
        for index, fresh in ((self.main, False), (_index(self.cl, self.seg, heads), True)):
            if index is None:
                continue
            for qi, c in index.query_all(q, qseg):
                keep = self.cl.live[c] & (fresh | ~self.stale[c])
                out_q.append(qi[keep])
                out_c.append(c[keep])
        return np.concatenate(out_q), np.concatenate(out_c)


def _index(cl, seg: np.ndarray, heads: np.ndarray) -> GridIndex | None:
    return GridIndex(cl.fused[heads], seg[heads], heads) if heads.shape[0] else None


def _round(cl, fused, batch, seg, slack, metric, thr, parent) -> int:
    """Process a prefix of ``batch``; return its length."""
    k, m = batch.shape[0], seg.shape[0]
    qi, c = fused.query(cl.box[batch], seg[batch])
    zone = cl.box[batch].copy()
    near = cl.fused[c]
    np.minimum.at(zone[:, 0], qi, near[:, 0])
    np.minimum.at(zone[:, 1], qi, near[:, 1])
    np.maximum.at(zone[:, 2], qi, near[:, 2])
    np.maximum.at(zone[:, 3], qi, near[:, 3])
    s = slack[batch][:, None]
    zone = np.concatenate([zone[:, :2] - s, zone[:, 2:] + s], axis=1)
    order, starts, sizes = grouped(components(zone, seg[batch], np.zeros(k)))
    ng = starts.shape[0]
    cut = k
    if sizes.max() > REGION:
        cut = int(order[starts[sizes > REGION] + REGION].min())
    gid = np.empty(k, dtype=np.int64)
    gid[order] = np.repeat(np.arange(ng, dtype=np.int64), sizes)
    keys = np.unique(np.concatenate([gid[qi] * m + c, gid * m + batch]))
    pg, pc = keys // m, keys % m
    gstart = np.searchsorted(pg, np.arange(ng + 1))
    gcount = np.diff(gstart)
    span = np.add.reduceat((order < cut).astype(np.int64), starts)
    for t in range(int(span.max())):
        act = np.flatnonzero(span > t)
        j = batch[order[starts[act] + t]]
        sel = expand_ranges(gstart[act], gcount[act])
        owner = np.repeat(np.arange(act.shape[0], dtype=np.int64), gcount[act])
        cc, jj = pc[sel], j[owner]
        lo, hi = area_window(cl.area[jj], metric, thr)
        fa = cl.fused_area[cc]
        ok = cl.live[cc] & (fa >= lo) & (fa <= hi) & intersects(cl.fused[cc], cl.box[jj])
        owner, cc, jj, fa = owner[ok], cc[ok], jj[ok], fa[ok]
        mm = overlap_of(cl.fused[cc], fa, cl.box[jj], cl.area[jj], metric)
        hit = mm > thr
        owner, cc, mm = owner[hit], cc[hit], mm[hit]
        pick = np.lexsort((cc, -mm, owner))
        owner, cc = owner[pick], cc[pick]
        first = np.ones(owner.shape[0], dtype=bool)
        first[1:] = owner[1:] != owner[:-1]
        chosen = np.full(act.shape[0], -1, dtype=np.int64)
        chosen[owner[first]] = cc[first]
        joined = chosen >= 0
        cl.start(j[~joined])
        cl.join(chosen[joined], j[joined])
        parent[j[joined]] = chosen[joined]
    return cut
