"""Every intersecting pair of a set of boxes, from grids of cells (``tilewise.kernels._numpy``).

A box whose larger side is below ``2**e`` (``np.frexp``) sits on the level of cell side
``c = 2**e`` (rounded up to every ``SPAN``-th exponent; exponents far below the boxes'
extent are lifted so a level has few enough cells for one int64 key per cell). Its cell
is ``floor(x1 / c), floor(y1 / c)``: ``ldexp`` and ``floor`` are exact, and the cell
numbers are offset by the smallest ones, an exact subtraction of integers, so no rounding
can move a box to another cell. Two intersecting boxes of side below ``c`` have ``x1`` and
``y1`` less than ``c`` apart, so their cells are neighbours (or the same).

On each level the boxes of that level (its *owners*) are sorted by cell key ``(segment,
row, column)``, padded so a neighbour never wraps into another row or segment. A pair of
owners is found once, from the owner whose cell comes first: its own cell and the next
one in its row (later positions only), and three cells of the row above. A smaller box
(a *guest*, from a lower level) meets a level's owners in the three cells around its
own on each of three rows. In key order each such run of cells is one run of owners:
every candidate pair comes from one searchsorted per run, whole cells at a time, and
the exact strict-intersection test keeps the pairs that truly meet. Candidates are
handed out in chunks of at most ``BUDGET`` (a single box's run may exceed it), so memory
stays bounded however boxes pile up.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tilewise.kernels._numpy_grid import expand_ranges, prefix_within

__all__ = ["BUDGET", "SPAN", "CellGrid", "intersecting_pairs", "levels"]

BUDGET = 1 << 19
"""Candidate pairs tested per chunk at most (a single box's run may exceed it)."""

SPAN = 1
"""Size exponents per level (a level's cells are up to ``2**SPAN`` times its boxes)."""

_KEY_BITS = 62
"""Bits a cell key may use (segment, row and column together)."""


def levels(boxes: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, int]:
    """Cell exponent of every box's level and the finest exponent allowed.

    The finest exponent leaves at most ``2**b`` cells per axis over the boxes' extent,
    with ``b`` chosen so that (segments x rows x columns) keys fit in ``_KEY_BITS``.

    Example:
        >>> b = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 3.0, 1.0], [0.0, 0.0, 0.5, 0.25]])
        >>> exps, finest = levels(b, np.zeros(3, np.int64))
        >>> exps.tolist(), finest
        ([1, 2, 0], -27)
    """
    extent = max(
        float(boxes[:, 2].max() - boxes[:, 0].min()),
        float(boxes[:, 3].max() - boxes[:, 1].min()),
    )
    axis_bits = (_KEY_BITS - int(seg.max()).bit_length()) // 2 - 2
    finest = int(np.frexp(extent)[1]) - axis_bits if extent > 0 else -1074
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    exps = np.maximum(np.frexp(side)[1].astype(np.int64), finest)
    return exps + (finest - exps) % SPAN, finest


def intersecting_pairs(
    boxes: np.ndarray, seg: np.ndarray, budget: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every ``(i, j)``, ``i < j``, of one segment whose boxes meet with positive width and height.

    Each pair is reported once, in chunks (no order inside or across chunks).

    Args:
        boxes: (m, 4) finite float64 boxes of positive area.
        seg: (m,) int64 segment of each box (pairs never span two).
        budget: candidate pairs per chunk at most (default ``BUDGET``).

    Example:
        >>> b = np.array([[0.0, 0, 2, 2], [1, 1, 3, 3], [2, 0, 4, 1], [0, 0, 9, 9]])
        >>> pairs = [list(zip(i.tolist(), j.tolist())) for i, j in
        ...          intersecting_pairs(b, np.zeros(4, np.int64))]
        >>> sorted(p for chunk in pairs for p in chunk)
        [(0, 1), (0, 3), (1, 3), (2, 3)]
    """
    m = boxes.shape[0]
    if m < 2:
        return
    budget = BUDGET if budget is None else budget
    exps, _ = levels(boxes, seg)
    order = np.argsort(exps, kind="stable")
    bounds = [*np.searchsorted(exps[order], np.unique(exps), side="left").tolist(), m]
    cols = np.ascontiguousarray(boxes.T)
    for lvl in range(len(bounds) - 1):
        owners = order[bounds[lvl] : bounds[lvl + 1]]
        exp = int(exps[owners[0]])
        grid = CellGrid(cols, seg, exp, owners)
        for runs in grid.owner_runs():
            yield from grid.chunks(grid, *runs, budget)
        if lvl == 0:
            continue
        # smaller boxes: the fewer side searches the other's sorted cells
        guests = CellGrid(cols, seg, exp, order[: bounds[lvl]])
        near, far = (guests, grid) if guests.ids.shape[0] < grid.ids.shape[0] else (grid, guests)
        for runs in far.around(near):
            yield from far.chunks(near, *runs, budget)


class CellGrid:
    """Boxes (its members) sorted by their cell key on one level, with the unique cells.

    Args:
        cols: (4, m) coordinates of all boxes, column by column (x1, y1, x2, y2).
        seg: (m,) segment of every box.
        exp: the level's cell exponent.
        members: the boxes this grid holds.
    """

    def __init__(self, cols: np.ndarray, seg: np.ndarray, exp: int, members: np.ndarray) -> None:
        # cell numbers count from the smallest of all boxes, so every grid of a level agrees
        x0, y0 = (np.floor(np.ldexp(cols[k].min(), -exp)) for k in (0, 1))
        width = int(np.floor(np.ldexp(cols[0].max(), -exp)) - x0) + 3
        height = int(np.floor(np.ldexp(cols[1].max(), -exp)) - y0) + 3
        col = (np.floor(np.ldexp(cols[0, members], -exp)) - x0).astype(np.int64) + 1
        row = (np.floor(np.ldexp(cols[1, members], -exp)) - y0).astype(np.int64) + 1
        keys = (seg[members] * height + row) * width + col
        self.exp, self.x0, self.y0, self.width, self.height = exp, x0, y0, width, height
        by_key = np.argsort(keys)
        self.ids, self.keys = members[by_key], keys[by_key]
        first = np.r_[True, self.keys[1:] != self.keys[:-1]]
        self.cells = self.keys[first]  # sorted unique keys
        self.start = np.r_[np.flatnonzero(first), keys.shape[0]]  # cell u: start[u]:start[u+1]
        self.cols = cols[:, self.ids]
        # whether each member reaches the next column, the next row (sides are below c)
        self.dx = self._reach(self.cols[0], self.cols[2], exp)
        self.dy = self._reach(self.cols[1], self.cols[3], exp)

    @staticmethod
    def _reach(lo: np.ndarray, hi: np.ndarray, exp: int) -> np.ndarray:
        return (np.floor(np.ldexp(hi, -exp)) - np.floor(np.ldexp(lo, -exp))).astype(bool)

    def _span(self, lo_key: np.ndarray, hi_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sorted positions of the members whose key lies in ``[lo_key, hi_key]``."""
        lo = self.start[np.searchsorted(self.cells, lo_key, side="left")]
        hi = self.start[np.searchsorted(self.cells, hi_key, side="right")]
        return lo, hi

    def owner_runs(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per member, the runs of later members it may meet (sorted positions), row by row.

        They are the rest of its cell and, when the member reaches into it, the next cell
        of its row; and when it reaches into the row above, the cells there from one
        column left of its own to the last it reaches.
        """
        pos = np.arange(self.ids.shape[0], dtype=np.int64)
        yield pos, pos + 1, self._span(self.keys, self.keys + self.dx)[1]
        up = np.flatnonzero(self.dy)
        up_key = self.keys[up] + self.width
        yield (up, *self._span(up_key - 1, up_key + self.dx[up]))

    def around(self, other: CellGrid) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per member of ``other`` (same level), the runs of this grid's members it may meet.

        They lie from one column left of its cell to the last column it reaches, on the
        rows from one below its own to the last it reaches.

        Yields ``(position in other, first member position, end)`` per run, row by row.
        """
        w = other.width
        pos = np.arange(other.ids.shape[0], dtype=np.int64)
        up = np.flatnonzero(other.dy)
        for rows, key in ((pos, other.keys - w), (pos, other.keys), (up, other.keys[up] + w)):
            yield (rows, *self._span(key - 1, key + other.dx[rows]))

    def chunks(
        self, other: CellGrid, q: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Box pairs that meet among members ``q`` of ``other`` and ``lo:hi`` of this grid.

        Positions are into the sorted members; the pairs come out in chunks.
        """
        count = hi - lo
        keep = count > 0
        q, lo, count = q[keep], lo[keep], count[keep]
        start = 0
        while start < q.shape[0]:
            stop = start + prefix_within(count[start:], budget)
            c = count[start:stop]
            pos = expand_ranges(lo[start:stop], c)
            qi = np.repeat(q[start:stop], c)
            # strict overlap in x first, then in y on the few that pass
            x = (other.cols[0, qi] < self.cols[2, pos]) & (self.cols[0, pos] < other.cols[2, qi])
            qi, pos = qi[x], pos[x]
            y = (other.cols[1, qi] < self.cols[3, pos]) & (self.cols[1, pos] < other.cols[3, qi])
            i, j = other.ids[qi[y]], self.ids[pos[y]]
            yield np.minimum(i, j), np.maximum(i, j)
            start = stop
