"""Exact cases for the merge kernels: hand-made boxes, expected survivors and parents."""

from __future__ import annotations

import numpy as np
import pytest

from tilewise import TilewiseError
from tilewise.merge import (
    MergeAction,
    greedy_nmm_kernel,
    nmm_kernel,
    nms_kernel,
    wbf_kernel,
)

pytestmark = pytest.mark.usefixtures("kernel_backend")

KERNELS = {
    "nms": nms_kernel,
    "greedy_nmm": greedy_nmm_kernel,
    "nmm": nmm_kernel,
    "wbf": wbf_kernel,
}

# chain A~B~C: only A-B and B-C overlap, IoU(A,B) = IoU(B,C) = 0.25
CHAIN = [[0, 0, 10, 10], [6, 0, 16, 10], [12, 0, 22, 10]]
# X matches the seed A exactly at IoU 0.5; after X joins, the grown box loses Y
SEED_LOSES = [[0, 0, 10, 10], [0, 0, 10, 20], [0, 0, 11, 10]]
# C overlaps kept A (IoU 0.3) and kept B (IoU 0.444)
TWO_SUPPRESSORS = [[0, 0, 10, 10], [12, 0, 22, 10], [4, 0, 20, 10]]
# C overlaps A and B with exactly equal IoU 0.2
EQUAL_OVERLAPS = [[0, 0, 10, 10], [20, 0, 30, 10], [5, 0, 25, 10]]
# a small box inside a big one: IoU 0.04, IoS 1
CONTAINED = [[0, 0, 20, 20], [2, 2, 6, 6]]
# touching edges and a sliver of overlap
TOUCHING = [[0, 0, 10, 10], [10, 0, 20, 10], [9, 0, 19, 10]]
# C matches WBF's moving fused box of A and B (IoU 0.333) but not A itself (0.176)
FUSED_MOVES = [[0, 0, 10, 10], [4, 0, 14, 10], [7, 0, 17, 10]]

CASES = [
    # (boxes, confidence, class_id, kwargs, {method: (keep, parent)})
    pytest.param(
        CHAIN,
        [0.9, 0.8, 0.7],
        None,
        {"threshold": 0.2},
        {
            "nms": ([0, 2], [0, 0, 2]),
            "greedy_nmm": ([0, 2], [0, 0, 2]),
            "nmm": ([0, 2], [0, 0, 2]),
            "wbf": ([0, 2], [0, 0, 2]),
        },
        id="chain-seed-only",
    ),
    pytest.param(
        CHAIN,
        [0.9, 0.8, 0.7],
        None,
        {"threshold": 0.15},
        {
            "nms": ([0, 2], [0, 0, 2]),
            "greedy_nmm": ([0, 2], [0, 0, 2]),
            "nmm": ([0], [0, 0, 0]),  # the grown box [0, 0, 16, 10] captures C (IoU 0.18)
            "wbf": ([0, 2], [0, 0, 2]),
        },
        id="chain-nmm-grown-box-captures",
    ),
    pytest.param(
        SEED_LOSES,
        [0.9, 0.8, 0.7],
        None,
        {"threshold": 0.5},
        {
            "nms": ([0, 1], [0, 1, 0]),  # IoU 0.5 is not > 0.5
            "greedy_nmm": ([0], [0, 0, 0]),  # IoU 0.5 >= 0.5
            "nmm": ([0, 2], [0, 0, 2]),  # Y fails the grown box (IoU 0.476)
            "wbf": ([0, 1], [0, 1, 0]),
        },
        id="threshold-boundary-and-nmm-loses",
    ),
    pytest.param(
        TWO_SUPPRESSORS,
        [0.9, 0.8, 0.7],
        None,
        {"threshold": 0.25},
        {
            "nms": ([0, 1], [0, 1, 0]),  # highest-ranked suppressor, not the best overlap
            "greedy_nmm": ([0, 1], [0, 1, 0]),
            "nmm": ([0], [0, 0, 0]),  # after C joins, the grown box takes B (IoU 0.36)
            "wbf": ([0, 1], [0, 1, 1]),  # the best-overlapping cluster
        },
        id="parent-is-highest-ranked",
    ),
    pytest.param(
        EQUAL_OVERLAPS,
        [0.9, 0.8, 0.7],
        None,
        {"threshold": 0.1},
        {
            "nms": ([0, 1], [0, 1, 0]),
            "greedy_nmm": ([0, 1], [0, 1, 0]),
            "nmm": ([0], [0, 0, 0]),
            "wbf": ([0, 1], [0, 1, 0]),  # tie: the earliest cluster
        },
        id="wbf-tie-earliest-cluster",
    ),
    pytest.param(
        CONTAINED,
        [0.6, 0.9],
        None,
        {"threshold": 0.5, "metric": "iou"},
        {m: ([1, 0], [0, 1]) for m in KERNELS},
        id="containment-iou",
    ),
    pytest.param(
        CONTAINED,
        [0.6, 0.9],
        None,
        {"threshold": 0.5, "metric": "ios"},
        {m: ([1], [1, 1]) for m in KERNELS},
        id="containment-ios",
    ),
    pytest.param(
        [[0, 0, 10, 10], [0, 0, 10, 10]],
        [0.5, 0.5],
        None,
        {"threshold": 0.5},
        {m: ([0], [0, 0]) for m in KERNELS},
        id="tie-in-confidence-stable-by-index",
    ),
    pytest.param(
        [[0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 10]],
        [0.5, 0.7, 0.5],
        None,
        {"threshold": 0.5},
        {m: ([1, 0], [0, 1, 0]) for m in KERNELS},
        id="tie-rank-order",
    ),
    pytest.param(
        [[0, 0, 10, 10], [0, 0, 10, 10]],
        [0.9, 0.8],
        [0, 1],
        {"threshold": 0.5},
        {m: ([0, 1], [0, 1]) for m in KERNELS},
        id="per-class",
    ),
    pytest.param(
        [[0, 0, 10, 10], [0, 0, 10, 10]],
        [0.9, 0.8],
        [0, 1],
        {"threshold": 0.5, "class_agnostic": True},
        {m: ([0], [0, 0]) for m in KERNELS},
        id="class-agnostic",
    ),
    pytest.param(
        [[0, 0, 10, 10], [0, 0, 10, 10]],
        [0.9, 0.8],
        None,
        {"threshold": 1.0},
        {
            "nms": ([0, 1], [0, 1]),  # IoU 1 is not > 1
            "greedy_nmm": ([0], [0, 0]),
            "nmm": ([0], [0, 0]),
            "wbf": ([0, 1], [0, 1]),
        },
        id="threshold-one",
    ),
    pytest.param(
        TOUCHING,
        [0.9, 0.8, 0.7],
        None,
        {"threshold": 0.0},
        {"nms": ([0, 1], [0, 1, 0])},  # touching is no overlap; a sliver is
        id="nms-threshold-zero",
    ),
    pytest.param(
        FUSED_MOVES,
        [0.5, 0.5, 0.4],
        None,
        {"threshold": 0.3},
        {
            "nms": ([0, 2], [0, 0, 2]),
            "greedy_nmm": ([0, 2], [0, 0, 2]),
            "nmm": ([0], [0, 0, 0]),
            "wbf": ([0], [0, 0, 0]),  # C matches the fused box [2, 0, 12, 10]
        },
        id="wbf-fused-box-moves",
    ),
    pytest.param(
        [[0, 0, 10, 10], [5, 0, 5, 10], [3, 3, 2, 8]],
        [0.5, 0.9, 0.8],
        None,
        {"threshold": 0.1, "metric": "ios"},
        {m: ([1, 2, 0], [0, 1, 2]) for m in KERNELS},
        id="zero-area-and-inverted-boxes-stay-alone",
    ),
]


@pytest.mark.parametrize(("boxes", "conf", "cls", "kwargs", "expected"), CASES)
def test_exact_cases(boxes, conf, cls, kwargs, expected):
    for method, (keep, parent) in expected.items():
        res = KERNELS[method](np.array(boxes), np.array(conf), cls, **kwargs)
        assert res.keep.tolist() == keep, method
        assert res.parent.tolist() == parent, method
        assert res.keep.dtype == np.int64
        assert res.parent.dtype == np.int64
        res.validate()


def test_actions():
    boxes, conf = np.array(CHAIN), np.array([0.9, 0.8, 0.7])
    assert nms_kernel(boxes, conf).action is MergeAction.SUPPRESSED
    for kernel in (nmm_kernel, greedy_nmm_kernel, wbf_kernel):
        assert kernel(boxes, conf).action is MergeAction.MERGED


@pytest.mark.parametrize("kernel", KERNELS.values())
def test_empty_input(kernel):
    res = kernel(np.zeros((0, 4)), np.zeros(0))
    assert res.n_inputs == 0
    assert res.n_kept == 0
    res.validate()
    assert kernel([], []).n_inputs == 0


@pytest.mark.parametrize("kernel", KERNELS.values())
def test_accepts_int_float32_and_lists(kernel):
    a = kernel([[0, 0, 10, 10], [1, 0, 11, 10]], [0.5, 0.6])
    b = kernel(np.array([[0, 0, 10, 10], [1, 0, 11, 10]], dtype=np.float32), [0.5, 0.6])
    assert a.keep.tolist() == b.keep.tolist() == [1]


@pytest.mark.parametrize("kernel", KERNELS.values())
def test_does_not_modify_inputs(kernel):
    boxes = np.array(CHAIN, dtype=np.float32)
    conf = np.array([0.7, 0.9, 0.8], dtype=np.float32)
    cls = np.array([0, 0, 1])
    copies = boxes.copy(), conf.copy(), cls.copy()
    kernel(boxes, conf, cls, threshold=0.1)
    for before, after in zip(copies, (boxes, conf, cls), strict=True):
        np.testing.assert_array_equal(before, after)


def test_many_classes_each_alone():
    n = 500
    boxes = np.tile([[0.0, 0, 10, 10]], (n, 1))
    res = nmm_kernel(boxes, np.linspace(1, 0, n), np.arange(n))
    assert res.n_kept == n
    assert nmm_kernel(boxes, np.linspace(1, 0, n), np.arange(n), class_agnostic=True).n_kept == 1


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("kernel", KERNELS.values())
@pytest.mark.parametrize(
    ("boxes", "conf", "cls", "match"),
    [
        ([[0, 0, 1]], [0.5], None, "shape"),
        ([0, 0, 1, 1], [0.5], None, "shape"),
        ([[0, 0, 1, 1]], [0.5, 0.6], None, "confidence must have shape"),
        ([[0, 0, 1, 1]], [[0.5]], None, "confidence must have shape"),
        ([[0, 0, np.nan, 1]], [0.5], None, "NaN"),
        ([[0, 0, np.inf, 1]], [0.5], None, "infinite"),
        ([[0, 0, 1, 1]], [np.nan], None, "NaN"),
        ([[0, 0, 1, 1]], [0.5], [0.5], "class_id must hold integers"),
        ([[0, 0, 1, 1]], [0.5], [0, 1], "class_id must have shape"),
        ([[True, False, True, True]], [0.5], None, "numeric"),
        ([["a", "b", "c", "d"]], [0.5], None, "numeric"),
        ([[0, 0, 1e200, 1]], [0.5], None, "magnitude"),
    ],
)
def test_bad_arrays(kernel, boxes, conf, cls, match):
    with pytest.raises(TilewiseError, match=match):
        kernel(np.array(boxes), np.array(conf), cls)


@pytest.mark.parametrize("kernel", KERNELS.values())
@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan"), "0.5", True, None])
def test_bad_threshold(kernel, threshold):
    with pytest.raises(TilewiseError, match="threshold"):
        kernel([[0, 0, 1, 1]], [0.5], threshold=threshold)


@pytest.mark.parametrize("kernel", [nmm_kernel, greedy_nmm_kernel, wbf_kernel])
def test_merging_threshold_zero_is_refused(kernel):
    with pytest.raises(TilewiseError, match=r"\(0, 1\]"):
        kernel([[0, 0, 1, 1]], [0.5], threshold=0.0)


def test_nms_threshold_zero_is_allowed():
    assert nms_kernel([[0, 0, 1, 1]], [0.5], threshold=0).n_kept == 1


@pytest.mark.parametrize("kernel", KERNELS.values())
def test_unknown_metric(kernel):
    with pytest.raises(TilewiseError, match=r"metric must be one of \['iou', 'ios'\]"):
        kernel([[0, 0, 1, 1]], [0.5], metric="dice")


@pytest.mark.parametrize("kernel", KERNELS.values())
def test_metric_is_case_insensitive(kernel):
    assert kernel(np.array(CONTAINED), [0.6, 0.9], metric="IoS").n_kept == 1


def test_class_agnostic_must_be_bool():
    with pytest.raises(TilewiseError, match="class_agnostic"):
        nms_kernel([[0, 0, 1, 1]], [0.5], class_agnostic="yes")


def test_wbf_refuses_negative_confidence():
    with pytest.raises(TilewiseError, match=">= 0"):
        wbf_kernel([[0, 0, 1, 1], [0, 0, 1, 1]], [0.5, -0.1])


def test_negative_confidence_ranks_last_elsewhere():
    res = nms_kernel([[0, 0, 10, 10], [0, 0, 10, 10]], [-1.0, -0.5])
    assert res.keep.tolist() == [1]
