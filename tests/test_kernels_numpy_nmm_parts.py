"""The numpy twin's NMM and its components, on hand-worked cases.

``_numpy_components`` (union-find labels, dense segments, interleaving), ``_numpy_nmm``
(small components in lockstep) and ``_numpy_nmm_batch`` (large components in rounds of
seeds) each get exact tables here, so that a mutant in one of them fails a test of its own
contract. ``test_kernels_twin.py`` compares the whole twin with the C extension. (Added for
the mutation scores of the kernel twin; see docs/testing.md.)
"""

from __future__ import annotations

import numpy as np
import pytest

from tilewise.kernels import _numpy_components, _numpy_nmm, _numpy_nmm_batch
from tilewise.kernels._numpy_components import (
    _bounds,
    _compress,
    _lexicographic,
    _union,
    _widen,
    components,
    dense_segments,
    grouped,
    interleaved,
)
from tilewise.kernels._numpy_nmm import _grows, _next_seeds, nmm
from tilewise.kernels._numpy_nmm_batch import _enclose, _next_open
from tilewise.kernels._numpy_suppress import suppress

IOU, IOS = 0, 1


def rows(*boxes):
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


def ints(values):
    return np.array(values, dtype=np.int64)


A = [0, 0, 10, 10]
HALF_LOW = [0, 0, 10, 5]  # IoU with A 0.5
HALF_HIGH = [0, 5, 10, 10]  # IoU with A 0.5, touches HALF_LOW
RIGHT = [5, 0, 15, 10]  # IoU with A 1/3; A + RIGHT encloses [0, 0, 15, 10]
FAR = [10, 0, 20, 10]  # touches A; IoU 0.25 with [0, 0, 15, 10]
FARTHER = [15, 0, 25, 10]  # touches [0, 0, 15, 10]; IoU 1/3 with FAR
NINE = [0, 0, 10, 9]  # IoU with A 0.9; with [0, 0, 10, 12] 0.75
TALL = [0, 0, 10, 12]  # IoU with A 100 / 120 = 0.833..., reaches past A
SMALL = [0, 0, 2, 2]  # IoU with A 0.04, IoS 1
FLAT = [0, 0, 0, 10]  # no area: never in a group
# areas of 1 and 2 subnormal steps (2**-1074): the area window of the first at IoU 0.5 is
# [0, 2 steps], of the second [1, 4 steps] (the 1e-9 margins round away), and their IoU is
# 1 / (3 - 1) = 0.5: the second lies on the first's upper edge, the first on the second's
# lower edge, and both edges admit
SUB_1 = [0, 0, 2.0**-537, 2.0**-537]
SUB_2 = [0, 0, 2.0**-536, 2.0**-537]


# ----------------------------------------------------------------------------- components


@pytest.mark.parametrize(
    ("boxes", "seg", "slack", "label"),
    [
        ([A, [5, 5, 15, 15], [30, 30, 40, 40]], [0, 0, 0], 0.0, [0, 0, 2]),
        ([A, FAR], [0, 0], 0.0, [0, 1]),  # touching: apart
        ([A, FAR], [0, 0], 0.5, [0, 0]),  # within the slack: together
        ([A, [10.5, 0, 20, 10]], [0, 0], 0.5, [0, 1]),  # exactly at the slack: apart
        ([A, A], [0, 1], 0.0, [0, 1]),  # another segment
        # slack 0.75 * 2**-53 rounds away at 1 + s but not at 1 - s: the right box widened
        # meets the left one, not the other way round, and one way is enough
        ([[0, 0, 1, 1], [1, 0, 2, 1]], [0, 0], 0.75 * 2.0**-53, [0, 0]),
        ([[1, 0, 2, 1], [0, 0, 1, 1]], [0, 0], 0.75 * 2.0**-53, [1, 1]),
        # the label is the member whose (segment, x1, y1, x2, y2) is smallest, duplicates
        # included (the first of equal boxes)
        ([[5, 5, 15, 15], A], [0, 0], 0.0, [1, 1]),
        ([[5, 5, 15, 15], A, A], [0, 0, 0], 0.0, [1, 1, 1]),
        ([[30, 30, 40, 40], [30, 30, 40, 40], A], [0, 0, 0], 0.0, [0, 0, 2]),
        ([[1, 0, 5, 5], [0, 0, 5, 5]], [0, 0], 0.0, [1, 1]),  # x1 decides
        ([[0, 1, 5, 5], [0, 0, 5, 5]], [0, 0], 0.0, [1, 1]),  # then y1
        ([[0, 0, 6, 5], [0, 0, 5, 5]], [0, 0], 0.0, [1, 1]),  # then x2
        ([[0, 0, 5, 6], [0, 0, 5, 5]], [0, 0], 0.0, [1, 1]),  # then y2
        ([[0, 0, 5, 5], [0, 0, 5, 5]], [1, 0], 0.0, [0, 1]),  # segments apart
        # [5, 5, 6, 6] meets neither arm of the L, only the bounding box [0, 0, 10, 10]
        # of their component: a second round of queries takes it in
        ([[0, 0, 10, 1], [0, 0, 1, 10], [5, 5, 6, 6]], [0, 0, 0], 0.0, [1, 1, 1]),
        ([[0, 0, 10, 1], [0, 0, 1, 10], [5, 5, 6, 6]], [0, 0, 1], 0.0, [1, 1, 2]),
        # a closure over three rounds: L, then the box in its corner, then one further on
        (
            [[0, 0, 10, 1], [0, 0, 1, 10], [8, 8, 12, 12], [11, 0, 12, 9]],
            [0, 0, 0, 0],
            0.0,
            [1, 1, 1, 1],
        ),
        # in one chunk of pairs: the L's arms join (its bounding box then takes in the box
        # in its corner) while elsewhere two boxes join a third at once, which takes the
        # union a second pass; every root joined in either pass must be queried again
        (
            [
                [0, 0, 3, 1],
                [2, 0, 3, 3],
                [0, 2, 1, 3],
                [100, 0, 102, 1],
                [100, 2, 102, 3],
                [101, 0, 102, 3],
            ],
            [0] * 6,
            0.0,
            [0, 0, 0, 3, 3, 3],
        ),
        # a chain joined through a row in the middle, found from both sides
        ([[0, 0, 2, 1], [4, 0, 6, 1], [1, 0, 5, 1]], [0, 0, 0], 0.0, [0, 0, 0]),
        ([A], [0], 0.0, [0]),
        ([], [], 0.0, []),
    ],
)
def test_components_table(boxes, seg, slack, label):
    b = rows(*boxes)
    got = components(b, ints(seg), np.full(b.shape[0], slack))
    assert got.tolist() == label
    assert got.dtype == np.int64


def test_components_whole_dense_labels_each_dense_segment_as_one(monkeypatch):
    # segment 0 (two boxes apart, covering 2/3 of their extent) is dense at cover 0.5 and
    # is one component; segment 1 has one row, too few; segment 2 covers little of its
    # extent and splits as usual
    monkeypatch.setattr(_numpy_components, "DENSE_ROWS", 2)
    monkeypatch.setattr(_numpy_components, "DENSE_COVER", 0.5)
    boxes = rows(A, [20, 0, 30, 10], A, [5, 5, 8, 8], [6, 6, 9, 9], [50, 50, 51, 51])
    seg = ints([0, 0, 1, 2, 2, 2])
    slack = np.zeros(6)
    assert components(boxes, seg, slack, whole_dense=True).tolist() == [0, 0, 2, 3, 3, 5]
    assert components(boxes, seg, slack).tolist() == [0, 1, 2, 3, 3, 5]
    monkeypatch.setattr(_numpy_components, "DENSE_COVER", 0.7)  # segment 0 no longer
    assert components(boxes, seg, slack, whole_dense=True).tolist() == [0, 1, 2, 3, 3, 5]


def test_components_whole_dense_with_no_rows():
    got = components(np.zeros((0, 4)), ints([]), np.zeros(0), whole_dense=True)
    assert got.tolist() == []


@pytest.mark.parametrize(
    ("boxes", "starts", "min_rows", "cover", "dense"),
    [
        ([A, A], [0], 2, 1.0, [True]),  # cover 200 over 100
        ([A, A], [0], 3, 1.0, [False]),  # too few rows
        ([A, FAR], [0], 2, 1.0, [True]),  # cover 200 over [0, 0, 20, 10]: exactly 1
        ([A, [11, 0, 21, 10]], [0], 2, 1.0, [False]),  # 200 over 210
        ([A, [11, 0, 21, 10]], [0], 2, 200 / 210, [True]),
        ([A, [0, 5, 10, 15]], [0], 2, 1.0, [True]),  # extent from y too: 200 over 150
        ([A, [0, 20, 10, 30]], [0], 2, 1.0, [False]),  # 200 over 300
        ([[5, 0, 15, 10], [15, 0, 25, 10]], [0], 2, 1.0, [True]),  # 200 over 200, x from 5
        ([[0, 5, 10, 15], [0, 15, 10, 25]], [0], 2, 1.0, [True]),  # 200 over 200, y from 5
        ([A, [-5, -5, 5, 5]], [0], 2, 1.0, [False]),  # 200 over [-5, -5, 10, 10]: 225
        ([A, A, FAR, [30, 0, 40, 10]], [0, 2], 2, 1.0, [True, False]),  # 200 over 300
        ([A, [30, 0, 40, 10], A, A], [0, 2], 2, 1.0, [False, True]),
    ],
)
def test_dense_segments_table(monkeypatch, boxes, starts, min_rows, cover, dense):
    monkeypatch.setattr(_numpy_components, "DENSE_ROWS", min_rows)
    monkeypatch.setattr(_numpy_components, "DENSE_COVER", cover)
    b = rows(*boxes)
    assert dense_segments(b, ints(starts)).tolist() == dense


@pytest.mark.parametrize(
    ("seg", "expected"),
    [
        ([0, 0, 0, 1, 2, 2], [0, 3, 4, 1, 5, 2]),
        ([0, 1, 1, 1, 2], [0, 1, 4, 2, 3]),
        ([3, 3], [0, 1]),
        ([5], [0]),
        ([], []),
    ],
)
def test_interleaved_table(seg, expected):
    got = interleaved(ints(seg))
    assert got.tolist() == expected
    assert got.dtype == np.int64


@pytest.mark.parametrize(
    ("label", "order", "starts", "sizes"),
    [
        ([2, 0, 2, 1, 0], [1, 4, 3, 0, 2], [0, 2, 3], [2, 1, 2]),
        ([7, 7, 7], [0, 1, 2], [0], [3]),
        ([3], [0], [0], [1]),
    ],
)
def test_grouped_table(label, order, starts, sizes):
    got = grouped(ints(label))
    assert [g.tolist() for g in got] == [order, starts, sizes]


def test_widen_and_bounds():
    boxes = rows([0, 0, 1, 1], [2, -1, 3, 4], [5, 5, 6, 6])
    assert _widen(boxes, np.array([0.5, 0.0, 2.0])).tolist() == [
        [-0.5, -0.5, 1.5, 1.5],
        [2, -1, 3, 4],
        [3, 3, 8, 8],
    ]
    # rows 0 and 1 under root 0, row 2 its own root
    assert _bounds(boxes, ints([0, 0, 2]))[[0, 2]].tolist() == [[0, -1, 3, 4], [5, 5, 6, 6]]
    assert _bounds(boxes, ints([1, 1, 1]))[1].tolist() == [0, -1, 6, 6]


def test_union_joins_to_the_smallest_root_and_reports_the_roots():
    lab = np.arange(6, dtype=np.int64)
    touched = _union(lab, ints([0, 4]), ints([1, 3]))
    assert lab.tolist() == [0, 0, 2, 3, 3, 5]
    assert sorted(set(touched.tolist())) == [0, 1, 3, 4]
    touched = _union(lab, ints([4, 1]), ints([1, 0]))  # roots 3 and 0 meet; 1-0 already one
    assert lab.tolist() == [0, 0, 2, 0, 0, 5]
    assert sorted(set(touched.tolist())) == [0, 3]
    assert _union(lab, ints([3]), ints([1])).tolist() == []  # nothing to join
    assert _union(lab, ints([]), ints([])).tolist() == []


def test_union_reports_the_roots_of_every_pass():
    # 3-5 and 4-5 in one call: 5 takes root 3, and 4 joins it in a second pass; 0-2 joins
    # in the first pass and must be reported too
    lab = np.arange(6, dtype=np.int64)
    touched = _union(lab, ints([0, 3, 4]), ints([2, 5, 5]))
    assert lab.tolist() == [0, 1, 0, 3, 3, 3]
    assert sorted(set(touched.tolist())) == [0, 2, 3, 4, 5]


def test_union_follows_a_chain_of_roots():
    # 5 -> 4 and 4 -> 2 in one call: every row ends at the smallest root
    lab = np.arange(6, dtype=np.int64)
    _union(lab, ints([5, 4, 2]), ints([4, 2, 1]))
    assert lab.tolist() == [0, 1, 1, 3, 1, 1]


@pytest.mark.parametrize(
    ("boxes", "seg", "order"),
    [
        ([], [], []),
        ([[2, 0, 3, 1], [1, 0, 2, 1]], [0, 0], [1, 0]),  # by x1
        ([[1, 0, 2, 1], [2, 0, 3, 1]], [1, 0], [1, 0]),  # segment first
        # equal (segment, x1): then y1, x2, y2; full ties keep their input order
        ([[0, 2, 1, 3], [0, 1, 2, 3], [0, 1, 1, 4], [0, 1, 1, 3], [0, 1, 1, 3]], [0] * 5,
         [3, 4, 2, 1, 0]),
        # two runs of ties in two segments, around rows without ties; -0.0 ties with 0.0
        ([[0, 5, 1, 6], [-0.0, 1, 1, 2], [3, 0, 4, 1], [0, 9, 1, 10], [0, 2, 1, 3]],
         [0, 0, 0, 1, 1], [1, 0, 2, 4, 3]),
    ],
)  # fmt: skip
def test_lexicographic_table(boxes, seg, order):
    got = _lexicographic(rows(*boxes), ints(seg))
    assert got.tolist() == order


@pytest.mark.parametrize("seed", range(5))
def test_lexicographic_is_the_five_key_lexsort(seed):
    rng = np.random.default_rng(seed)
    boxes = rng.integers(0, 3, (60, 4)).astype(np.float64)  # many ties on every key
    seg = rng.integers(0, 2, 60)
    want = np.lexsort((boxes[:, 3], boxes[:, 2], boxes[:, 1], boxes[:, 0], seg))
    assert _lexicographic(boxes, seg).tolist() == want.tolist()


def test_compress_points_every_row_at_its_root():
    lab = ints([0, 0, 1, 2, 3, 5])
    _compress(lab)
    assert lab.tolist() == [0, 0, 0, 0, 0, 5]


# ----------------------------------------------------------------------------- NMM

# (boxes, metric, threshold, parent): one segment, rows in rank order
NMM_TABLE = {
    "at-threshold-joins": ([A, HALF_LOW, HALF_HIGH], IOU, 0.5, [0, 0, 0]),
    "below-threshold": ([A, HALF_LOW, HALF_HIGH], IOU, 0.51, [0, 1, 2]),
    "grown-box-reaches-next": ([A, RIGHT, FAR], IOU, 0.25, [0, 0, 0]),
    "grown-box-not-enough": ([A, RIGHT, FAR], IOU, 0.3, [0, 0, 2]),
    # FAR fails against A (touching) but passes once RIGHT has grown the box
    "earlier-row-passes-after-growth": ([A, FAR, RIGHT], IOU, 0.25, [0, 0, 0]),
    # TALL grows the box; NINE passed against A (0.9) but fails against it (0.75)
    "growth-stops-later-rows": ([A, TALL, NINE], IOU, 0.8, [0, 0, 2]),
    "rows-before-growth-join-together": ([A, NINE, TALL], IOU, 0.8, [0, 0, 0]),
    # row 2 (IoU 3/9) joins and grows the box to [4, 3, 13, 4], then row 1 (4/35 > 0.1)
    # joins: the growing row joins in its own step (against [3, 1, 13, 7] it has 5/60)
    "grower-joins-in-its-step": ([[6, 3, 13, 4], [3, 1, 8, 7], [4, 3, 9, 4]], IOU, 0.1, [0, 0, 0]),
    # row 1 grows the box on one side only (left, then right); row 2 meets only the grown
    # box (IoU 30/200 and 60/400): each side is compared with its own
    "grows-left": ([[10, 0, 20, 10], [5, 0, 20, 10], [0, 0, 8, 10]], IOU, 0.1, [0, 0, 0]),
    "grows-right": ([[0, 0, 10, 20], [0, 0, 15, 20], [12, 0, 20, 20]], IOU, 0.1, [0, 0, 0]),
    "grows-down": ([[0, 10, 10, 20], [0, 5, 10, 20], [0, 0, 10, 8]], IOU, 0.1, [0, 0, 0]),
    "grows-up": ([[0, 0, 20, 10], [0, 0, 20, 15], [0, 12, 20, 20]], IOU, 0.1, [0, 0, 0]),
    "ios": ([A, SMALL], IOS, 1.0, [0, 0]),
    "iou-small": ([A, SMALL], IOU, 0.05, [0, 1]),
    "iou-small-at-threshold": ([A, SMALL], IOU, 0.04, [0, 0]),
    "second-group-seeds-next-open": ([A, RIGHT, FAR, FARTHER], IOU, 0.3, [0, 0, 2, 2]),
    "rank-decides-the-seed": ([FAR, A, RIGHT], IOU, 0.3, [0, 1, 0]),  # not to A
    "threshold-zero-touching-apart": ([A, FAR, [30, 0, 40, 10]], IOU, 0.0, [0, 1, 2]),
    "threshold-zero-touching-in-y": ([A, [0, 10, 10, 20], [0, -10, 10, 0]], IOU, 0.0, [0, 1, 2]),
    "zero-area-rows": ([FLAT, A, FLAT, A], IOU, 0.0, [0, 1, 2, 1]),
    "only-zero-area": ([FLAT, FLAT], IOU, 0.0, [0, 1]),
    "subnormal-on-upper-window-edge": ([SUB_1, SUB_2], IOU, 0.5, [0, 0]),
    "subnormal-on-lower-window-edge": ([SUB_2, SUB_1], IOU, 0.5, [0, 0]),
    "one-row": ([A], IOU, 0.5, [0]),
    "no-rows": ([], IOU, 0.5, []),
    "chain-thirds": (
        [[5 * i, 0, 5 * i + 10, 10] for i in range(12)],
        IOU,
        0.3,
        [0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10],
    ),
    "chain-quarters": (
        [[5 * i, 0, 5 * i + 10, 10] for i in range(12)],
        IOU,
        0.25,
        [0, 0, 0, 3, 3, 3, 6, 6, 6, 9, 9, 9],
    ),
    "chain-threshold-zero": ([[5 * i, 0, 5 * i + 10, 10] for i in range(7)], IOU, 0.0, [0] * 7),
}


def _paths(monkeypatch, path):
    """Send the components through one of NMM's routes."""
    if path == "lockstep":
        return
    if path == "two-small":  # components of 2 rows step in lockstep, larger ones in rounds
        monkeypatch.setattr(_numpy_nmm, "SMALL", 2)
        return
    monkeypatch.setattr(_numpy_nmm, "SMALL", 1)  # every component of 2+ rows is large
    if path == "tiny-rounds":  # seeds one or two at a time, regions cut, short speculation
        monkeypatch.setattr(_numpy_nmm_batch, "FIRST", 1)
        monkeypatch.setattr(_numpy_nmm_batch, "MOST", 2)
        monkeypatch.setattr(_numpy_nmm_batch, "REGION", 1)
        monkeypatch.setattr(_numpy_nmm_batch, "STEPS", 1)
    if path == "near-one":  # a seed meeting more than one row is cut / runs alone
        monkeypatch.setattr(_numpy_nmm_batch, "NEAR", 1)
    if path == "whole-segments":  # no split: one component per segment
        monkeypatch.setattr(_numpy_components, "DENSE_ROWS", 0)
        monkeypatch.setattr(_numpy_components, "DENSE_COVER", 0.0)


PATHS = ["lockstep", "two-small", "batched", "tiny-rounds", "near-one", "whole-segments"]


@pytest.mark.parametrize(
    ("boxes", "metric", "thr", "parent"), NMM_TABLE.values(), ids=NMM_TABLE.keys()
)
@pytest.mark.parametrize("path", PATHS)
def test_nmm_table(monkeypatch, path, boxes, metric, thr, parent):
    _paths(monkeypatch, path)
    b = rows(*boxes)
    got = nmm(b, np.zeros(b.shape[0], np.int64), metric, thr)
    assert got.tolist() == parent
    assert got.dtype == np.int64


def _side_by_side(cases, segments):
    """``cases`` ((boxes, parent) each) in one call: far apart in one segment with their
    rows interleaved by rank, or each in its own segment. Returns boxes, seg, parent."""
    keys = [(k, i) for k, (boxes, _) in enumerate(cases) for i in range(len(boxes))]
    keys.sort(key=lambda key: key if segments else (key[1], key[0]))
    pos = {key: p for p, key in enumerate(keys)}
    shift = 0.0 if segments else 1000.0
    boxes = [np.add(cases[k][0][i], [shift * k, 0, shift * k, 0]) for k, i in keys]
    parent = [pos[(k, cases[k][1][i])] for k, i in keys]
    return rows(*boxes), ints([k if segments else 0 for k, _ in keys]), parent


# the parents at IoU 0.3 of cases of 4, 3, 3, 2 and 1 rows
AT_0_3 = [
    ([A, RIGHT, FAR, FARTHER], [0, 0, 2, 2]),
    ([A, TALL, NINE], [0, 0, 0]),  # TALL 0.833 joins, then NINE 0.75
    ([A, FAR, RIGHT], [0, 1, 0]),  # FAR 0.25 with [0, 0, 15, 10] fails
    ([A, SMALL], [0, 1]),
    ([A], [0]),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("segments", [False, True], ids=["far-apart", "segments"])
def test_nmm_many_components_at_once(monkeypatch, path, segments):
    _paths(monkeypatch, path)
    b, seg, parent = _side_by_side(AT_0_3, segments)
    assert nmm(b, seg, IOU, 0.3).tolist() == parent


@pytest.mark.parametrize("boxes", [[SUB_1, SUB_2], [SUB_2, SUB_1]], ids=["upper", "lower"])
def test_greedy_nmm_admits_both_area_window_edges(boxes):
    # greedy NMM (``_numpy_suppress``) shares the window: IoU 0.5 >= 0.5 on either edge
    assert suppress(rows(*boxes), ints([0, 0]), IOU, 0.5, False).tolist() == [0, 0]


# ----------------------------------------------------------------------------- NMM parts


@pytest.mark.parametrize(
    ("box", "big", "grows"),
    [
        ([0, 0, 10, 10], A, False),
        ([2, 2, 8, 8], A, False),
        ([-1, 0, 10, 10], A, True),
        ([0, -1, 10, 10], A, True),
        ([0, 0, 11, 10], A, True),
        ([0, 0, 10, 11], A, True),
        # against [2, 5, 12, 20]: each side only against its own
        ([3, 5, 12, 20], [2, 5, 12, 20], False),
        ([2, 6, 12, 20], [2, 5, 12, 20], False),
        ([2, 5, 11, 20], [2, 5, 12, 20], False),
        ([2, 5, 12, 19], [2, 5, 12, 20], False),
        ([1, 5, 12, 20], [2, 5, 12, 20], True),
        ([2, 4, 12, 20], [2, 5, 12, 20], True),
        ([2, 5, 13, 20], [2, 5, 12, 20], True),
        ([2, 5, 12, 21], [2, 5, 12, 20], True),
    ],
)
def test_grows_table(box, big, grows):
    assert _grows(rows(box), rows(big)).tolist() == [grows]


def test_next_seeds_points_idle_components_at_their_first_open_member():
    # three active components (0, 1, 2) of sizes 3, 2, 2 laid out flat; 1 is not idle,
    # 2 has no open member left
    active = ints([0, 1, 2])
    idle = np.array([True, False, True])
    owner = ints([0, 0, 0, 1, 1, 2, 2])
    flat = ints([0, 1, 2, 3, 4, 5, 6])
    taken = np.array([True, False, False, True, False, True, True])
    seed = ints([0, 3, 5])
    chosen = _next_seeds(active, idle, owner, flat, taken, seed)
    assert chosen.tolist() == [0]
    assert seed.tolist() == [1, 3, 5]


def test_enclose():
    got = _enclose(rows(A, A), rows([5, -2, 12, 8], [1, 1, 2, 2]))
    assert got.tolist() == [[0, -2, 12, 10], A]


@pytest.mark.parametrize(
    ("is_open", "pos", "count", "expected"),
    [
        ([1, 1, 1, 1], 0, 2, [0, 1]),
        ([0, 1, 0, 1, 1], 0, 2, [1, 3]),
        ([0, 1, 0, 1, 1], 2, 5, [3, 4]),
        ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 0, 1, [10]),  # past the first 4 * count window
        ([1, 1, 1], 3, 2, []),
        ([0, 0], 0, 3, []),
        ([], 0, 1, []),
    ],
)
def test_next_open_table(is_open, pos, count, expected):
    got = _next_open(np.array(is_open, dtype=bool), pos, count)
    assert got.tolist() == expected


# ------------------------------------------------------------------ batched NMM's rounds


def _batched(boxes, thr=0.5):
    """``nmm_batched`` over every row of ``boxes`` (one segment, IoU): the parents."""
    b = rows(*boxes)
    n = b.shape[0]
    parent = np.arange(n, dtype=np.int64)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    _numpy_nmm_batch.nmm_batched(np.arange(n), b, area, np.zeros(n, np.int64), IOU, thr, parent)
    return parent


def _units(*kinds):
    """Boxes of 10 x 10, 100 apart per unit: "L" one row, "P" two, "T" three, each box
    meeting the next 2 px deep (IoU 20 / 180, no join at 0.5: one region of seeds)."""
    boxes = []
    for i, kind in enumerate(kinds):
        x = [100 * i + 8 * j for j in range("LPT".index(kind) + 1)]
        boxes += [[x1, 0, x1 + 10, 10] for x1 in x]
    return boxes


def _round_log(monkeypatch):
    """Every round's ``(first position, seeds asked for)``, logged at ``_next_open``."""
    log, next_open = [], _numpy_nmm_batch._next_open

    def spy(is_open, pos, count):
        log.append((pos, count))
        return next_open(is_open, pos, count)

    monkeypatch.setattr(_numpy_nmm_batch, "_next_open", spy)
    return log


def test_batched_round_sizes_double_when_whole_and_halve_when_cut_early(monkeypatch):
    # rows 0-8 alone, 9-10 a pair, 11 alone, 12-13 a pair, 14-16 a chain of three, 17-19
    # alone; a region of more than one seed (REGION = 1) cuts the round at its second seed
    monkeypatch.setattr(_numpy_nmm_batch, "FIRST", 2)
    monkeypatch.setattr(_numpy_nmm_batch, "MOST", 8)
    monkeypatch.setattr(_numpy_nmm_batch, "REGION", 1)
    log = _round_log(monkeypatch)
    assert _batched(_units(*"LLLLLLLLLPLPTLLL")).tolist() == list(range(20))
    assert log == [
        (0, 2),  # whole: double
        (2, 4),  # whole: double
        (6, 8),  # cut at 4 of 8 (row 10): keep
        (10, 8),  # cut at 3 of 8 (row 13): halve
        (13, 4),  # cut at 2 of 4 (row 15): keep
        (15, 4),  # cut at 1 of 4 (row 16): halve
        (16, 2),  # whole: double
        (18, 4),  # whole (2 seeds left), then past the last row: no further round
    ]


@pytest.mark.parametrize(
    ("n", "sizes"),
    [
        (300, [256, 512]),
        (16200, [256, 512, 1024, 2048, 4096, 8192, 8192]),  # at most MOST = 8192
    ],
)
def test_batched_default_round_sizes(monkeypatch, n, sizes):
    # n rows alone (10 x 10 boxes 20 apart): every round whole, under the default sizes
    log = _round_log(monkeypatch)
    side = int(np.ceil(np.sqrt(n)))
    xy = np.stack([np.arange(n) % side, np.arange(n) // side], axis=1) * 20.0
    assert _batched(np.concatenate([xy, xy + 10], axis=1)).tolist() == list(range(n))
    assert [count for _, count in log] == sizes


def test_batched_region_of_more_than_region_seeds_cuts_at_its_next_seed(monkeypatch):
    # a chain of 34 boxes, each meeting the next 2 px deep (no join): one region of 34
    # seeds, cut at its 33rd (REGION = 32); the next round takes the last two
    log = _round_log(monkeypatch)
    assert _batched([[8 * j, 0, 8 * j + 10, 10] for j in range(34)]).tolist() == list(range(34))
    assert log == [(0, 256), (32, 256)]


def _speculation_cuts(monkeypatch):
    """The seed at which each round's speculation stopped (the seed count if none)."""
    log, speculate = [], _numpy_nmm_batch._speculate

    def spy(st, seeds, near_rows):
        got = speculate(st, seeds, near_rows)
        log.append(got[3])
        return got

    monkeypatch.setattr(_numpy_nmm_batch, "_speculate", spy)
    return log


@pytest.mark.parametrize(("n", "cuts"), [(24, [24]), (25, [0])])
def test_batched_speculation_stops_after_steps_growths(monkeypatch, n, cuts):
    # boxes 5 px apart at IoU >= 0: the first seed grows by one row per step, n - 1 steps;
    # past STEPS = 24 its speculation stops and it runs alone (one group either way)
    log = _speculation_cuts(monkeypatch)
    assert _batched([[5 * i, 0, 5 * i + 10, 10] for i in range(n)], thr=0.0).tolist() == [0] * n
    assert log == cuts


@pytest.mark.parametrize(("inside", "cuts"), [(511, [256]), (512, [0])])
def test_batched_speculation_stops_past_near_rows_met(monkeypatch, inside, cuts):
    # a box holding `inside` disjoint 1 x 1 boxes at IoU >= 0: the first seed meets
    # inside + 1 open rows (itself included); past NEAR = 512 its speculation stops and it
    # runs alone (it takes every row either way)
    log = _speculation_cuts(monkeypatch)
    k = np.arange(inside)
    xy = np.stack([k % 23, k // 23], axis=1) * 2.0 + 0.5
    boxes = [[0, 0, 47, 47], *np.concatenate([xy, xy + 1], axis=1).tolist()]
    assert _batched(boxes, thr=0.0).tolist() == [0] * (inside + 1)
    assert log == cuts


# the scene below turned so that row 2 leaves the region on each side in turn (y2 as given)
SIDES = {
    "y2": lambda b: b,
    "y1": lambda b: [b[0], 14 - b[3], b[2], 14 - b[1]],
    "x2": lambda b: [b[1], b[0], b[3], b[2]],
    "x1": lambda b: [14 - b[3], b[0], 14 - b[1], b[2]],
}


@pytest.mark.parametrize("side", SIDES.values(), ids=SIDES.keys())
def test_batched_seed_leaving_its_region_ends_the_round(monkeypatch, side):
    # rounds of 2 seeds at IoU 0.3. Row 0 stays alone (IoU 6/23, 4/28 and 4/24 with the
    # others). Row 1 speculates against every row open at round start: row 3 (6/11) grows
    # it to [0, 4, 3, 8], then row 0 (8/24) to [0, 4, 6, 8], and row 2 fails (6/30): the
    # region of rows 0 and 1 is [0, 4, 6, 8]. Settling, row 0 is taken, so row 1 takes row 3
    # then row 2 (6/18), whose y2 = 10 leaves the region: the round ends at row 1, whose
    # group is dropped, and row 1 seeds again next round (it takes 3 and 2, as in C)
    monkeypatch.setattr(_numpy_nmm_batch, "FIRST", 2)
    monkeypatch.setattr(_numpy_nmm_batch, "MOST", 2)
    log = _round_log(monkeypatch)
    boxes = [side(b) for b in [[1, 4, 6, 8], [0, 4, 3, 7], [0, 6, 3, 10], [0, 4, 2, 8]]]
    assert _batched(boxes, thr=0.3).tolist() == [0, 1, 1, 1]
    assert log == [(0, 2), (1, 2), (3, 2)]


def test_batched_round_size_halves_down_to_one_seed(monkeypatch):
    # rounds of 3 (not a power of two): cut at the pair's second seed, 1 of 3, halves to 1
    monkeypatch.setattr(_numpy_nmm_batch, "FIRST", 3)
    monkeypatch.setattr(_numpy_nmm_batch, "REGION", 1)
    log = _round_log(monkeypatch)
    assert _batched(_units(*"PL")).tolist() == [0, 1, 2]
    assert log == [(0, 3), (1, 1), (2, 2)]


@pytest.mark.parametrize("side", SIDES.values(), ids=SIDES.keys())
def test_batched_seed_reaching_its_region_side_settles(monkeypatch, side):
    # the scene above without its row 2: settling, row 1 takes row 3 alone and its box
    # [0, 4, 3, 8] reaches the region [0, 4, 6, 8] on three sides without leaving it, so the
    # round is whole and no row is left for a second one
    monkeypatch.setattr(_numpy_nmm_batch, "FIRST", 2)
    monkeypatch.setattr(_numpy_nmm_batch, "MOST", 2)
    log = _round_log(monkeypatch)
    boxes = [side(b) for b in [[1, 4, 6, 8], [0, 4, 3, 7], [0, 4, 2, 8]]]
    assert _batched(boxes, thr=0.3).tolist() == [0, 1, 1]
    assert log == [(0, 2), (2, 2)]


def test_batched_region_cut_keeps_joins_of_other_regions_in_that_step(monkeypatch):
    # the scene above (rows 1, 3, 4, 5) beside a copy of its region shifted 100 px (rows 0,
    # 2, 6, 7; row 7 equals row 2), in one round of 4 seeds (0 to 3). Settling, row 2 takes
    # row 6, then row 7 (deferred twice behind growing rows) in the step where row 3's
    # group leaves its region: the round ends at row 3, and row 7's join stands
    monkeypatch.setattr(_numpy_nmm_batch, "FIRST", 4)
    monkeypatch.setattr(_numpy_nmm_batch, "MOST", 4)
    log = _round_log(monkeypatch)
    near = [[1, 4, 6, 8], [0, 4, 3, 7], [0, 6, 3, 10], [0, 4, 2, 8]]
    far = [np.add(b, [100, 0, 100, 0]).tolist() for b in near]
    boxes = [far[0], near[0], far[1], near[1], near[2], near[3], far[3], far[1]]
    assert _batched(boxes, thr=0.3).tolist() == [0, 1, 2, 3, 3, 3, 2, 2]
    assert log == [(0, 4), (3, 4), (6, 4)]
