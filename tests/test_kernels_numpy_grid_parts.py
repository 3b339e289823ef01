"""The numpy twin's overlap arithmetic and grid index at their edges, on hand-worked cases.

``test_kernels_numpy_parts.py`` has the main tables; these add the edge values that the
mutation run of ``_numpy_grid`` showed untested (see docs/testing.md): infinite sides and
areas, where ``_native.c``'s ``!(w > 0)`` tests decide.
"""

from __future__ import annotations

import numpy as np
import pytest

from tilewise.kernels import _numpy_grid
from tilewise.kernels._numpy_grid import GridIndex, area_window, inter_of, intersects

IOU, IOS = 0, 1
INF = float("inf")


def rows(*boxes):
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([0, 0, 10, INF], [10, 0, 20, INF]),  # touching in x, infinitely tall: 0, not 0 * inf
        ([0, 0, INF, 10], [0, 10, INF, 20]),  # touching in y, infinitely wide
        ([0, 0, 10, INF], [12, 0, 20, INF]),  # apart
    ],
)
def test_inter_of_is_zero_without_positive_width_and_height(a, b):
    with np.errstate(invalid="ignore"):  # inter_of forms 0 * inf before discarding it
        got = inter_of(rows(a), rows(b))
    assert got.tolist() == [0.0]
    assert not np.signbit(got[0])


def test_area_window_at_threshold_zero_admits_every_area():
    # no window at all (0, inf), as in C, even for an infinite or zero area (where
    # 0 * inf and 0 / 0 would give NaN bounds)
    lo, hi = area_window(np.array([INF, 0.0, 8.0]), IOU, 0.0)
    assert (lo.tolist(), hi.tolist()) == ([0.0, 0.0, 0.0], [INF, INF, INF])


def _all_found(boxes, seg, q, qseg):
    index = GridIndex(boxes, seg)
    found = set()
    for qpos, items in index.query_all(q, qseg):
        found |= set(zip(qpos.tolist(), items.tolist(), strict=True))
    return found


def _brute(boxes, seg, q, qseg):
    return {
        (i, j)
        for i in range(len(q))
        for j in range(len(boxes))
        if qseg[i] == seg[j] and intersects(q[i : i + 1], boxes[j : j + 1])[0]
    }


SCENES = {
    # boxes of side 5 on a canvas of extent 20: cells of 8, three cell rows per segment
    "same-boxes-two-segments": (
        [[0, 0, 5, 5], [15, 15, 20, 20], [0, 0, 5, 5], [15, 15, 20, 20]],
        [0, 0, 1, 1],
    ),
    # a canvas of 2**60 with boxes of side 2**40: 2**19 + 1 cell rows
    "huge-canvas": (
        [[0, 0, 2.0**40, 2.0**40], [2.0**60, 0, 2.0**60 + 2.0**40, 2.0**40], [1, 1, 2, 2]],
        [0, 0, 0],
    ),
    # far from the origin in y: rows count from the lowest y1
    "offset-in-y": (
        [[0, 1e9, 4, 1e9 + 4], [3, 1e9 + 3, 9, 1e9 + 9], [0, 1e9 + 20, 4, 1e9 + 24]],
        [0, 0, 0],
    ),
    # cells of 16 (extent 40): the query's y1 is 2 - 2**-17 cell rows up, the box's y1 in
    # row 0 just under a cell below it: the row range must reach one row down, with slack
    "row-slack-low": (
        [[0, 0, 1, 1], [0, 16 - 2.0**-15, 4, 32 - 2.0**-14], [0, 32 - 2.0**-13, 4, 40]],
        [0, 0, 0],
    ),
    # the query's y2 is 2**-18 rows into row 2, where the box's y1 lies
    "row-slack-high": ([[0, 0, 1, 1], [0, 24, 4, 32 + 2.0**-14], [0, 32, 4, 40]], [0, 0, 0]),
    # cells of 8, 4 rows: segment 1's top row must not reach segment 0's bands
    "top-rows-two-segments": ([[0, 0, 4, 4], [0, 26, 4, 30], [0, 26, 4, 30]], [0, 0, 1]),
}


def test_grid_query_outside_the_extent_stays_in_its_segment():
    # one cell row per segment (extent 4, cells of 8); queries reaching far above and
    # below the indexed extent must not run into the next segment's band
    boxes, seg = rows([0, 0, 4, 4], [0, 0, 4, 4]), np.array([0, 1], np.int64)
    q = rows([0, 0, 4, 100], [0, -100, 4, 2], [1, 1, 2, 2], [0, 50, 4, 60])
    for qseg in ([0, 0, 0, 0], [1, 1, 1, 1]):
        qs = np.array(qseg, np.int64)
        assert _all_found(boxes, seg, q, qs) == _brute(boxes, seg, q, qs)


def test_grid_query_round_stays_within_its_budget():
    # 12 equal boxes on each of two levels: every candidate is a pair, so a round of more
    # than one query returns at most ``budget`` pairs
    boxes = rows(*([[0, 0, 1, 1]] * 12 + [[0, 0, 30, 30]] * 12))
    index = GridIndex(boxes, np.zeros(24, np.int64))
    for budget in (1, 20, 24, 30, 47, 48, 100):
        qpos, _, used = index.query(boxes, np.zeros(24, np.int64), budget=budget)
        assert used == 1 or qpos.shape[0] <= budget
        assert used >= 1


@pytest.mark.parametrize(("boxes", "seg"), SCENES.values(), ids=SCENES.keys())
def test_grid_query_on_edge_scenes(boxes, seg):
    b, s = rows(*boxes), np.array(seg, dtype=np.int64)
    # every box as a query, and each box's segment swapped
    for qseg in (s, 1 - s):
        assert _all_found(b, s, b, qseg) == _brute(b, s, b, qseg)


def test_grid_query_reaches_a_box_whose_x1_the_rounded_start_passes():
    # a box of side 1 - 2**-53 (cells of 1) from x1 = -1 to -2.5 * 2**-55 meets a query from
    # x1 = -3 * 2**-55. The search for candidates starts at q.x1 - 1, whose exact value
    # -1 - 3 * 2**-55 rounds up to -1 = the box's x1: it must step one float down, not up
    boxes = rows([-1.0, 0.0, -2.5 * 2.0**-55, 0.5])
    q = rows([-3 * 2.0**-55, 0.0, 1.0, 1.0])
    zero = np.zeros(1, np.int64)
    assert [lvl.exp for lvl in GridIndex(boxes, zero).levels] == [0]
    assert _all_found(boxes, zero, q, zero) == _brute(boxes, zero, q, zero) == {(0, 0)}


def test_grid_query_row_slack_outlasts_rounding_at_2_29_rows():
    # cells of 2**-19 over a y extent of 1024 (oy = -1024): about 2**29 rows. The query's
    # y1 - oy = 1024 + 2**-19 - 1.5 * 2**-44 rounds up to row 2**29 + 1; the box's
    # y1 - oy = 1024 - 1.25 * 2**-44 rounds down into row 2**29 - 1, yet the two meet
    # (the box is 2**-19 - 2**-47 tall). One row down from the query is 2**29, and the
    # slack must survive in 2**29 - slack (floats 2**-24 apart there, so a slack under
    # 2**-25 rounds away) for the row range to reach the box's row
    c = 2.0**-19
    boxes = rows(
        [0, -1024, 2.0**-20, -1024 + 2.0**-20],
        [0, -1.25 * 2.0**-44, 2.0**-20, c - 1.375 * 2.0**-44],
    )
    q = rows([0, c - 1.5 * 2.0**-44, 1.0, 0.5])
    zero = np.zeros(2, np.int64)
    assert [lvl.exp for lvl in GridIndex(boxes, zero).levels] == [-19]
    assert _all_found(boxes, zero, q, zero[:1]) == _brute(boxes, zero, q, zero[:1]) == {(0, 1)}


def test_grid_finest_level_below_an_extent_of_1():
    # extent 0.5 (frexp exponent 0): the finest exponent is 0 - 30, and the 1e-300 box is
    # lifted to it (with parity, every second exponent from it), not given cells of 2**-996
    boxes = rows([0, 0, 0.5, 0.25], [0, 0, 1e-300, 1e-300])
    zero = np.zeros(2, np.int64)
    index = GridIndex(boxes, zero)
    assert index.finest == -30
    assert sorted(lvl.exp for lvl in index.levels) == [-30, 0]
    assert _all_found(boxes, zero, boxes, zero) == _brute(boxes, zero, boxes, zero)


@pytest.mark.parametrize(
    ("boxes", "finest", "levels"),
    [
        # x extent 164 - 100 = 64 beats y's 40: finest 7 - 30 = -23 (odd), sides 10 and 14
        # (exponent 4) lifted to 5 by parity: cells of 32, floor(64 / 32) + 1 = 3 rows
        ([[100, -50, 110, -45], [150, -20, 164, -10]], -23, [(5, 3)]),
        # y extent 300 - 100 = 200 beats x's 20: finest 8 - 30 = -22 (even); sides 10 and 50
        # keep exponents 4 and 6: floor(200 / 16) + 1 = 13 and floor(200 / 64) + 1 = 4 rows
        ([[-30, 100, -20, 110], [-25, 250, -10, 300]], -22, [(4, 13), (6, 4)]),
    ],
)
def test_grid_levels_from_the_extent_of_both_axes(boxes, finest, levels):
    # the extent (x2 max - x1 min, y2 max - y1 min, the larger) sets the finest exponent
    # and each level's cell rows; canvases away from the origin on either axis
    b = rows(*boxes)
    index = GridIndex(b, np.zeros(len(boxes), np.int64))
    assert index.finest == finest
    assert [(lvl.exp, lvl.rows) for lvl in index.levels] == levels


# ten boxes of side 1.5 (cells of 2, extent 19.5: finest -25), box i in cell row i, all
# with x1 = 0; queries of a known number of (query, band) pairs
TEN_ROWS = rows(*[[0, 2 * i, 1.5, 2 * i + 1.5] for i in range(10)])
THREE_BANDS = [0, 9, 1, 11]  # rows 9 / 2 - 1 - slack and 11 / 2 + slack: 3 to 5
NO_X = [4, 9, 5, 11]  # no x1 in (4 - 2, 5): no band searched at all
TOP_BAND = [0, -5, 1, 1]  # rows clipped to 0 .. 0: one band


@pytest.mark.parametrize(
    ("budget", "used"), [(0, 1), (2, 1), (3, 2), (4, 3), (6, 3), (7, 4), (100, 4)]
)
def test_grid_query_round_cost_counts_exactly_the_bands_searched(budget, used):
    # costs 0, 3, 1, 3 (query-band pairs, here also candidates): the round takes the
    # longest prefix within the budget, at least one query. A wider row range (more slack,
    # one more row below, a row forced at the top) or a band counted for a query without
    # an x1 in its range changes the prefix
    index = GridIndex(TEN_ROWS, np.zeros(10, np.int64))
    assert [(lvl.exp, lvl.rows) for lvl in index.levels] == [(1, 10)]
    q = rows(NO_X, THREE_BANDS, TOP_BAND, THREE_BANDS)
    qpos, items, got = index.query(q, np.zeros(4, np.int64), budget=budget)
    assert got == used
    expected = {(1, 4), (1, 5), (2, 0), (3, 4), (3, 5)}
    assert set(zip(qpos.tolist(), items.tolist(), strict=True)) == {
        (i, j) for i, j in expected if i < used
    }


def test_grid_query_all_takes_at_most_a_block_of_queries_per_round(monkeypatch):
    # rounds of at most _BLOCK queries, however large the budget
    monkeypatch.setattr(_numpy_grid, "_BLOCK", 3)
    index = GridIndex(TEN_ROWS, np.zeros(10, np.int64))
    q = rows(*[THREE_BANDS] * 7)
    got = [sorted(set(qpos.tolist())) for qpos, _ in index.query_all(q, np.zeros(7, np.int64))]
    assert got == [[0, 1, 2], [3, 4, 5], [6]]
