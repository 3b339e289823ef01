"""NMS and greedy NMM for the numpy kernels: ``run_suppress`` of ``_native.c``, in rounds.

In the C routine each still-open row, in rank order, survives and takes every later open
row that intersects it, lies in its area window and reaches the threshold (``>`` for NMS,
``>=`` for greedy NMM). Equivalently: the survivors are the rows no earlier survivor takes,
and each taken row belongs to the first survivor that takes it.

Usually one pass does it all: every intersecting pair comes from ``_numpy_cells`` at once,
and the edges (earlier row, later row) that pass the prefilter and the threshold, with the
arithmetic of the C code, vectorised, form a single round of all rows. When more than
``_ONE_PASS_EDGES`` edges pass (memory stays bounded), the open rows are handled in rounds
of consecutive sources queried against a grid index (``_numpy_grid``) instead, each round
gathering the edges of its sources to open rows. Which sources of a round survive is settled in
waves (a source whose in-edges all come from taken sources survives, its targets are taken)
and, past a few waves, by a plain loop over the few undecided sources. Each taken row then
gets the smallest surviving source as its parent and is closed, so later rounds neither
query nor meet it: one huge survivor clears what it covers once, as in C.
"""

from __future__ import annotations

import numpy as np

from tilewise.kernels._numpy_cells import intersecting_pairs
from tilewise.kernels._numpy_grid import GridIndex, area_of, area_window, overlap_of

__all__ = ["suppress"]

_ROUND = 1 << 15
"""Sources looked at per round."""

_ONE_PASS_EDGES = 1 << 22
"""Edges passing the threshold the one-pass path may hold; past that, rows go in rounds."""

_WAVES = 8
"""Vectorised waves before the remaining undecided sources are settled one by one."""


def suppress(
    boxes: np.ndarray,
    seg: np.ndarray,
    metric: int,
    thr: float,
    strict: bool,
) -> np.ndarray:
    """Parent row of every row (absolute indices) for NMS (``strict``) or greedy NMM."""
    n = boxes.shape[0]
    parent = np.arange(n, dtype=np.int64)
    area = area_of(boxes)
    is_open = area > 0.0  # not taken yet (only participants ever are)
    rows = np.flatnonzero(is_open)
    if rows.shape[0] < 2:
        return parent
    decide = _Decide(boxes, area, metric, thr, strict)
    edges = _all_edges(decide, rows, boxes, seg)
    if edges is not None:
        _settle(rows, *edges, parent, is_open)
        return parent
    index = GridIndex(boxes[rows], seg[rows], rows)
    pos = 0
    while pos < rows.shape[0]:
        block = rows[pos : pos + _ROUND]
        block = block[is_open[block]]
        if block.shape[0] == 0:
            pos += _ROUND
            continue
        src_pos, target, used = index.query(boxes[block], seg[block])
        sources = block[:used]
        pos = int(np.searchsorted(rows, sources[-1])) + 1
        source = sources[src_pos]
        keep = (target > source) & is_open[target]
        _settle(sources, *decide.passing(source[keep], target[keep]), parent, is_open)
    return parent


def _all_edges(
    decide: _Decide, rows: np.ndarray, boxes: np.ndarray, seg: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Every edge ``(s, t)``, ``s < t``, passing the threshold, if no more than ``_ONE_PASS_EDGES``.

    The pairs come from one pass over all rows (``_numpy_cells``), each pair once.
    """
    found: list[tuple[np.ndarray, np.ndarray]] = []
    total = 0
    for i, j in intersecting_pairs(boxes[rows], seg[rows]):
        s, t = decide.passing(rows[i], rows[j])
        total += s.shape[0]
        if total > _ONE_PASS_EDGES:
            return None
        found.append((s, t))
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])


class _Decide:
    """Thresholds candidate edges with the arithmetic of the C code."""

    def __init__(
        self, boxes: np.ndarray, area: np.ndarray, metric: int, thr: float, strict: bool
    ) -> None:
        self.boxes, self.area, self.metric, self.thr, self.strict = boxes, area, metric, thr, strict

    def passing(self, source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The candidate edges ``source -> target`` that pass the prefilter and threshold."""
        area = self.area
        lo, hi = area_window(area[source], self.metric, self.thr)
        keep = (area[target] >= lo) & (area[target] <= hi)
        source, target = source[keep], target[keep]
        m = overlap_of(
            self.boxes[source], area[source], self.boxes[target], area[target], self.metric
        )
        hit = m > self.thr if self.strict else m >= self.thr
        return source[hit], target[hit]


def _settle(
    sources: np.ndarray,
    source: np.ndarray,
    target: np.ndarray,
    parent: np.ndarray,
    is_open: np.ndarray,
) -> None:
    """Apply one round: decide which sources survive, give taken rows their parent, close.

    ``sources`` are the round's open sources (ascending), ``(source, target)`` their edges
    passing the threshold to open rows. Only taken rows are closed: the sources themselves
    are never looked at again (later rounds start past them, and take only later rows).
    """
    k = sources.shape[0]
    slot = np.full(parent.shape[0], k, dtype=np.int64)  # k: not a source of this round
    slot[sources] = np.arange(k, dtype=np.int64)
    inner = slot[target] < k
    survives = _survivors(k, slot[source[inner]], slot[target[inner]])
    by_survivor = survives[slot[source]]
    source, target = source[by_survivor], target[by_survivor]
    if target.shape[0] == 0:
        return
    order = np.lexsort((source, target))
    source, target = source[order], target[order]
    first = np.ones(target.shape[0], dtype=bool)
    first[1:] = target[1:] != target[:-1]
    parent[target[first]] = source[first]
    is_open[target] = False


def _survivors(k: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Which of ``k`` rank-ordered sources survive, given the edges ``src -> dst`` (src < dst)."""
    status = np.zeros(k, dtype=np.int8)  # 0 undecided, 1 survives, 2 taken
    for _ in range(_WAVES):
        src, dst = _wave(status, src, dst)
        if not (status == 0).any():
            return status == 1
    return _one_by_one(status, src, dst)


def _wave(status: np.ndarray, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One vectorised wave, updating ``status`` (0 undecided, 1 survives, 2 taken) in place.

    Every undecided source without an in-edge survives and takes its targets. Returns the
    edges whose source is still undecided: the only ones a later decision reads.
    """
    has_in = np.zeros(status.shape[0], dtype=bool)
    has_in[dst] = True
    status[(status == 0) & ~has_in] = 1
    status[dst[status[src] == 1]] = 2
    live = status[src] == 0
    return src[live], dst[live]


def _one_by_one(status: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Settle the sources the waves left undecided, one by one in rank order.

    Each survives unless a surviving source has an edge to it (``src, dst``: the edges the
    waves left).
    """
    order = np.argsort(dst)
    src, dst = src[order].tolist(), dst[order]
    rest = np.flatnonzero(status == 0)
    lo = np.searchsorted(dst, rest).tolist()
    hi = np.searchsorted(dst, rest, side="right").tolist()
    survives = (status == 1).tolist()
    for i, t in enumerate(rest.tolist()):
        survives[t] = not any(survives[s] for s in src[lo[i] : hi[i]])
    return np.array(survives, dtype=bool)
