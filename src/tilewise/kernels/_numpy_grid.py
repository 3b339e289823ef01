"""Geometry and the spatial index of the numpy kernels (``tilewise.kernels._numpy``).

Geometry: the overlap arithmetic of ``_native.c`` (``area_of``, ``inter_of``,
``overlap_of``, ``area_window``) written elementwise, operation for operation, so every
float64 result has the same bits.

Index: a grid per size class. A box whose larger side is below ``2**e`` (``np.frexp``) sits
on the level of cell side ``c = 2**e`` (rounded up to every second exponent; exponents far
below the canvas are lifted so no axis has more than ``2**31`` cells). On a level, the
boxes are sorted by band (segment and cell row of ``y1``) and, inside a band, by ``x1``; one
sorted int64 key per box encodes both. A box intersecting a query ``q`` has ``x1`` in
``(q.x1 - c, q.x2)`` and its row between those of ``q.y1 - c`` and ``q.y2``, so per query and
level a few binary searches find the bands, and per band two more find a contiguous run of
candidates. Every search bound is widened (rows by far more than rounding can move them,
``nextafter`` on ``q.x1 - c``), so rounding can only add candidates; the exact
strict-intersection test then filters them. Searches take their needles in sorted order
(cache-friendly). Queries run in rounds whose candidate count is capped, so memory stays
bounded however boxes pile up.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BUDGET",
    "GridIndex",
    "area_of",
    "area_window",
    "expand_ranges",
    "inter_of",
    "intersects",
    "overlap_of",
]

BUDGET = 1 << 20
"""Candidate pairs (and query-band pairs) produced per query round at most."""

_BLOCK = 1 << 15
"""Queries considered per round."""

_LEVEL_SPAN = 2
"""Size exponents per level (a level's cells are up to this power of two above its boxes)."""

_AXIS_BITS = 30
"""Cells per axis on the finest level stay below ``2**(_AXIS_BITS + 1)``."""

_ROW_SLACK = 2.0**-16
"""Rows of slack on each side of a query's row range. A cell is at least ``extent * 2**-30``
wide, so rounding ``(y - oy) / c`` moves a row coordinate by under ``2**-22`` rows."""

METRIC_IOU = 0


def area_of(boxes: np.ndarray) -> np.ndarray:
    """Clip-at-zero area of (k, 4) boxes, as ``area_of`` in ``_native.c`` (NaN sides give 0)."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    w = np.where(w > 0.0, w, 0.0)
    h = np.where(h > 0.0, h, 0.0)
    return w * h


def intersects(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Positive-width and positive-height intersection of row-aligned (k, 4) boxes."""
    return (a[:, 0] < b[:, 2]) & (b[:, 0] < a[:, 2]) & (a[:, 1] < b[:, 3]) & (b[:, 1] < a[:, 3])


def inter_of(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection area of row-aligned (k, 4) boxes, as ``inter_of`` in ``_native.c``."""
    w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    return np.where((w > 0.0) & (h > 0.0), w * h, 0.0)


def overlap_of(
    a: np.ndarray, area_a: np.ndarray, b: np.ndarray, area_b: np.ndarray, metric: int
) -> np.ndarray:
    """IoU (metric 0) or IoS (metric 1) of row-aligned boxes, as ``overlap_of`` in ``_native.c``."""
    inter = inter_of(a, b)
    denom = (area_a + area_b) - inter if metric == METRIC_IOU else np.minimum(area_a, area_b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(denom > 0.0, inter / denom, 0.0)


def area_window(area: np.ndarray, metric: int, thr: float) -> tuple[np.ndarray, np.ndarray]:
    """Areas a box may have and still reach ``thr`` against boxes of ``area`` (``area_window``).

    Returns ``(lo, hi)``: the C prefilter, with its 1e-9 relative margin, evaluated with the
    same operations in the same order.
    """
    area = np.asarray(area, dtype=np.float64)
    if metric == METRIC_IOU and thr > 0.0:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return thr * area * (1.0 - 1e-9), area / thr * (1.0 + 1e-9)
    return np.zeros_like(area), np.full_like(area, np.inf)


def expand_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for every ``(s, c)``, vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    shift = np.repeat(starts - (ends - counts), counts)
    return np.arange(total, dtype=np.int64) + shift


def prefix_within(costs: np.ndarray, budget: int) -> int:
    """Length of the longest prefix of ``costs`` summing to at most ``budget`` (at least 1)."""
    if costs.shape[0] == 0:
        return 0
    return max(1, int(np.searchsorted(np.cumsum(costs), budget, side="right")))


@dataclass
class _Level:
    """One size class: boxes sorted by (band, x1) with the keys that search them."""

    exp: int
    rows: int  # cell rows per segment
    bands: np.ndarray  # sorted unique band keys: segment * rows + row
    xs: np.ndarray  # sorted unique x1
    keys: np.ndarray  # band index * (len(xs) + 1) + x1 rank, ascending
    boxes: np.ndarray  # (k, 4) in key order
    ids: np.ndarray  # item ids in key order


@dataclass
class _Orders:
    """Orders that sort a query block by (segment, y2), by x1 and by x2."""

    y2: np.ndarray
    x1: np.ndarray
    x2: np.ndarray


def _search(hay: np.ndarray, needles: np.ndarray, side: str, order: np.ndarray) -> np.ndarray:
    """``np.searchsorted`` of needles taken in ``order`` (sorted or nearly), results unpermuted."""
    out = np.empty(needles.shape[0], dtype=np.int64)
    out[order] = np.searchsorted(hay, needles[order], side=side)  # type: ignore[call-overload]
    return out


@dataclass
class _Probe:
    """Per-level search bounds of a block of queries."""

    level: _Level
    band_lo: np.ndarray
    nbands: np.ndarray
    x_lo: np.ndarray
    x_hi: np.ndarray


class GridIndex:
    """Static index over boxes of positive area, split by segment (queries stay in theirs).

    Args:
        boxes: (m, 4) float64 boxes, every one of positive area and finite.
        seg: (m,) int64 segment of each box.
        ids: (m,) int64 id reported for each box (default: its position).
    """

    def __init__(self, boxes: np.ndarray, seg: np.ndarray, ids: np.ndarray | None = None) -> None:
        self.levels: list[_Level] = []
        if boxes.shape[0] == 0:  # no level: ``oy`` and ``finest`` are never read
            return
        ids = np.arange(boxes.shape[0], dtype=np.int64) if ids is None else ids
        self.oy = float(boxes[:, 1].min())
        extent = max(
            float(boxes[:, 2].max() - boxes[:, 0].min()),
            float(boxes[:, 3].max() - boxes[:, 1].min()),
        )
        # boxes of positive area make the extent positive (and frexp(0) would give 0 anyway)
        self.finest = int(np.frexp(extent)[1]) - _AXIS_BITS
        exps = self.exponents(boxes)
        for e in np.unique(exps).tolist():
            sel = np.flatnonzero(exps == e)
            self.levels.append(self._level(int(e), extent, boxes[sel], seg[sel], ids[sel]))

    def exponents(self, boxes: np.ndarray) -> np.ndarray:
        """Cell exponent of the level each box belongs to (its side is below ``2**exp``)."""
        side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        exps = np.maximum(np.frexp(side)[1].astype(np.int64), self.finest)
        return exps + (self.finest - exps) % _LEVEL_SPAN

    def _level(
        self, exp: int, extent: float, boxes: np.ndarray, seg: np.ndarray, ids: np.ndarray
    ) -> _Level:
        rows = int(np.floor(np.ldexp(extent, -exp))) + 1
        row = np.clip(np.floor(np.ldexp(boxes[:, 1] - self.oy, -exp)), 0, rows - 1)
        band = seg * rows + row.astype(np.int64)
        order = np.lexsort((boxes[:, 0], band))
        boxes, band, ids = boxes[order], band[order], ids[order]
        bands, band_index = np.unique(band, return_inverse=True)
        xs = np.unique(boxes[:, 0])
        keys = band_index.astype(np.int64) * (xs.shape[0] + 1) + np.searchsorted(xs, boxes[:, 0])
        return _Level(exp, rows, bands, xs, keys, np.ascontiguousarray(boxes), ids)

    def _probe(self, level: _Level, q: np.ndarray, qseg: np.ndarray, orders: _Orders) -> _Probe:
        e, rows = level.exp, level.rows
        row_lo = np.floor(np.ldexp(q[:, 1] - self.oy, -e) - (1.0 + _ROW_SLACK))
        row_hi = np.floor(np.ldexp(q[:, 3] - self.oy, -e) + _ROW_SLACK)
        row_lo = np.clip(row_lo, 0, rows - 1).astype(np.int64)
        row_hi = np.clip(row_hi, 0, rows - 1).astype(np.int64)
        base = qseg * rows
        band_lo = np.searchsorted(level.bands, base + row_lo, side="left")
        band_hi = _search(level.bands, base + row_hi, "right", orders.y2)
        x_start = np.nextafter(q[:, 0] - np.ldexp(1.0, e), -np.inf)
        x_lo = _search(level.xs, x_start, "left", orders.x1)
        x_hi = _search(level.xs, q[:, 2], "left", orders.x2)
        nbands = np.where(x_hi > x_lo, band_hi - band_lo, 0)
        return _Probe(level, band_lo, nbands, x_lo, x_hi)

    def query(
        self,
        q: np.ndarray,
        qseg: np.ndarray,
        budget: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Boxes intersecting the first queries (positive width and height), in one round.

        Args:
            q: (k, 4) query boxes.
            qseg: (k,) their segments.
            budget: candidate pairs allowed in this round (a single query may exceed it;
                default ``BUDGET``).

        Returns:
            ``(query, item, used)``: for the first ``used`` queries (at least one when
            ``k > 0``), every pair of query position and item id whose boxes intersect.
        """
        k = q.shape[0]  # (no query or no level: nothing found, ``used`` is k)
        budget = BUDGET if budget is None else budget
        # Searches run over sorted needles (cache-friendly): queries go in (segment, y1)
        # order, which sorts the band searches; the other searches reuse shared orders.
        perm = np.lexsort((q[:, 0], q[:, 1], qseg))
        qs, segs = q[perm], qseg[perm]
        orders = _Orders(np.lexsort((qs[:, 3], segs)), np.argsort(qs[:, 0]), np.argsort(qs[:, 2]))
        probes = [self._probe(level, qs, segs, orders) for level in self.levels]
        cost = np.empty(k, dtype=np.int64)
        cost[perm] = sum(p.nbands for p in probes)
        used = prefix_within(cost, budget)
        runs = [(p.level, *self._runs(p, perm < used)) for p in probes]
        counts = np.zeros(k, dtype=np.int64)
        for _, qpos, _, count in runs:
            counts += np.bincount(qpos, weights=count, minlength=k).astype(np.int64)
        cost[perm] = counts
        used = min(used, prefix_within(cost, budget))
        out_q, out_i = [], []
        for level, qpos, start, count in runs:
            keep = perm[qpos] < used
            qpos, start, count = qpos[keep], start[keep], count[keep]
            pos = expand_ranges(start, count)
            if pos.shape[0] == 0:
                continue
            qi = np.repeat(qpos, count)
            hit = intersects(qs[qi], level.boxes[pos])
            out_q.append(perm[qi[hit]])
            out_i.append(level.ids[pos[hit]])
        if not out_q:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), used
        return np.concatenate(out_q), np.concatenate(out_i), used

    @staticmethod
    def _runs(probe: _Probe, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per (query, band) of the wanted queries: query position, first key position, count."""
        level = probe.level
        nb = np.where(wanted, probe.nbands, 0)
        qpos = np.repeat(np.arange(nb.shape[0], dtype=np.int64), nb)
        band = expand_ranges(probe.band_lo, nb)
        width = level.xs.shape[0] + 1
        lo = band * width + probe.x_lo[qpos]
        order = np.argsort(lo)
        start = _search(level.keys, lo, "left", order)
        end = _search(level.keys, band * width + probe.x_hi[qpos], "left", order)
        count = end - start
        nonempty = count > 0
        return qpos[nonempty], start[nonempty], count[nonempty]

    def query_all(
        self,
        q: np.ndarray,
        qseg: np.ndarray,
        budget: int | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every intersecting (query position, item id) pair, in rounds of bounded size."""
        start = 0
        k = q.shape[0]
        while start < k:
            stop = min(k, start + _BLOCK)
            qi, items, used = self.query(q[start:stop], qseg[start:stop], budget)
            yield qi + start, items
            start += used
