"""NMM over large components for the numpy kernels: rounds of seeds, checked speculation.

``run_nmm`` of ``_native.c`` grows one group at a time: the most confident open row seeds
``B``; the smallest-rank open row intersecting ``B`` with area in its window and
``metric(B, row) >= thr`` joins, and ``B`` becomes the enclosing box. Far-apart groups do
not interact, and segments never do, so here each round takes the next ``K`` open rows
as seeds, the segments interleaved (each in rank order):

1. Speculation: every seed grows its group alone against the rows open at round start
   (vectorised over seeds, one step per iteration). Its candidates come from one static
   cell-table index over all rows (``_numpy_cell_index``), queried once around the seed
   and reused while ``B`` stays in the queried reach (``_numpy_near``); closed rows are
   filtered out. Rows already in
   a group lie inside ``B`` and can never enlarge it, so meeting them again changes
   nothing.
2. Regions: the final speculative boxes are closed under intersection
   (``_numpy_components``); the bounding box ``U`` of each closed set of seeds is its
   region, and no two regions meet with positive area.
3. Settling: inside each region the seeds run in rank order against the live open rows,
   all regions side by side. A group only examines rows intersecting its ``B``, and a join
   is applied only while the grown ``B`` stays inside the region, so every applied join
   lies inside its region: no region meets another's rows, and each sees exactly what the
   sequential routine would. A region's first seed sees the round-start rows, so its
   speculative group stands as is (most regions hold one seed).
4. A seed whose ``B`` would leave its region ends the round there: the groups of all
   earlier seeds are committed, later ones are dropped and seed again next round.

``K`` halves when a round commits under half its seeds and doubles when it commits all. A
region of more than ``REGION`` seeds also cuts the round at its next seed, so the
sequential work of a round stays small.
"""

from __future__ import annotations

import numpy as np

from tilewise.kernels._numpy_cell_index import CellIndex
from tilewise.kernels._numpy_components import components, grouped, interleaved
from tilewise.kernels._numpy_grid import area_of, area_window, overlap_of
from tilewise.kernels._numpy_near import NearRows

__all__ = ["nmm_batched"]

FIRST = 1 << 8
"""Seeds in the first round."""

MOST = 1 << 13
"""Seeds per round at most."""

REGION = 32
"""Seeds a region may hold before the round is cut."""

STEPS = 24
"""Growth steps a seed may speculate before the round is cut at it."""

NEAR = 512
"""Candidate rows a speculating seed may meet before the round is cut at it."""

_NONE = np.iinfo(np.int64).max


def nmm_batched(
    rows: np.ndarray,
    boxes: np.ndarray,
    area: np.ndarray,
    seg: np.ndarray,
    metric: int,
    thr: float,
    parent: np.ndarray,
) -> None:
    """NMM over ``rows`` (ascending absolute rows of positive area): writes ``parent``.

    The rows are walked with the segments interleaved (``interleaved``), so a round takes
    seeds from every segment: fewer, fuller rounds.
    """
    rows = rows[interleaved(seg[rows])]
    st = _State(boxes[rows], area[rows], seg[rows], metric, thr)
    m = rows.shape[0]
    pos, size = 0, FIRST
    while True:
        seeds = _next_open(st.open, pos, size)
        if seeds.shape[0] == 0:
            return
        near_rows = st.near_rows(seeds)
        big_b, spec_g, spec_r, cut = _speculate(st, seeds, near_rows)
        if cut == 0:  # the first open row seeds a group that grows far: run it alone
            got_r = _alone(st, int(seeds[0]))
            got_g, cut = np.zeros(got_r.shape[0], dtype=np.int64), 1
        else:
            keep = spec_g < cut
            got_g, got_r, cut = _settle(
                st, seeds[:cut], big_b[:cut], spec_g[keep], spec_r[keep], near_rows
            )
        keep = got_g < cut
        seed_row, row = seeds[got_g[keep]], got_r[keep]
        parent[rows[row]] = rows[seed_row]
        st.open[row] = False
        pos = int(seeds[cut]) if cut < seeds.shape[0] else int(seeds[-1]) + 1
        if cut == seeds.shape[0]:
            size = min(2 * size, MOST)
        elif 2 * cut < seeds.shape[0]:
            size = max(size // 2, 1)
        if pos >= m:
            return


def _next_open(is_open: np.ndarray, pos: int, count: int) -> np.ndarray:
    """The first ``count`` open positions from ``pos`` on."""
    found: list[np.ndarray] = []
    have, m = 0, is_open.shape[0]
    while have < count and pos < m:
        stop = min(m, pos + 4 * count)
        idx = np.flatnonzero(is_open[pos:stop]) + pos
        found.append(idx)
        have += idx.shape[0]
        pos = stop
    out = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    return out[:count]


class _State:
    """The rows of the large components, a static index over them and the open mask."""

    def __init__(
        self, boxes: np.ndarray, area: np.ndarray, seg: np.ndarray, metric: int, thr: float
    ) -> None:
        self.box, self.area, self.seg = boxes, area, seg
        self.metric, self.thr = metric, thr
        self.index = CellIndex(boxes, seg)
        self.open = np.ones(boxes.shape[0], dtype=bool)

    def near_rows(self, seeds: np.ndarray) -> NearRows:
        """A candidate cache with one slot per seed (slot ``i``: ``seeds[i]``).

        Every group of slot ``i`` starts from ``seeds[i]``'s box and only grows, so its area
        window never starts below the seed's: rows of smaller area can never join and are
        left out of the cache (C's ``route`` drops them likewise).
        """
        least, _ = area_window(self.area[seeds], self.metric, self.thr)
        return NearRows(self.index, self.box, self.open.copy(), self.seg[seeds], self.area, least)

    def step(
        self,
        big_b: np.ndarray,
        a_b: np.ndarray,
        near_rows: NearRows,
        slots: np.ndarray,
        is_open: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One group step for every box ``big_b`` against the rows in ``is_open``.

        ``slots`` names each box's slot in ``near_rows`` (distinct), whose cached rows
        are the candidates.

        Returns:
            ``(group, row, grown, by, near, at)``: the joining pairs (grouped by group,
            rows in no particular order), the groups whose box grows, the row that grows
            each (the smallest-rank row that passes and reaches outside the box), how many
            rows open at round start each box meets (closed cache entries aside), and the
            joining pairs' cache entries.
        """
        q, row, gb, rb, at = near_rows.meet(slots, big_b)
        near = np.bincount(q, minlength=big_b.shape[0])
        lo, hi = area_window(a_b, self.metric, self.thr)
        ar = self.area[row]
        ok = np.flatnonzero(is_open[row] & (ar >= lo[q]) & (ar <= hi[q]))
        q, row, gb, rb, ar, at = q[ok], row[ok], gb[ok], rb[ok], ar[ok], at[ok]
        hit = np.flatnonzero(overlap_of(gb, a_b[q], rb, ar, self.metric) >= self.thr)
        q, row, gb, rb, at = q[hit], row[hit], gb[hit], rb[hit], at[hit]  # grouped by q
        grows = (
            (rb[:, 0] < gb[:, 0])
            | (rb[:, 1] < gb[:, 1])
            | (rb[:, 2] > gb[:, 2])
            | (rb[:, 3] > gb[:, 3])
        )
        gq, grow_row = q[grows], row[grows]
        if gq.shape[0]:
            first = np.flatnonzero(np.r_[True, gq[1:] != gq[:-1]])
            grown, by = gq[first], np.minimum.reduceat(grow_row, first)
        else:
            grown = by = np.zeros(0, dtype=np.int64)
        limit = np.full(big_b.shape[0], _NONE)
        limit[grown] = by
        join = row <= limit[q]
        return q[join], row[join], grown, by, near, at[join]


def _enclose(big_b: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Enclosing boxes of row-aligned boxes."""
    lo = np.minimum(big_b[:, :2], box[:, :2])
    return np.concatenate([lo, np.maximum(big_b[:, 2:], box[:, 2:])], axis=1)


def _speculate(
    st: _State, seeds: np.ndarray, near_rows: NearRows
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Each seed's group grown alone against the open rows.

    A row that joined lies inside ``B`` from then on and can never enlarge it: its cache
    entry is closed, so later steps skip it.

    Returns:
        Final boxes, (seed, row) joins, and the first seed whose speculation stopped
        unfinished (past ``STEPS`` steps or ``NEAR`` candidates), else the seed count.
    """
    k = seeds.shape[0]
    big_b = st.box[seeds].copy()
    a_b = st.area[seeds].copy()
    got_g, got_r = [np.arange(k, dtype=np.int64)], [seeds]
    active = np.arange(k, dtype=np.int64)
    cut, steps = k, 0
    while active.shape[0]:
        g, r, grown, by, near, at = st.step(big_b[active], a_b[active], near_rows, active, st.open)
        near_rows.close(at)
        got_g.append(active[g])
        got_r.append(r)
        far = near > NEAR
        if far.any():
            cut = min(cut, int(active[far].min()))
        active, by = active[grown], by[~far[grown]]
        active = active[~far[grown]]
        big_b[active] = _enclose(big_b[active], st.box[by])
        a_b[active] = area_of(big_b[active])
        steps += 1
        if steps >= STEPS and active.shape[0]:
            cut = min(cut, int(active.min()))
            break
    return big_b, np.concatenate(got_g), np.concatenate(got_r), cut


def _alone(st: _State, seed: int) -> np.ndarray:
    """The group of the first open row (exact): every row it takes, itself included."""
    big_b = st.box[seed : seed + 1].copy()
    a_b = st.area[seed : seed + 1].copy()
    near_rows, slot = st.near_rows(np.array([seed])), np.zeros(1, dtype=np.int64)
    is_open = st.open.copy()
    is_open[seed] = False
    got = [np.array([seed], dtype=np.int64)]
    while True:
        _, r, grown, by, _, _ = st.step(big_b, a_b, near_rows, slot, is_open)
        is_open[r] = False
        got.append(r)
        if grown.shape[0] == 0:
            return np.concatenate(got)
        big_b = _enclose(big_b, st.box[by])
        a_b = area_of(big_b)


def _settle(
    st: _State,
    seeds: np.ndarray,
    spec_b: np.ndarray,
    spec_g: np.ndarray,
    spec_r: np.ndarray,
    near_rows: NearRows,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The true groups of the round's seeds: (seed, row) joins and the first seed not settled."""
    near_rows.reopen()  # speculation closed the entries its groups took
    k = seeds.shape[0]
    order, starts, sizes = grouped(components(spec_b, st.seg[seeds], np.zeros(k)))
    cut = k
    if sizes.max() > REGION:
        big = sizes > REGION
        cut = int(order[starts[big] + REGION].min())
    first = np.zeros(k, dtype=bool)
    first[order[starts]] = True
    lead = first[spec_g]
    got_g, got_r = [spec_g[lead]], [spec_r[lead]]
    multi = np.flatnonzero(sizes > 1)
    if multi.shape[0] == 0:
        return np.concatenate(got_g), np.concatenate(got_r), cut
    is_open = st.open.copy()
    is_open[spec_r[lead]] = False
    ordered = spec_b[order]
    region = np.stack(
        [
            np.minimum.reduceat(ordered[:, 0], starts),
            np.minimum.reduceat(ordered[:, 1], starts),
            np.maximum.reduceat(ordered[:, 2], starts),
            np.maximum.reduceat(ordered[:, 3], starts),
        ],
        axis=1,
    )
    ngroups = starts.shape[0]
    ptr = starts + 1
    end = starts + np.add.reduceat((order < cut).astype(np.int64), starts)
    cur = np.zeros(ngroups, dtype=np.int64)
    big_b = np.zeros((ngroups, 4))
    a_b = np.zeros(ngroups)
    need, running = multi, np.zeros(0, dtype=np.int64)
    while need.shape[0] or running.shape[0]:
        started = []
        while need.shape[0]:
            need = need[ptr[need] < end[need]]
            s = order[ptr[need]]
            ptr[need] += 1
            live = is_open[seeds[s]]
            started.append(need[live])
            cur[need[live]] = s[live]
            need = need[~live]
        fresh = np.concatenate(started) if started else np.zeros(0, dtype=np.int64)
        if fresh.shape[0]:
            srow = seeds[cur[fresh]]
            is_open[srow] = False
            got_g.append(cur[fresh])
            got_r.append(srow)
            big_b[fresh] = st.box[srow]
            a_b[fresh] = st.area[srow]
            running = np.concatenate([running, fresh])
        if running.shape[0] == 0:
            break
        g, r, grown, by, _, _ = st.step(
            big_b[running], a_b[running], near_rows, cur[running], is_open
        )
        grown_g = running[grown]
        new_b = _enclose(big_b[grown_g], st.box[by])
        u = region[grown_g]
        out = (
            (new_b[:, 0] < u[:, 0])
            | (new_b[:, 1] < u[:, 1])
            | (new_b[:, 2] > u[:, 2])
            | (new_b[:, 3] > u[:, 3])
        )
        if out.any():
            cut = min(cut, int(cur[grown_g[out]].min()))
            stopped = np.zeros(ngroups, dtype=bool)
            stopped[grown_g[out]] = True
            applied = ~stopped[running[g]]
            g, r = g[applied], r[applied]
        is_open[r] = False
        got_g.append(cur[running[g]])
        got_r.append(r)
        grown_g, new_b = grown_g[~out], new_b[~out]
        big_b[grown_g] = new_b
        a_b[grown_g] = area_of(new_b)
        idle = np.ones(ngroups, dtype=bool)
        idle[grown_g] = False
        if out.any():
            idle[stopped] = False
        need = running[idle[running]]
        running = grown_g
    return np.concatenate(got_g), np.concatenate(got_r), cut
