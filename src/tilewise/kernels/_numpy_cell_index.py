"""A static index of boxes on cell tables, queried by arbitrary boxes (``tilewise.kernels._numpy``).

The NMM twin (``_numpy_nmm_batch``) asks, for hundreds of thousands of growing groups, which
rows meet a box around each. ``GridIndex`` answers with several binary searches per query,
level and band; this index answers most queries with a few table lookups.

Levels: a box whose larger side is below ``2**e`` (``_numpy_cells.levels``, which also lifts
exponents far below the extent so keys fit in int64) sits on the level of cell side
``c = 2**e``. A level holding no more boxes than the next coarser one is merged into it,
as long as no box ends up more than ``LIFT`` exponents above its own: fewer levels cost
fewer lookups per query, and a lifted box sits in cells at most ``2**LIFT`` times its side.

Cells: ``F(v) = floor(ldexp(v, -e))``; a box's cell is ``(F(x1) - x0, F(y1) - y0)``, offset
by the smallest ``F`` of the level's boxes (exact integers). A box's sides are at least
the spacing of doubles at its coordinates, so its ``|F|`` stays below about ``2**53``; a
query's ``F`` may overflow to infinity, which clipping to the level handles. Columns are
``2**COLUMN_SPLIT`` times narrower than rows: a run along a row of cells then covers less
width at no extra lookup (``F`` for columns uses the column exponent, and a box that meets
``q`` starts at most ``2**COLUMN_SPLIT`` columns before ``q``'s). A box of side below ``c`` that
meets a query ``q`` with positive width has ``q.x1 - c < x1 < q.x2``, so its column lies
from ``F(q.x1) - 1`` to ``F(q.x2)`` (``F`` is monotone, and ``x1 > q.x1 - c`` gives
``F(x1) >= F(q.x1) - 1`` whether or not ``ldexp`` rounds a subnormal result); rows
likewise. Keys ``(segment * height + row) * width + column`` sort the boxes, so each row
of cells a query covers is one contiguous run of boxes. Its bounds come from a table of
run starts indexed by key when the level has few enough cells (``DENSE`` per indexed
box), else from binary searches over the level's occupied cells. The exact
strict-intersection test then keeps the boxes that truly meet the query.

Queries run in rounds of at most ``BUDGET`` runs and candidates, so memory stays bounded
however boxes pile up.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tilewise.kernels._numpy_cells import levels
from tilewise.kernels._numpy_grid import expand_ranges, prefix_within

__all__ = ["BUDGET", "COLUMN_SPLIT", "DENSE", "LIFT", "CellIndex", "lifted"]

BUDGET = 1 << 20
"""Runs (and candidate pairs) per query round at most (one query's own may exceed it)."""

DENSE = 4
"""A level's run starts are a table indexed by key while it has at most this many cells
per indexed box (plus ``_DENSE_FLOOR``); past that, binary searches find them."""

LIFT = 3
"""Exponents a box may be lifted above its own level when levels merge."""

COLUMN_SPLIT = 2
"""Columns are ``2**COLUMN_SPLIT`` times narrower than a level's cell side (rows are not):
a query's run along a row of cells then covers less width, at no extra run."""

_DENSE_FLOOR = 1 << 12

_BLOCK = 1 << 15
"""Queries considered per round."""


def lifted(exps: np.ndarray) -> np.ndarray:
    """Level exponent of every box: ``exps`` with sparse levels merged into coarser ones.

    Going up from the finest level, a level (with whatever was merged into it) joins the
    next coarser occupied level when it holds no more boxes than that level and no box
    would be lifted more than ``LIFT`` exponents above its own.

    Example:
        >>> lifted(np.array([3, 4, 4, 5, 5, 5, 9])).tolist()
        [5, 5, 5, 5, 5, 5, 9]
    """
    if exps.shape[0] == 0:
        return exps.copy()
    low = int(exps.min())
    per_exp = np.bincount(exps - low)  # exponents span a few thousand values at most
    occupied = np.flatnonzero(per_exp)
    uniq, counts = occupied + low, per_exp[occupied]
    slot = np.zeros(per_exp.shape[0], dtype=np.int64)
    slot[occupied] = np.arange(occupied.shape[0])
    inverse = slot[exps - low]
    target = uniq.copy()
    base, held = 0, int(counts[0])  # the group of levels base..k, all now at uniq[k]
    for k in range(1, uniq.shape[0]):
        if held <= counts[k] and uniq[k] - uniq[base] <= LIFT:
            target[base:k] = uniq[k]
            held += int(counts[k])
        else:
            base, held = k, int(counts[k])
    return target[inverse]


@dataclass
class _Level:
    """The boxes of one level sorted by cell key, with the run starts of their cells."""

    exp: int  # boxes' sides are below 2**exp; rows are 2**exp high
    xexp: int  # columns are 2**xexp wide
    x0: float  # F of the smallest x1 among the level's boxes
    y0: float
    width: int  # cell columns (the last one holds the largest x1)
    height: int  # cell rows per segment
    ids: np.ndarray  # item ids in key order
    cols: np.ndarray  # (4, k) coordinates in key order, column by column
    table: np.ndarray | None  # dense: run start of every key (and one past the last)
    cells: np.ndarray  # sparse: sorted occupied keys
    starts: np.ndarray  # sparse: first position of each occupied key, then k


class CellIndex:
    """Static index over boxes of positive area, split by segment (queries stay in theirs).

    Args:
        boxes: (m, 4) finite float64 boxes of positive area.
        seg: (m,) int64 segment of each box (non-negative).
        ids: (m,) int64 id reported for each box (default: its position).
        dense: cells per box a level may have and keep a table (default ``DENSE``).

    Example:
        >>> b = np.array([[0.0, 0, 2, 2], [1, 1, 3, 3], [5, 5, 6, 6]])
        >>> index = CellIndex(b, np.zeros(3, np.int64))
        >>> [(q.tolist(), i.tolist()) for q, i in
        ...  index.query_all(np.array([[1.5, 1.5, 5.5, 5.5]]), np.zeros(1, np.int64))]
        [([0, 0, 0], [0, 1, 2])]
    """

    def __init__(
        self,
        boxes: np.ndarray,
        seg: np.ndarray,
        ids: np.ndarray | None = None,
        dense: float | None = None,
    ) -> None:
        self.levels: list[_Level] = []
        self.nseg = 0
        m = boxes.shape[0]
        if m == 0:
            return
        ids = np.arange(m, dtype=np.int64) if ids is None else ids
        dense = DENSE if dense is None else dense
        natural, finest = levels(boxes, seg)
        exps = lifted(natural)
        cols = np.ascontiguousarray(boxes.T)
        self.nseg = nseg = int(seg.max()) + 1
        cap = dense * m + _DENSE_FLOOR
        for e in np.unique(exps).tolist():
            sel = np.flatnonzero(exps == e)
            ex = max(int(e) - COLUMN_SPLIT, finest)
            self.levels.append(_level(int(e), ex, cols[:, sel], seg[sel], ids[sel], nseg, cap))

    def query_all(
        self, q: np.ndarray, qseg: np.ndarray, budget: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every ``(query position, item id)`` whose boxes meet with positive width and height.

        Pairs come in rounds (no order inside or across rounds).

        Args:
            q: (k, 4) finite query boxes.
            qseg: (k,) their segments.
            budget: runs and candidate pairs per round at most (default ``BUDGET``).
        """
        budget = BUDGET if budget is None else budget
        for start in range(0, q.shape[0], _BLOCK):
            qb, sb = q[start : start + _BLOCK], qseg[start : start + _BLOCK]
            # queries in (segment, y1, x1) order look up nearby cells one after another
            perm = np.lexsort((qb[:, 0], qb[:, 1], sb))
            qc = np.ascontiguousarray(qb[perm].T)
            sp = sb[perm]
            valid = (sp >= 0) & (sp < self.nseg)  # a segment without boxes meets nothing
            for level in self.levels:
                for qi, item in _meet(level, qc, sp, valid, budget):
                    yield perm[qi] + start, item


def _cell(v: np.ndarray, exp: int) -> np.ndarray:
    """``F(v) = floor(v / 2**exp)`` (exact for normal results; monotone always)."""
    with np.errstate(over="ignore"):  # a query far beyond the boxes' cells: +-inf, clipped
        return np.floor(np.ldexp(v, -exp))


def _level(
    exp: int,
    xexp: int,
    cols: np.ndarray,
    seg: np.ndarray,
    ids: np.ndarray,
    nseg: int,
    cap: float,
) -> _Level:
    """Sort a level's boxes by cell key and find their runs."""
    fx, fy = _cell(cols[0], xexp), _cell(cols[1], exp)
    x0, y0 = float(fx.min()), float(fy.min())
    width = int(fx.max() - x0) + 1
    height = int(fy.max() - y0) + 1
    keys = (seg * height + (fy - y0).astype(np.int64)) * width + (fx - x0).astype(np.int64)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    ncells = nseg * height * width
    if ncells <= cap:
        counts = np.bincount(keys, minlength=ncells)
        table = np.zeros(ncells + 1, dtype=np.int64)
        np.cumsum(counts, out=table[1:])
        cells = starts = np.zeros(0, dtype=np.int64)
    else:
        table = None
        first = np.r_[True, keys[1:] != keys[:-1]]
        cells = keys[first]
        starts = np.r_[np.flatnonzero(first), keys.shape[0]]
    return _Level(
        exp, xexp, x0, y0, width, height, ids[order], np.ascontiguousarray(cols[:, order]),
        table, cells, starts,
    )  # fmt: skip


def _meet(
    level: _Level, qc: np.ndarray, qseg: np.ndarray, valid: np.ndarray, budget: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pairs of (query position, item id) on one level, in rounds of bounded size.

    A query covers columns ``F(q.x1) - 2**(exp - xexp)`` to ``F(q.x2)`` (``F`` on the
    column exponent) and rows ``F(q.y1) - 1`` to ``F(q.y2)``, clipped to the level.
    Differences of ``F`` are exact where they fall inside the level (Sterbenz) and rounded
    monotonically beyond it, so clipping is exact.
    """
    e, w, h = level.exp, level.width, level.height
    back = float(2 ** (e - level.xexp))
    c_lo = np.clip((_cell(qc[0], level.xexp) - level.x0) - back, 0, w - 1).astype(np.int64)
    c_hi = np.clip(_cell(qc[2], level.xexp) - level.x0, -1, w - 1).astype(np.int64)
    r_lo = np.clip((_cell(qc[1], e) - level.y0) - 1.0, 0, h - 1).astype(np.int64)
    r_hi = np.clip(_cell(qc[3], e) - level.y0, -1, h - 1).astype(np.int64)
    nrows = np.where(valid & (c_hi >= c_lo), np.maximum(r_hi - r_lo + 1, 0), 0)
    start, k = 0, qc.shape[1]
    while start < k:
        stop = start + prefix_within(nrows[start:], budget)
        nr = nrows[start:stop]
        qi = np.repeat(np.arange(start, stop, dtype=np.int64), nr)
        base = (qseg[qi] * h + expand_ranges(r_lo[start:stop], nr)) * w
        lo, hi = _runs(level, base + c_lo[qi], base + c_hi[qi])
        yield from _candidates(level, qc, qi, lo, hi - lo, budget)
        start = stop


def _runs(level: _Level, lo_key: np.ndarray, hi_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``[lo, hi)`` of the boxes whose key lies in ``[lo_key, hi_key]``."""
    if level.table is not None:
        return level.table[lo_key], level.table[hi_key + 1]
    lo = level.starts[np.searchsorted(level.cells, lo_key, side="left")]
    hi = level.starts[np.searchsorted(level.cells, hi_key, side="right")]
    return lo, hi


def _candidates(
    level: _Level, qc: np.ndarray, qi: np.ndarray, lo: np.ndarray, count: np.ndarray, budget: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The boxes of runs ``lo:lo + count`` that meet their query ``qi``, in bounded chunks."""
    keep = count > 0
    qi, lo, count = qi[keep], lo[keep], count[keep]
    start = 0
    while start < qi.shape[0]:
        stop = start + prefix_within(count[start:], budget)
        c = count[start:stop]
        pos = expand_ranges(lo[start:stop], c)
        qr = qi[start:stop]
        b = level.cols
        # strict overlap in x first (query sides repeated per run), then in y on the rest
        x = (np.repeat(qc[0, qr], c) < b[2, pos]) & (b[0, pos] < np.repeat(qc[2, qr], c))
        kept = np.flatnonzero(x)
        qq, pos = np.repeat(qr, c)[kept], pos[kept]
        y = (qc[1, qq] < b[3, pos]) & (b[1, pos] < qc[3, qq])
        yield qq[y], level.ids[pos[y]]
        start = stop
