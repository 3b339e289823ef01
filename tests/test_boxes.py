from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tilewise import Metric, TilewiseError
from tilewise.boxes import box_area, box_ios, box_iou, box_overlap, clip_boxes, paired_overlap

PAIRS = [
    # a, b, iou, ios
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0, 1.0),
    ([0, 0, 10, 10], [10, 0, 20, 10], 0.0, 0.0),  # touching edges
    ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150, 0.5),
    ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100, 1.0),  # containment
    ([0, 0, 10, 10], [20, 20, 30, 30], 0.0, 0.0),
    ([0, 0, 0, 10], [0, 0, 10, 10], 0.0, 0.0),  # degenerate
    ([0, 0, 4, 2], [2, 0, 6, 2], 4 / 12, 0.5),
]


@pytest.mark.parametrize(("a", "b", "iou", "ios"), PAIRS)
def test_overlap_table(a, b, iou, ios):
    assert box_iou(np.array([a]), np.array([b]))[0, 0] == pytest.approx(iou)
    assert box_ios(np.array([a]), np.array([b]))[0, 0] == pytest.approx(ios)
    assert paired_overlap(np.array([a]), np.array([b]), "iou")[0] == pytest.approx(iou)
    assert paired_overlap(np.array([a]), np.array([b]), Metric.IOS)[0] == pytest.approx(ios)


def test_area_and_clip():
    assert box_area(np.array([[0, 0, 2, 3], [1, 1, 0, 5]])).tolist() == [6, 0]
    clipped = clip_boxes(np.array([[-5, -1, 120, 30], [10, 10, 20, 20]], np.float32), (100, 25))
    assert clipped.tolist() == [[0, 0, 100, 25], [10, 10, 20, 20]]


def test_metric_parse():
    assert Metric.parse("IOU") is Metric.IOU
    with pytest.raises(TilewiseError, match="metric must be one of"):
        Metric.parse("giou")


boxes = arrays(
    np.float32, st.tuples(st.integers(1, 8), st.just(4)), elements=st.integers(0, 50).map(float)
)


@given(boxes, boxes, st.sampled_from(["iou", "ios"]))
def test_overlap_matrix_matches_pairs(a, b, metric):
    full = box_overlap(a, b, metric)
    assert full.shape == (len(a), len(b))
    assert ((full >= 0) & (full <= 1 + 1e-12)).all()
    np.testing.assert_allclose(full.T, box_overlap(b, a, metric))
    ii, jj = np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij")
    np.testing.assert_allclose(full.ravel(), paired_overlap(a[ii.ravel()], b[jj.ravel()], metric))
    assert (box_overlap(a, b, "iou") <= box_overlap(a, b, "ios") + 1e-12).all()


@pytest.mark.parametrize(
    ("box", "area"),
    [
        ([0, 0, 3, 0.5], 1.5),  # under a pixel high: no rounding up
        ([0, 0, 0.25, 4], 1.0),
        ([0, 5, 3, 5], 0.0),  # zero height
        ([0, 5, 3, 4], 0.0),  # inverted: clamped to 0
        ([2, 0, 1, 3], 0.0),
        ([-1, -2, 1, 2], 8.0),
    ],
)
def test_box_area_table(box, area):
    assert box_area(np.array([box], np.float64)).tolist() == [area]


def test_default_metric_is_iou():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [2, 2, 4, 4]])
    np.testing.assert_array_equal(box_overlap(a, b), box_iou(a, b))
    np.testing.assert_array_equal(paired_overlap(a, b[:1]), box_iou(a, b[:1])[0])
