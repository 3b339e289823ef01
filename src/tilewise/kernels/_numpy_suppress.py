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
    rows = np.flatnonzero(area > 0.0)
    if rows.shape[0] < 2:
        return parent
    is_open = area > 0.0
    decide = _Decide(boxes, area, metric, thr, strict, parent, is_open)
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
    """Applies rounds: thresholds candidate edges, then settles survivors and parents."""

    def __init__(
        self,
        boxes: np.ndarray,
        area: np.ndarray,
        metric: int,
        thr: float,
        strict: bool,
        parent: np.ndarray,
        is_open: np.ndarray,
    ) -> None:
        self.boxes, self.area, self.metric, self.thr, self.strict = boxes, area, metric, thr, strict
        self.parent, self.is_open = parent, is_open

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
    passing the threshold to open rows.
    """
    slot = np.full(parent.shape[0], -1, dtype=np.int64)
    slot[sources] = np.arange(sources.shape[0], dtype=np.int64)
    inner = slot[target] >= 0
    survives = _survivors(sources.shape[0], slot[source[inner]], slot[target[inner]])
    is_open[sources] = False
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
        has_in = np.zeros(k, dtype=bool)
        has_in[dst] = True
        status[(status == 0) & ~has_in] = 1
        status[dst[status[src] == 1]] = 2
        live = (status[src] == 0) & (status[dst] == 0)
        src, dst = src[live], dst[live]
        if not (status == 0).any():
            return status == 1
    order = np.argsort(dst, kind="stable")
    src, dst = src[order].tolist(), dst[order]
    bounds = np.searchsorted(dst, np.arange(k + 1)).tolist()
    flags = status.tolist()
    for t in np.flatnonzero(status == 0).tolist():
        taken = any(flags[s] == 1 for s in src[bounds[t] : bounds[t + 1]])
        flags[t] = 2 if taken else 1
    return np.array(flags, dtype=np.int8) == 1
