"""The numpy twin's WBF, on hand-worked cases.

``_numpy_wbf`` (component labels with their slack, cluster sums and fused boxes, small
components in lockstep, unbounded segments alone) and ``_numpy_wbf_batch`` (large
components in rounds of regions) each get exact tables here. ``test_kernels_twin.py``
compares the whole twin with the C extension. (Added for the mutation scores of the kernel
twin; see docs/testing.md.)
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_kernels_numpy_nmm_parts import SUB_1, SUB_2, _side_by_side
from tilewise.kernels import _numpy_components, _numpy_wbf, _numpy_wbf_batch
from tilewise.kernels._numpy_grid import area_of
from tilewise.kernels._numpy_wbf import _Clusters, _labels, wbf

IOU, IOS = 0, 1
NAN, INF = float("nan"), float("inf")


def rows(*boxes):
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


def ints(values):
    return np.array(values, dtype=np.int64)


A = [0, 0, 10, 10]
RIGHT = [5, 0, 15, 10]  # IoU with A 1/3
PAST = [20, 0, 30, 10]  # apart from A
BRIDGE = [5, 0, 25, 10]  # IoU 0.2 with A and with PAST: a tie
BRIDGE_A = [4, 0, 25, 10]  # IoU 60/250 = 0.24 with A, 50/260 with PAST
BRIDGE_P = [5, 0, 26, 10]  # IoU 50/260 with A, 60/250 = 0.24 with PAST
R4 = [4, 0, 14, 10]  # IoU with A 60/140; fused with A (weights 1, 1): [2, 0, 12, 10]
NEXT = [11, 0, 21, 10]  # apart from A; IoU 10/190 with [2, 0, 12, 10]
WIDE = [0, 0, 20, 10]  # IoU with A 0.5
SMALL = [0, 0, 2, 2]  # IoS with A 1
FLAT = [0, 0, 0, 10]
THIN = [1, 0, float(np.nextafter(1.0, 2.0)), 10]

# (boxes, confidence, metric, threshold, parent): one segment, rows in rank order
WBF_TABLE = {
    "above-threshold": ([A, RIGHT], [1, 1], IOU, 0.3, [0, 0]),
    "at-threshold-apart": ([A, RIGHT], [1, 1], IOU, 1 / 3, [0, 1]),
    "tie-to-smallest-rank": ([A, PAST, BRIDGE], [1, 1, 1], IOU, 0.1, [0, 1, 0]),
    "best-overlap-first": ([A, PAST, BRIDGE_A], [1, 1, 1], IOU, 0.1, [0, 1, 0]),
    "best-overlap-second": ([A, PAST, BRIDGE_P], [1, 1, 1], IOU, 0.1, [0, 1, 1]),
    # NEXT misses A but meets the fused box [2, 0, 12, 10]
    "fused-box-reaches": ([A, R4, NEXT], [1, 1, 1], IOU, 0.05, [0, 0, 0]),
    # weights 3 and 1 fuse to [1, 0, 11, 10], which NEXT only touches
    "weights-move-the-box": ([A, R4, NEXT], [3, 1, 1], IOU, 0.05, [0, 0, 2]),
    "zero-weights-plain-mean": ([A, R4, NEXT], [0, 0, 0], IOU, 0.05, [0, 0, 0]),
    # weights 1 and -0.5 fuse to (A - 0.5 WIDE) / 0.5 = [0, 0, 0, 10]: the cluster retires
    "fused-zero-area-retires": ([A, WIDE, A], [1, -0.5, 1], IOU, 0.4, [0, 0, 2]),
    "positive-weights-keep-it": ([A, WIDE, A], [1, 0.5, 1], IOU, 0.4, [0, 0, 0]),
    # weights 1 and -1 sum to 0: the plain mean [0, 0, 15, 10], which [12, 0, 22, 10] meets
    "weight-sum-zero-plain-mean": ([A, WIDE, [12, 0, 22, 10]], [1, -1, 1], IOU, 0.1, [0, 0, 0]),
    # row 2 joins the first of two live clusters; the second stays PAST, which row 3
    # meets at IoU 1/3
    "join-leaves-other-clusters": ([A, PAST, A, [25, 0, 35, 10]], [1] * 4, IOU, 0.3, [0, 1, 0, 1]),
    "ios": ([A, SMALL], [1, 1], IOS, 0.9, [0, 0]),
    "ios-at-threshold-apart": ([A, SMALL], [1, 1], IOS, 1.0, [0, 1]),
    "zero-area-rows": ([FLAT, A, FLAT, A], [1, 1, 1, 1], IOU, 0.0, [0, 1, 2, 1]),
    # on the area window's edges at IoU 0.49 too (see SUB_1): IoU 0.5 > 0.49
    "subnormal-on-upper-window-edge": ([SUB_1, SUB_2], [1, 1], IOU, 0.49, [0, 0]),
    "subnormal-on-lower-window-edge": ([SUB_2, SUB_1], [1, 1], IOU, 0.49, [0, 0]),
    "one-row": ([A], [1], IOU, 0.5, [0]),
    "no-rows": ([], [], IOU, 0.5, []),
    # row 1 joins row 0's cluster: fused box [2.5, 2.5, 12.5, 12.5] (shifted in y in the
    # first and third), which row 2 meets (IoU 0.01) though it meets neither row: row 2
    # must see the cluster after the join. In a round after row 0's, row 1's zone must
    # reach out to row 0's box on row 2's side (left, down, right), by that side's own
    # coordinate (row 0's x1 and y1, or x2 and y2, far apart)
    "zone-reaches-left": (
        [[0, 100, 10, 110], [5, 105, 15, 115], [3, 111, 4, 112]],
        [1] * 3,
        IOU,
        0.005,
        [0, 0, 0],
    ),
    "zone-reaches-down": ([A, [5, 5, 15, 15], [11, 3, 12, 4]], [1] * 3, IOU, 0.005, [0, 0, 0]),
    "zone-reaches-right": (
        [[5, -95, 15, -85], [0, -100, 10, -90], [11, -97, 12, -96]],
        [1] * 3,
        IOU,
        0.005,
        [0, 0, 0],
    ),
    # (0.7 * 10 + 0.6 * 10) / 1.3 rounds to 10 + 2**-49: the fused box reaches past both
    # members into row 2, which only touches them (widened zones share a region)
    "fused-rounds-past-members": ([A, A, [10, 0, 20, 10]], [0.7, 0.6, 0.5], IOU, 0.0, [0, 0, 0]),
    # two boxes one ulp wide at x = 1: with weights 0.6 and 0.5 both fused sides round to 1,
    # so the cluster retires though every weight is positive; row 2 (on its old box) starts
    "positive-weights-round-to-zero-area": (
        [THIN, THIN, THIN],
        [0.6, 0.5, 0.4],
        IOU,
        0.5,
        [0, 0, 2],
    ),
}

PATHS = [
    "lockstep",
    "two-small",
    "batched",
    "first-row-alone",
    "tiny-rounds",
    "whole-segments",
    "alone",
]


def _paths(monkeypatch, path):
    """Send the components through one of WBF's routes."""
    if path == "lockstep":
        return
    if path == "two-small":  # components of 2 rows step in lockstep, larger ones in rounds
        monkeypatch.setattr(_numpy_wbf, "SMALL", 2)
        return
    monkeypatch.setattr(_numpy_wbf, "SMALL", 1)  # every component of 2+ rows is large
    if path == "first-row-alone":  # rounds of 1, 2, 4, ... rows, the other sizes as they are
        monkeypatch.setattr(_numpy_wbf_batch, "FIRST", 1)
    if path == "tiny-rounds":  # rounds of one or two rows, regions cut, index rebuilt
        monkeypatch.setattr(_numpy_wbf_batch, "FIRST", 1)
        monkeypatch.setattr(_numpy_wbf_batch, "MOST", 2)
        monkeypatch.setattr(_numpy_wbf_batch, "REGION", 1)
        monkeypatch.setattr(_numpy_wbf_batch, "REBUILD", 1)
    if path == "whole-segments":
        monkeypatch.setattr(_numpy_components, "DENSE_ROWS", 0)
        monkeypatch.setattr(_numpy_components, "DENSE_COVER", 0.0)


def _conf(conf, path):
    # weights times 2**400 (exact) break the bound on weights: every segment with a
    # positive weight is one component, large ones run alone, with the same parents
    c = np.array(conf, dtype=np.float64)
    return c * 2.0**400 if path == "alone" else c


@pytest.mark.parametrize(
    ("boxes", "conf", "metric", "thr", "parent"), WBF_TABLE.values(), ids=WBF_TABLE.keys()
)
@pytest.mark.parametrize("path", PATHS)
def test_wbf_table(monkeypatch, path, boxes, conf, metric, thr, parent):
    _paths(monkeypatch, path)
    b = rows(*boxes)
    got = wbf(b, _conf(conf, path), np.zeros(b.shape[0], np.int64), metric, thr)
    assert got.tolist() == parent
    assert got.dtype == np.int64


# parents at IoU 0.05 (weights 1) of cases of 3, 3, 2, 2 and 1 rows
AT_0_05 = [
    ([A, R4, NEXT], [0, 0, 0]),
    ([A, PAST, BRIDGE_P], [0, 1, 1]),  # 50/260 and 0.24 both pass: the best wins
    ([A, RIGHT], [0, 0]),
    ([A, SMALL], [0, 1]),  # IoU 0.04
    ([A], [0]),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("segments", [False, True], ids=["far-apart", "segments"])
def test_wbf_many_components_at_once(monkeypatch, path, segments):
    _paths(monkeypatch, path)
    b, seg, parent = _side_by_side(AT_0_05, segments)
    conf = _conf(np.ones(b.shape[0]), path)
    assert wbf(b, conf, seg, IOU, 0.05).tolist() == parent


# ----------------------------------------------------------------------------- parts


@pytest.mark.parametrize(
    ("conf", "reach", "bad", "label"),
    [
        (1.0, 20.0, False, [0, 1]),
        (0.0, 20.0, False, [0, 1]),
        (1e-100, 20.0, False, [0, 1]),
        (9.99e-101, 20.0, True, [0, 0]),
        (1e100, 20.0, False, [0, 1]),
        (1.0000001e100, 20.0, True, [0, 0]),
        (-0.5, 20.0, True, [0, 0]),
        (NAN, 20.0, True, [0, 0]),
        (INF, 20.0, True, [0, 0]),
        (1.0, 9.9e199, False, [0, 1]),  # a slack of 9.9e193: still apart
        (1.0, 1e200, True, [0, 0]),
    ],
)
def test_labels_bound_on_weights_and_coordinates(conf, reach, bad, label):
    # segment 0: a box reaching ``reach`` on the left and A, apart; segment 1: A, A
    boxes = rows([-reach, 0, -reach + 1, 1], A, A, A)
    got, slack, is_bad = _labels(boxes, np.array([conf, 1.0, 1.0, 1.0]), ints([0, 0, 1, 1]))
    assert is_bad.tolist() == [bad, bad, False, False]
    assert got.tolist() == [*label, 2, 2]
    want = 1e-6 * reach + 1e-200
    assert slack.tolist() == [want, want, 1e-6 * 10.0 + 1e-200, 1e-6 * 10.0 + 1e-200]


def test_labels_slack_from_the_farthest_coordinate_of_the_segment():
    # segment 2's coordinates are so small that the 1e-200 term shows
    boxes = rows([0, 0, 10, 10], [0, -30, 10, -25], [0, 0, 4, 4], [0, 0, 1e-190, 1e-190])
    label, slack, bad = _labels(boxes, np.ones(4), ints([0, 0, 1, 2]))
    tiny = 1e-6 * 1e-190 + 1e-200
    assert tiny == 1.0001e-196
    assert slack.tolist() == [1e-6 * 30 + 1e-200, 1e-6 * 30 + 1e-200, 1e-6 * 4 + 1e-200, tiny]
    assert (label.tolist(), bad.tolist()) == ([0, 1, 2, 3], [False] * 4)


def test_labels_first_row_of_a_bad_segment_after_a_good_one():
    # segment 1 (rows 2..4) is bad: all its rows carry its first row, 2
    boxes = rows(A, [50, 50, 60, 60], A, [50, 50, 60, 60], [80, 80, 90, 90])
    conf = np.array([1.0, 1.0, 1.0, -1.0, 1.0])
    label, _, bad = _labels(boxes, conf, ints([0, 0, 1, 1, 1]))
    assert label.tolist() == [0, 1, 2, 2, 2]
    assert bad.tolist() == [False, False, True, True, True]


def test_clusters_start_and_join_keep_exact_sums():
    boxes = rows(A, R4, [0, 0, 8, 8])
    cl = _Clusters(boxes, area_of(boxes), np.array([3.0, 1.0, 2.0]))
    assert cl.live.tolist() == [False, False, False]
    cl.start(ints([0, 2]))
    assert cl.live.tolist() == [True, False, True]
    assert cl.sums[0].tolist() == [0, 0, 30, 30, 0, 0, 10, 10, 3]
    assert (cl.fused[2].tolist(), cl.fused_area[2], cl.count[2]) == ([0, 0, 8, 8], 64.0, 1.0)
    cl.join(ints([0]), ints([1]))
    assert cl.sums[0].tolist() == [4, 0, 44, 40, 4, 0, 24, 20, 4]
    assert cl.count.tolist() == [2.0, 0.0, 1.0]
    assert cl.fused[0].tolist() == [1, 0, 11, 10]  # (3 A + R4) / 4
    assert cl.fused_area[0] == 100.0
    assert cl.live.tolist() == [True, False, True]


def test_clusters_join_without_positive_weight_takes_the_mean():
    boxes = rows(A, R4, NEXT)
    cl = _Clusters(boxes, area_of(boxes), np.array([1.0, -1.0, 0.0]))
    cl.start(ints([0]))
    cl.join(ints([0]), ints([1]))  # weights sum to 0: the mean of A and R4
    assert cl.fused[0].tolist() == [2, 0, 12, 10]
    assert cl.fused_area[0] == 100.0
    cl.join(ints([0]), ints([2]))  # still 0
    assert cl.fused[0].tolist() == [5, 0, 15, 10]
    assert cl.count[0] == 3.0


def test_clusters_join_to_zero_area_retires_and_keeps_the_last_box():
    boxes = rows(A, WIDE)
    cl = _Clusters(boxes, area_of(boxes), np.array([1.0, -0.5]))
    cl.start(ints([0]))
    cl.join(ints([0]), ints([1]))  # (A - 0.5 WIDE) / 0.5 = [0, 0, 0, 10]
    assert cl.live.tolist() == [False, False]
    assert (cl.fused[0].tolist(), cl.fused_area[0]) == (A, 100.0)


def test_clusters_join_several_at_once():
    boxes = rows(A, PAST, RIGHT, [25, 0, 35, 10])
    cl = _Clusters(boxes, area_of(boxes), np.ones(4))
    cl.start(ints([0, 1]))
    cl.join(ints([1, 0]), ints([3, 2]))
    assert cl.fused[:2].tolist() == [[2.5, 0, 12.5, 10], [22.5, 0, 32.5, 10]]
    assert cl.count.tolist() == [2.0, 2.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("cand", "metric", "thr", "choice"),
    [
        ([[0, 1]], IOU, 0.1, [0]),  # BRIDGE: 0.2 with both, tie to the first column
        ([[1, 0]], IOU, 0.1, [0]),  # the first column, whichever cluster it names
        ([[0, 1]], IOU, 0.2, [-1]),  # 0.2 > 0.2 fails
        ([[0, 1]], IOU, 0.19, [0]),
        ([[0, 1]], IOS, 0.5, [-1]),  # IoS 0.5 with both
        ([[0, 1]], IOS, 0.5 - 1e-9, [0]),
        ([[0, 3], [1, 0]], IOU, 0.1, [0, 0]),  # cluster 3 is not live
        ([[3, 3]], IOU, -1.0, [-1]),
    ],
)
def test_clusters_best_table(cand, metric, thr, choice):
    boxes = rows(A, PAST, BRIDGE, [5, 0, 25, 10])
    cl = _Clusters(boxes, area_of(boxes), np.ones(4))
    cl.start(ints([0, 1]))
    j = ints([2] * len(cand))
    assert cl.best(ints(cand), j, metric, thr).tolist() == choice


def test_clusters_best_picks_the_highest_overlap():
    boxes = rows(A, PAST, BRIDGE_P, BRIDGE_A)
    cl = _Clusters(boxes, area_of(boxes), np.ones(4))
    cl.start(ints([0, 1]))
    assert cl.best(ints([[0, 1], [0, 1]]), ints([2, 3]), IOU, 0.1).tolist() == [1, 0]
    assert cl.best(ints([[0, 1], [0, 1]]), ints([2, 3]), IOU, 0.2).tolist() == [1, 0]
    assert cl.best(ints([[0, 1], [0, 1]]), ints([2, 3]), IOU, 0.24).tolist() == [-1, -1]


# ------------------------------------------------------------ rounds of _numpy_wbf_batch


def _slot(*slots):
    """Boxes of side 10, 20 apart: rows on the same slot are equal (IoU 1)."""
    return rows(*[[20 * s, 0, 20 * s + 10, 10] for s in slots])


def _batched(boxes, thr=0.5):
    cl = _Clusters(boxes, area_of(boxes), np.ones(boxes.shape[0]))
    n = boxes.shape[0]
    slack = np.full(n, 1e-6 * np.abs(boxes).max() + 1e-200)
    return _numpy_wbf_batch.wbf_batched(cl, np.zeros(n, np.int64), slack, IOU, thr)


def test_batched_round_sizes_double_when_whole_and_halve_when_cut_early(monkeypatch):
    # FIRST 3, regions of one row: a round is cut at the second row of a region. Rounds
    # as (first row, rows, rows done): cut at 1 of 3 (under half: 3 // 2 = 1), whole
    # (1 -> 2, 2 -> 4), cut at exactly half (2 of 4: stays 4), cut at 1 of 4 (4 // 2 = 2),
    # whole twice; MOST as it is
    monkeypatch.setattr(_numpy_wbf_batch, "FIRST", 3)
    monkeypatch.setattr(_numpy_wbf_batch, "REGION", 1)
    log = []
    real = _numpy_wbf_batch._round

    def spy(cl, fused, batch, *args):
        done = real(cl, fused, batch, *args)
        log.append((int(batch[0]), batch.shape[0], done))
        return done

    monkeypatch.setattr(_numpy_wbf_batch, "_round", spy)
    parent = _batched(_slot(0, 0, 1, 2, 3, 4, 4, 4, 5, 6, 7))
    assert parent.tolist() == [0, 0, 2, 3, 4, 5, 5, 5, 8, 9, 10]
    assert log == [(0, 3, 1), (1, 1, 1), (2, 2, 2), (4, 4, 2), (6, 4, 1), (7, 2, 2), (9, 2, 2)]


@pytest.mark.parametrize(
    ("rebuild", "rebuilt"),
    [
        # rounds of 2 rows (room 4 x 2 = 8): rebuilt once 10 rows were handled since
        (1, [False] * 4 + [True] + [False] * 4 + [True]),
        (None, [False] * 10),  # under REBUILD as it is
    ],
)
def test_batched_main_index_rebuilt_past_rebuild_and_room(monkeypatch, rebuild, rebuilt):
    monkeypatch.setattr(_numpy_wbf_batch, "FIRST", 2)
    monkeypatch.setattr(_numpy_wbf_batch, "MOST", 2)
    if rebuild is not None:
        monkeypatch.setattr(_numpy_wbf_batch, "REBUILD", rebuild)
    log = []

    class Spy(_numpy_wbf_batch._Fused):
        def touched(self, rows, room):
            main = self.main
            super().touched(rows, room)
            log.append(self.main is not main)

    monkeypatch.setattr(_numpy_wbf_batch, "_Fused", Spy)
    assert _batched(_slot(*range(20))).tolist() == list(range(20))
    assert log == rebuilt


def test_fused_query_finds_live_clusters_at_their_current_box(monkeypatch):
    # clusters 0, 1, 2 start and are indexed (main); then row 3 moves cluster 1 from
    # [20, 0, 30, 10] to [30, 10, 40, 20] and row 4 retires cluster 2 (weights 1, -0.5:
    # fused [40, 0, 40, 10]), so the main index holds an old box of 1 and a dead 2
    monkeypatch.setattr(_numpy_wbf_batch, "REBUILD", 0)
    boxes = rows(A, [20, 0, 30, 10], [40, 0, 50, 10], [40, 20, 50, 30], [40, 0, 60, 10])
    cl = _Clusters(boxes, area_of(boxes), np.array([1.0, 1.0, 1.0, 1.0, -0.5]))
    parent = np.arange(5, dtype=np.int64)
    fused = _numpy_wbf_batch._Fused(cl, np.zeros(5, np.int64), parent)
    cl.start(ints([0, 1, 2]))
    fused.touched(ints([0, 1, 2]), 0)
    assert fused.main is not None
    cl.join(ints([1, 2]), ints([3, 4]))
    parent[[3, 4]] = [1, 2]
    fused.touched(ints([3, 4]), 100)
    assert cl.live.tolist() == [True, True, False, False, False]
    # queries meeting: cluster 1's old box only, its new box, A, both of 1's boxes, the
    # dead cluster's last box
    q = rows([21, 1, 22, 2], [35, 15, 36, 16], [5, 5, 6, 6], [29, 9, 31, 11], [45, 5, 46, 6])
    qi, c = fused.query(q, np.zeros(5, np.int64))
    assert sorted(zip(qi.tolist(), c.tolist(), strict=True)) == [(1, 1), (2, 0), (3, 1)]
