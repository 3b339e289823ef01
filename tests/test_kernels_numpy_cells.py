"""The numpy twin's all-pairs finder (``_numpy_cells``) against brute force.

Every intersecting pair of one segment must come out exactly once, whatever the sizes
(several levels, guests searching owners and owners searching guests), the coordinates'
magnitude and sign, and however small the chunks.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise.kernels import _numpy_cells
from tilewise.kernels._numpy_cells import intersecting_pairs, levels


def rows(*boxes):
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


def found(boxes, seg, budget=None):
    """Every reported pair, checking that none is reported twice and each has i < j."""
    out = []
    for i, j in intersecting_pairs(boxes, np.asarray(seg, np.int64), budget):
        assert (i.dtype, j.dtype) == (np.int64, np.int64)
        out += zip(i.tolist(), j.tolist(), strict=True)
    assert len(out) == len(set(out)), "a pair reported twice"
    assert all(i < j for i, j in out)
    return set(out)


def brute(boxes, seg):
    n = boxes.shape[0]
    return {
        (i, j)
        for i in range(n)
        for j in range(i + 1, n)
        if seg[i] == seg[j]
        and boxes[i, 0] < boxes[j, 2]
        and boxes[j, 0] < boxes[i, 2]
        and boxes[i, 1] < boxes[j, 3]
        and boxes[j, 1] < boxes[i, 3]
    }


A = [0, 0, 10, 10]


@pytest.mark.parametrize(
    ("boxes", "seg", "pairs"),
    [
        ([], [], set()),
        ([A], [0], set()),
        ([A, A], [0, 0], {(0, 1)}),
        ([A, A], [0, 1], set()),  # segments never pair
        ([A, [10, 0, 20, 10]], [0, 0], set()),  # touching edges: no positive width
        ([A, [9, 9, 19, 19]], [0, 0], {(0, 1)}),  # one pixel square in common
        ([A, [10, 10, 20, 20]], [0, 0], set()),  # touching corners
        # neighbours in every direction of a cell (cells of 16 px for these 10 px boxes)
        (
            [[15, 15, 25, 25], [6, 6, 16, 16], [24, 6, 34, 16], [6, 24, 16, 34], [24, 24, 34, 34]],
            [0] * 5,
            {(0, 1), (0, 2), (0, 3), (0, 4)},
        ),
        # a huge box over small ones (a guest level apart) and a small one far away
        (
            [[-1000, -1000, 1000, 1000], [1, 1, 2, 2], [500, 500, 501, 501], [2000, 0, 2001, 1]],
            [0] * 4,
            {(0, 1), (0, 2)},
        ),
        # small boxes (guests of the big box's level) touching its edges: no pair, whichever
        # side searches the other (one guest, then more guests than owners)
        (
            [[-1000, -1000, 1000, 1000], [1000, 0, 1001, 1]],
            [0] * 2,
            set(),
        ),
        (
            [[-1000, -1000, 1000, 1000], [0, 1000, 1, 1001], [-1001, 0, -1000, 1]],
            [0] * 3,
            set(),
        ),
        (
            [[-1000, -1000, 1000, 1000], [0, -1001, 1, -1000], [999, 999, 1000, 1000]],
            [0] * 3,
            {(0, 2)},
        ),
        # the same in two segments: only same-segment pairs
        ([[-1000, -1000, 1000, 1000], [1, 1, 2, 2], [1, 1, 2, 2]], [0, 1, 0], {(0, 2)}),
        # negative coordinates straddling zero, and cells numbered from the smallest box
        ([[-5, -5, 1, 1], [0.5, 0.5, 3, 3], [-1e6, -1e6, -1e6 + 1, -1e6 + 1]], [0] * 3, {(0, 1)}),
    ],
)
def test_pairs_table(boxes, seg, pairs):
    assert found(rows(*boxes), seg) == pairs


def test_levels_table():
    # extent 64: finest exponent frexp(64)[1] - (62 // 2 - 2) = 7 - 29 = -22; a side below
    # 2**e sits on level e (rounded up to every SPAN-th exponent from the finest)
    boxes = rows([0, 0, 1, 1], [0, 0, 3, 1], [0, 0, 4, 4], [0, 0, 64, 2], [0, 0, 0.5, 0.25])
    exps, finest = levels(boxes, np.zeros(5, np.int64))
    assert finest == -22
    assert exps.tolist() == [1, 2, 3, 7, 0]


def test_levels_lift_tiny_boxes_on_a_wide_canvas():
    # two boxes 2**40 apart: the finest level leaves at most about 2**29 cells per axis,
    # so the 1e-9 box is lifted to a cell of 2**(41 - 29)
    boxes = rows([0, 0, 1e-9, 1e-9], [2.0**40, 0, 2.0**40 + 1, 1])
    exps, finest = levels(boxes, np.zeros(2, np.int64))
    assert finest == 41 - 29
    assert exps.tolist() == [finest, finest]


def test_levels_leave_room_for_many_segments():
    # with segment ids up to 2**20, fewer bits are left per axis: keys stay below 2**62
    boxes = rows([0, 0, 1, 1], [0, 0, 64, 64])
    _, few = levels(boxes, np.zeros(2, np.int64))
    _, many = levels(boxes, np.array([0, 2**20], np.int64))
    assert many - few == 11  # (62 - 21) // 2 - 2 = 18 bits instead of 29


def test_a_box_with_more_candidates_than_the_budget_still_comes_out_whole():
    boxes = rows(*([[0, 0, 10, 10]] * 6))
    assert found(boxes, [0] * 6, budget=1) == brute(boxes, [0] * 6)


def test_owners_search_guests_when_they_are_fewer():
    # one big box over many small ones: the big one (owner) searches the small (guests)
    small = [[x, y, x + 1, y + 1] for x in range(0, 40, 3) for y in range(0, 40, 3)]
    boxes = rows(*small, [2.5, 2.5, 30, 30])
    seg = [0] * boxes.shape[0]
    assert found(boxes, seg) == brute(boxes, np.array(seg))


def scene(rng, n, spread, sizes):
    xy = rng.uniform(-spread / 4, spread, (n, 2))
    side = rng.choice(sizes, (n, 2)) * rng.uniform(0.5, 1.0, (n, 2))
    return np.concatenate([xy, xy + side], axis=1), rng.integers(0, 3, n)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("budget", [None, 1, 13])
def test_random_scenes_match_brute_force(seed, budget):
    rng = np.random.default_rng(seed)
    boxes, seg = scene(rng, 120, 60.0, [0.25, 1.0, 3.0, 7.0, 20.0, 60.0])
    assert found(boxes, seg, budget) == brute(boxes, seg)


def test_default_budget_is_the_chunk_size(monkeypatch):
    monkeypatch.setattr(_numpy_cells, "BUDGET", 2)
    boxes = rows(*([[0, 0, 10, 10]] * 4))
    sizes = [i.shape[0] for i, _ in intersecting_pairs(boxes, np.zeros(4, np.int64))]
    assert sum(sizes) == 6
    assert max(sizes) <= 3  # a box's run (3 later boxes) is never split


coordinate = st.one_of(
    st.floats(-100, 100, allow_nan=False),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e150, -1e150, 1e-160]),
)
extent = st.sampled_from([1e-300, 1e-9, 0.5, 3.0, 64.0, 1e6, 1e140])


@st.composite
def box_sets(draw):
    n = draw(st.integers(0, 24))
    out = []
    for _ in range(n):
        x, y = draw(coordinate), draw(coordinate)
        w, h = draw(extent) * draw(st.floats(0.1, 1.0)), draw(extent) * draw(st.floats(0.1, 1.0))
        if x + w > x and y + h > y:  # positive, finite area as the callers guarantee
            out.append([x, y, x + w, y + h])
    return rows(*out), np.array(
        draw(st.lists(st.integers(0, 2), min_size=len(out), max_size=len(out))), np.int64
    )


@settings(max_examples=300, deadline=None)
@given(scene=box_sets(), budget=st.sampled_from([None, 1, 5]))
def test_property_every_pair_exactly_once(scene, budget):
    boxes, seg = scene
    assert found(boxes, seg, budget) == brute(boxes, seg)
