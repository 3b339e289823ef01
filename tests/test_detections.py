from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tilewise import Detections, TilewiseError


def make(n: int = 4) -> Detections:
    xyxy = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
    xyxy[:, 2:] += 10
    return Detections(
        xyxy,
        confidence=np.linspace(0.1, 0.9, n),
        class_id=np.arange(n) % 2,
        data={"track": np.arange(n) * 10, "emb": np.ones((n, 3))},
    )


def test_defaults_and_dtypes():
    det = Detections([[0, 0, 1, 1], [1, 1, 2, 2]])
    assert det.xyxy.dtype == np.float32
    assert det.confidence.dtype == np.float32
    assert det.class_id.dtype == np.int64
    assert det.confidence.tolist() == [1.0, 1.0]
    assert det.class_id.tolist() == [0, 0]
    assert len(det) == 2


def test_empty():
    det = Detections.empty()
    assert len(det) == 0
    assert det.xyxy.shape == (0, 4)
    assert len(Detections([])) == 0
    assert len(Detections(np.zeros((0, 4)))[np.zeros(0, dtype=bool)]) == 0


@pytest.mark.parametrize(
    ("index", "expected_rows"),
    [
        (0, [0]),
        (-1, [3]),
        (slice(1, 3), [1, 2]),
        (slice(None, None, -1), [3, 2, 1, 0]),
        (np.array([True, False, True, False]), [0, 2]),
        (np.array([3, 0, 0]), [3, 0, 0]),
        ([2, -4], [2, 0]),
        (np.array([], dtype=np.int64), []),
    ],
)
def test_indexing(index, expected_rows):
    det = make()
    sub = det[index]
    assert sub.data["track"].tolist() == [r * 10 for r in expected_rows]
    np.testing.assert_array_equal(sub.xyxy, det.xyxy[expected_rows])
    np.testing.assert_array_equal(sub.confidence, det.confidence[expected_rows])
    assert sub.data["emb"].shape == (len(expected_rows), 3)


@pytest.mark.parametrize(
    ("index", "error"),
    [
        (4, IndexError),
        (-5, IndexError),
        (np.array([0, 4]), IndexError),
        (np.array([True, False]), TilewiseError),
        (np.array([0.5]), TilewiseError),
    ],
)
def test_bad_index(index, error):
    with pytest.raises(error):
        make()[index]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xyxy": np.zeros((2, 3))}, r"shape \(N, 4\)"),
        ({"xyxy": np.zeros(4)}, r"shape \(N, 4\)"),
        ({"xyxy": [["a", "b", "c", "d"]]}, "numeric"),
        ({"xyxy": np.zeros((2, 4)), "confidence": [1.0]}, r"confidence must have shape \(2,\)"),
        ({"xyxy": np.zeros((2, 4)), "class_id": [1, 2, 3]}, r"class_id must have shape \(2,\)"),
        ({"xyxy": np.zeros((2, 4)), "class_id": [0.5, 1]}, "integers"),
        ({"xyxy": np.zeros((2, 4)), "data": {"x": np.zeros(3)}}, r"data\['x'\]"),
        ({"xyxy": np.zeros((2, 4)), "data": {"x": 5}}, r"data\['x'\]"),
    ],
)
def test_validation(kwargs, message):
    with pytest.raises(TilewiseError, match=message):
        Detections(**kwargs)


def test_integer_valued_float_class_ids_accepted():
    assert Detections(np.zeros((2, 4)), class_id=[1.0, 2.0]).class_id.tolist() == [1, 2]


def test_concatenate_and_equality():
    det = make()
    both = Detections.concatenate([det[:2], Detections.empty(), det[2:]])
    assert both == det
    assert Detections.concatenate([]) == Detections.empty()
    assert len(Detections.concatenate([Detections.empty(), Detections.empty()])) == 0
    assert det != det[:3]


def test_concatenate_rejects_mismatched_data():
    with pytest.raises(TilewiseError, match="different data keys"):
        Detections.concatenate([make(), Detections(np.zeros((1, 4)))])
    with pytest.raises(TilewiseError, match="takes Detections"):
        Detections.concatenate([make(), np.zeros((1, 4))])


def test_shift_area_finite():
    det = Detections([[0, 0, 2, 3], [5, 5, 4, 4], [0, 0, np.nan, 1]], confidence=[1, 1, 1])
    assert det.area[:2].tolist() == [6.0, 0.0]
    assert det.finite_mask().tolist() == [True, True, False]
    moved = det[:1].shifted(10, 20)
    assert moved.xyxy.tolist() == [[10, 20, 12, 23]]
    assert det.xyxy[0].tolist() == [0, 0, 2, 3]  # original untouched
    inf_conf = Detections([[0, 0, 1, 1]], confidence=[np.inf])
    assert inf_conf.finite_mask().tolist() == [False]


def test_repr():
    assert repr(make()) == "Detections(n=4, data=['emb', 'track'])"


@given(st.lists(st.integers(0, 5), min_size=0, max_size=6))
def test_concatenate_of_splits_roundtrip(cuts):
    det = make(8)
    points = sorted({min(c, 8) for c in cuts})
    bounds = [0, *points, 8]
    parts = [det[a:b] for a, b in itertools.pairwise(bounds)]
    assert Detections.concatenate(parts) == det


def test_equality_compares_mask_contents() -> None:
    """Regression: == used to look only at whether masks were present, not at their pixels."""
    boxes = np.array([[0, 0, 4, 4], [2, 2, 6, 6]], np.float32)
    dense = np.zeros((2, 8, 8), bool)
    dense[0, 1:3, 1:3] = True
    dense[1, 3:5, 3:6] = True
    other = dense.copy()
    other[1, 4, 5] = False
    a = Detections(boxes, masks=dense)
    assert a == Detections(boxes, masks=dense.copy())
    assert a != Detections(boxes, masks=other)
    assert a != Detections(boxes)
    assert Detections(boxes) == Detections(boxes)
