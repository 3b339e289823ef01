"""overlapping_pairs against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import merge_reference as ref
from tilewise import TilewiseError
from tilewise.boxes import box_iou, overlapping_pairs

pytestmark = pytest.mark.usefixtures("kernel_backend")


def brute_force(boxes, cls=None):
    return ref.pairs(np.asarray(boxes, dtype=np.float64).tolist(), cls)


def as_list(pairs):
    return [tuple(p) for p in pairs.tolist()]


def test_touching_and_degenerate_boxes():
    boxes = np.array(
        [
            [0, 0, 10, 10],
            [10, 0, 20, 10],  # touches 0 along an edge: no pair
            [10, 10, 20, 20],  # touches 0 at a corner: no pair
            [5, 5, 5, 8],  # zero width inside 0: no pair
            [9.5, 2, 10.5, 3],  # straddles the 0|1 edge: pairs with both
            [3, 3, 1, 1],  # inverted: no pair
        ]
    )
    assert as_list(overlapping_pairs(boxes)) == [(0, 4), (1, 4)]


def test_dtype_shape_and_order():
    boxes = np.array([[0, 0, 4, 4]] * 4, dtype=np.float32)
    pairs = overlapping_pairs(boxes)
    assert pairs.dtype == np.int64
    assert pairs.shape == (6, 2)
    assert as_list(pairs) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert overlapping_pairs(np.zeros((0, 4))).shape == (0, 2)
    assert overlapping_pairs([[0, 0, 1, 1]]).shape == (0, 2)


def test_same_class_only():
    boxes = np.array([[0, 0, 4, 4]] * 4)
    cls = np.array([1, 0, 1, 0])
    assert as_list(overlapping_pairs(boxes, cls, class_agnostic=False)) == [(0, 2), (1, 3)]
    assert len(overlapping_pairs(boxes, cls)) == 6  # class_agnostic defaults to True


@pytest.mark.parametrize("seed", range(6))
def test_random_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 150
    if seed % 3 == 0:  # integer grid: many touching edges and exact ties
        xy = rng.integers(0, 30, (n, 2))
        boxes = np.concatenate([xy, xy + rng.integers(0, 6, (n, 2))], 1).astype(np.float64)
    elif seed % 3 == 1:  # mixed sizes over several grid levels
        xy = rng.uniform(0, 500, (n, 2))
        boxes = np.concatenate([xy, xy + np.exp(rng.uniform(-2, 6, (n, 2)))], 1)
    else:  # a few huge boxes among small ones
        xy = rng.uniform(0, 500, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(1, 20, (n, 2))], 1)
        boxes[:3] = [[-100, -100, 600, 600], [0, 200, 500, 210], [250, -50, 251, 700]]
    cls = rng.integers(0, 3, n)
    assert as_list(overlapping_pairs(boxes)) == brute_force(boxes)
    assert as_list(overlapping_pairs(boxes, cls, class_agnostic=False)) == brute_force(
        boxes, cls.tolist()
    )


def test_agrees_with_positive_iou():
    rng = np.random.default_rng(9)
    xy = rng.uniform(0, 100, (300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0, 12, (300, 2))], 1)
    i, j = np.nonzero(np.triu(box_iou(boxes, boxes) > 0, k=1))
    assert as_list(overlapping_pairs(boxes)) == list(zip(i.tolist(), j.tolist(), strict=True))


coord = st.integers(0, 10)
box = st.tuples(coord, coord, st.integers(-1, 5), st.integers(-1, 5)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]]
)


@settings(max_examples=150, deadline=None)
@given(boxes=st.lists(box, max_size=30), cls=st.lists(st.integers(0, 1), min_size=30, max_size=30))
def test_hypothesis_brute_force(boxes, cls):
    arr = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    cls = cls[: len(boxes)]
    assert as_list(overlapping_pairs(arr)) == brute_force(arr)
    assert as_list(overlapping_pairs(arr, cls, class_agnostic=False)) == brute_force(arr, cls)


def test_errors():
    with pytest.raises(TilewiseError, match="shape"):
        overlapping_pairs(np.zeros((3, 3)))
    with pytest.raises(TilewiseError, match="NaN"):
        overlapping_pairs([[0, 0, np.nan, 1]])
    with pytest.raises(TilewiseError, match="needs class_id"):
        overlapping_pairs([[0, 0, 1, 1]], class_agnostic=False)
    with pytest.raises(TilewiseError, match="class_id must have shape"):
        overlapping_pairs([[0, 0, 1, 1]], [0, 1], class_agnostic=False)


def sweep_pairs(boxes: np.ndarray) -> np.ndarray:
    """Independent vectorised reference: sort by x1, pair each box with the later ones
    starting before it ends, keep those that also overlap (positively) in x and y."""
    order = np.argsort(boxes[:, 0], kind="stable")
    s = boxes[order]
    start = np.arange(len(s)) + 1
    stop = np.searchsorted(s[:, 0], s[:, 2], side="left")
    counts = np.maximum(stop - start, 0)
    a = np.repeat(np.arange(len(s)), counts)
    b = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + start[a]
    w = np.minimum(s[a, 2], s[b, 2]) - np.maximum(s[a, 0], s[b, 0])
    h = np.minimum(s[a, 3], s[b, 3]) - np.maximum(s[a, 1], s[b, 1])
    keep = (w > 0) & (h > 0)
    pairs = np.sort(np.stack([order[a[keep]], order[b[keep]]], 1), axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def test_large_input_against_sweep():
    # 40k boxes over a wide canvas: more occupied cells than the grid's first hash table
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 10000, (40_000, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (40_000, 2))], 1)
    pairs = overlapping_pairs(boxes)
    np.testing.assert_array_equal(pairs, sweep_pairs(boxes))
    assert len(pairs) > 10_000
