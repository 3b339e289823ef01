"""The NMM twin's candidate cache of growing boxes (``_numpy_near.NearRows``), by hand.

A slot's rows are queried once around its box widened by ``REACH`` and reused while the
box stays inside; rows below the slot's least area are never cached; entries closed by
``close`` are skipped until ``reopen``.
"""

from __future__ import annotations

import numpy as np
import pytest

from tilewise.kernels import _numpy_near
from tilewise.kernels._numpy_cell_index import CellIndex
from tilewise.kernels._numpy_near import NearRows

# row 0: the seed (10 x 10); 1: a smaller box over it (area 16); 2: a box just right of the
# seed, inside the reach (2.5 on each side) but not meeting it; 3: far away; 4: a large
# box over the seed, in segment 1
BOXES = np.array(
    [[0, 0, 10, 10], [2, 2, 6, 6], [11, 0, 12, 10], [50, 50, 60, 60], [0, 0, 10, 10]],
    dtype=np.float64,
)
SEG = np.array([0, 0, 0, 0, 1], dtype=np.int64)
AREA = np.array([100.0, 16.0, 10.0, 100.0, 100.0])


def cache(least=None, alive=None):
    index = CellIndex(BOXES, SEG)
    alive = np.ones(5, dtype=bool) if alive is None else alive
    return NearRows(index, BOXES, alive, np.array([0, 1], dtype=np.int64), AREA, least)


def met(near, slots, big_b):
    q, row, q_box, row_box, at = near.meet(np.array(slots), np.array(big_b, dtype=np.float64))
    assert q_box.tolist() == np.array(big_b, dtype=np.float64)[q].tolist()
    assert row_box.tolist() == BOXES[row].tolist()
    assert near.items[at].tolist() == row.tolist()
    return sorted(zip(q.tolist(), row.tolist(), strict=True))


@pytest.mark.parametrize(
    ("least", "alive", "want"),
    [
        (None, None, [(0, 0), (0, 1), (1, 4)]),
        # rows of area below 20 (row 1: 16, row 2: 10) never matter to slot 0
        ([20.0, 0.0], None, [(0, 0), (1, 4)]),
        ([16.0, 0.0], None, [(0, 0), (0, 1), (1, 4)]),  # the bound itself is kept
        (None, [True, False, True, True, True], [(0, 0), (1, 4)]),  # a row closed before
    ],
)
def test_rows_met_by_the_slots_boxes(least, alive, want):
    near = cache(
        None if least is None else np.array(least), None if alive is None else np.array(alive)
    )
    assert met(near, [0, 1], [BOXES[0], BOXES[4]]) == want


def test_a_box_grown_inside_its_reach_uses_the_cache():
    near = cache()
    assert met(near, [0], [BOXES[0]]) == [(0, 0), (0, 1)]
    assert near.count.tolist() == [3, 0]  # rows 0, 1 and 2 lie in the reach of slot 0
    # grown to reach row 2 but still inside the reach (-2.5 .. 12.5): no new query
    assert met(near, [0], [[0, 0, 11.5, 10]]) == [(0, 0), (0, 1), (0, 2)]
    assert near.items.shape[0] == 3


def test_a_box_leaving_its_reach_queries_again():
    near = cache()
    met(near, [0], [BOXES[0]])
    assert met(near, [0], [[0, 0, 55, 55]]) == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert near.items.shape[0] == 3 + 4  # the slot's rows were cached again


def test_closed_entries_are_skipped_until_reopened():
    near = cache()
    _, row, _, _, at = near.meet(np.array([0]), BOXES[:1].copy())
    near.close(at[row == 1])
    assert met(near, [0], [BOXES[0]]) == [(0, 0)]
    near.reopen()
    assert met(near, [0], [BOXES[0]]) == [(0, 0), (0, 1)]


def test_no_reach_widening_queries_the_box_itself(monkeypatch):
    monkeypatch.setattr(_numpy_near, "REACH", 0.0)
    near = cache()
    met(near, [0], [BOXES[0]])
    assert near.count.tolist() == [2, 0]  # row 2 lies outside the unwidened box


@pytest.mark.parametrize(
    ("box", "reach"),
    [
        ([0, 0, 10, 10], [-2.5, -2.5, 12.5, 12.5]),
        # the larger side sets the widening, whichever axis it is on: 3 (x) and 4 (y)
        ([1, 2, 4, 3], [0.25, 1.25, 4.75, 3.75]),
        ([1, 2, 2, 6], [0, 1, 3, 7]),
        ([-3, -1, -2, -0.5], [-3.25, -1.25, -1.75, -0.25]),  # a side of 1: widened by 0.25
    ],
)
def test_reach_box_widens_by_a_quarter_of_the_larger_side(box, reach):
    near = cache()
    met(near, [0], [box])
    assert near.reach[0].tolist() == reach


def test_an_infinite_side_without_reach_is_not_widened(monkeypatch):
    # REACH * inf would be NaN: the box is then queried as it is
    monkeypatch.setattr(_numpy_near, "REACH", 0.0)
    near = cache()
    with np.errstate(invalid="ignore"):
        assert met(near, [0], [[1, 2, np.inf, 3]]) == [(0, 0), (0, 1), (0, 2)]
    assert near.reach[0].tolist() == [1, 2, np.inf, 3]


def test_a_box_on_the_edge_of_its_reach_uses_the_cache():
    near = cache()
    met(near, [0], [BOXES[0]])
    # exactly the reach (-2.5 .. 12.5 on both axes): still inside, no new query
    assert met(near, [0], [[-2.5, -2.5, 12.5, 12.5]]) == [(0, 0), (0, 1), (0, 2)]
    assert near.items.shape[0] == 3


@pytest.mark.parametrize("side", [0, 1, 2, 3], ids=["left", "bottom", "right", "top"])
def test_a_box_one_float_past_one_side_of_its_reach_queries_again(side):
    near = cache()
    met(near, [0], [BOXES[0]])
    big = BOXES[0].copy()
    edge = [-2.5, -2.5, 12.5, 12.5][side]
    big[side] = np.nextafter(edge, -np.inf if side < 2 else np.inf)
    # the new reach (larger side just over 12.5) holds rows 0, 1 and 2 again
    assert met(near, [0], [big]) == [(0, 0), (0, 1)] + ([(0, 2)] if side == 2 else [])
    assert near.items.shape[0] == 3 + 3


def test_rows_closed_before_are_left_out_whatever_their_area():
    # row 1 reaches the slot's least area (16) but was closed: left out all the same
    near = cache(np.array([16.0, 0.0]), np.array([True, False, True, True, True]))
    assert met(near, [0, 1], [BOXES[0], BOXES[4]]) == [(0, 0), (1, 4)]
    assert near.count.tolist() == [1, 1]  # row 2 (area 10) is below it too


@pytest.mark.parametrize(
    ("q", "k", "want"),
    [
        # past 2**15 slots the numbers no longer fit int16: sorted as int64
        ([40000, 1, 40000, 0], 40001, [3, 1, 0, 2]),
        ([65535, 0], 65536, [1, 0]),
        # 2**15 slots: numbers up to 32767 still sort as int16
        ([32767, 0, 32767], 32768, [1, 0, 2]),
    ],
)
def test_by_slot_past_the_int16_range(q, k, want):
    assert _numpy_near.by_slot(np.array(q, dtype=np.int64), k).tolist() == want


@pytest.mark.parametrize(
    ("first", "grown", "want"),
    [
        # reach -> [7.5, -2.5, 22.5, 12.5] caches rows 0 and 2; grown left past its x1 (but
        # not past its y1) the box meets row 1, which only a new query finds
        ([10, 0, 20, 10], [5, 0, 20, 10], [(0, 0), (0, 1), (0, 2)]),
        # reach -> [-12.5, 2.5, 2.5, 17.5] caches rows 0 and 1; grown right past its x2 (but
        # not past its y2) the box meets row 2
        ([-10, 5, 0, 15], [-10, 5, 15, 15], [(0, 0), (0, 1), (0, 2)]),
    ],
)
def test_each_side_of_the_reach_is_compared_with_its_own(first, grown, want):
    near = cache()
    met(near, [0], [first])
    assert met(near, [0], [grown]) == want
