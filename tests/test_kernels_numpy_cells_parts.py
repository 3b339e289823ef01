"""The numpy twin's all-pairs finder (``_numpy_cells``) at the edges of its cell grids.

Hand-worked cases for what the random scenes of ``test_kernels_numpy_cells.py`` rarely
reach: cell numbers counted from the smallest box on each axis separately (canvases whose
x and y ranges lie far apart, several segments), a box reaching into the next cell by a
fraction of it on fine and coarse levels, the finest level when the extent lies in the
negative quadrant or below 1, keys of boxes far from the origin, and the default chunk size.
"""

from __future__ import annotations

import numpy as np
import pytest

from tilewise.kernels._numpy_cells import intersecting_pairs, levels


def rows(*boxes):
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


def found(boxes, seg, budget=None):
    """Every reported pair, checking that none is reported twice and each has i < j."""
    out = []
    for i, j in intersecting_pairs(boxes, np.asarray(seg, np.int64), budget):
        out += zip(i.tolist(), j.tolist(), strict=True)
    assert len(out) == len(set(out)), "a pair reported twice"
    assert all(i < j for i, j in out)
    return set(out)


# 10 px boxes (cells of 16 px): a centre box and one neighbour in each diagonal cell, each
# meeting the centre only; a copy of it in segment 1 (rows 5-9) overlaps segment 0's boxes
# in the plane, but segments never pair
STAR = [[15, 15, 25, 25], [6, 6, 16, 16], [24, 6, 34, 16], [6, 24, 16, 34], [24, 24, 34, 34]]
STAR_PAIRS = {(0, 1), (0, 2), (0, 3), (0, 4)}


@pytest.mark.parametrize(
    ("dx", "dy"),
    [
        (0, 0),
        # rows a few cells above the columns, or the other way round: x and y cells count
        # from their own minimum, and a row's width comes from the x range alone
        (0, 32),
        (0, 48),
        (0, 64),
        (32, 0),
        (48, 0),
        (64, 0),
        (0, 200),
        (200, 0),
        (0, -200),
        (-200, 0),
        (1e6, -1e6),
        (-1e6, 1e6),
    ],
)
def test_two_segments_on_canvases_away_from_the_diagonal(dx, dy):
    star = rows(*STAR) + np.array([dx, dy, dx, dy])
    boxes = np.concatenate([star, star + 3.0])
    seg = [0] * 5 + [1] * 5
    assert found(boxes, seg) == STAR_PAIRS | {(i + 5, j + 5) for i, j in STAR_PAIRS}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # sides in [1/16, 1/8): cells of 1/8; a reaches 0.2 / 0.125 = column 1 by 0.075
        ([0.1, 0.0, 0.2, 0.1], [0.13, 0.0, 0.24, 0.1]),
        # sides in [1, 2): cells of 2; a = [0.6, 2.1] reaches column 1 (x >= 2) by 0.1
        ([0.6, 0.0, 2.1, 1.5], [2.05, 0.0, 3.5, 1.5]),
        # the same left of the origin: a = [-3.5, -1.9] reaches column -1 from column -2
        ([-3.5, 0.0, -1.9, 1.5], [-1.95, 0.0, -0.5, 1.5]),
    ],
)
@pytest.mark.parametrize("transpose", [False, True])
def test_a_box_reaching_the_next_cell_by_a_fraction_meets_its_boxes(a, b, transpose):
    boxes = rows(a, b)
    if transpose:  # the same in y: reaching into the row above
        boxes = boxes[:, [1, 0, 3, 2]]
    exps, _ = levels(boxes, np.zeros(2, np.int64))
    assert exps[0] == exps[1]  # one level: owners searching the next cell
    assert found(boxes, [0, 0]) == {(0, 1)}


@pytest.mark.parametrize(
    ("boxes", "finest", "exps"),
    [
        # the x extent lies left of 0 (-64 to 1: 65, frexp exponent 7), the y extent is 1
        ([[-64, 0, -63, 1], [0, 0, 1, 1]], 7 - 29, [1, 1]),
        # the same with y starting at 0.5: the extent is x2 max - x1 min, never with y1
        ([[-64, 0.5, -63, 1], [0, 0.5, 1, 1]], 7 - 29, [1, 1]),
        # the same in y: the y extent lies below 0 (-64 to 1), the x extent is 1
        ([[0, -64, 1, -63], [0, 0, 1, 1]], 7 - 29, [1, 1]),
        # extent 0.5 (exponent 0), below 1: tiny boxes are still lifted to 2**-29
        ([[0, 0, 0.5, 0.25], [0, 0, 1e-300, 1e-300]], 0 - 29, [0, -29]),
    ],
)
def test_levels_finest_exponent_table(boxes, finest, exps):
    got_exps, got_finest = levels(rows(*boxes), np.zeros(len(boxes), np.int64))
    assert got_finest == finest
    assert got_exps.tolist() == exps


def test_rows_count_from_the_lowest_box_far_from_the_origin():
    # y near 2**53 (integers exact, sides of 1 px): cell rows of 2 px counted from 0 would
    # be near 2**52; times a row of 1027 cells (x from 0 to 2048) such keys pass 2**63.
    # Counted from the lowest box they stay small, and the two boxes overlapping across a
    # column border (P reaches x >= 1392, Q starts at 1392.5) must pair
    y = 8980888059254892.0
    r, p, q, s = (
        [0, y, 1, y + 1],
        [1391.5, y, 1393, y + 1],
        [1392.5, y, 1394, y + 1],
        [2048, y, 2049, y + 1],
    )
    assert found(rows(r, p, q, s), [0] * 4) == {(1, 2)}


def test_default_chunks_hold_at_most_2_19_candidates():
    # 1025 equal boxes in one cell: box k's run holds the 1024 - k boxes after it, every one
    # a pair, 524800 in all; the default budget (2**19 = 524288 candidates, which bounds
    # the finder's memory) fills a first chunk to within one run and leaves the rest to a
    # second
    boxes = rows(*([[0, 0, 1, 1]] * 1025))
    sizes = [i.shape[0] for i, _ in intersecting_pairs(boxes, np.zeros(1025, np.int64))]
    assert sum(sizes) == 1025 * 1024 // 2
    assert len(sizes) == 2
    assert 2**19 - 1024 < sizes[0] <= 2**19
