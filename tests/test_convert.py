from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from tilewise import Detections, TilewiseError
from tilewise.detections import (
    from_coco_annotations,
    from_supervision,
    to_coco_results,
    to_supervision,
)


def _sample() -> Detections:
    return Detections(
        np.array([[0, 0, 10, 10], [5.5, 6.25, 20, 30], [100, 50, 101, 51]], dtype=np.float32),
        confidence=[0.9, 0.25, 0.5],
        class_id=[0, 2, 1],
        data={
            "slice_index": np.array([0, 1, 1]),
            "class_name": np.array(["car", "bus", "van"]),
            "embedding": np.arange(6, dtype=np.float32).reshape(3, 2),
        },
    )


class _FakeMasks:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: np.ndarray) -> _FakeMasks:
        return _FakeMasks(len(np.arange(self.n)[index]))

    def shifted(self, dx: int, dy: int) -> _FakeMasks:
        return self

    @classmethod
    def concatenate(cls, stores: list[_FakeMasks]) -> _FakeMasks:
        return cls(sum(len(s) for s in stores))


# ------------------------------------------------------------------ supervision
@pytest.fixture
def sv():
    return pytest.importorskip("supervision")


@pytest.mark.peers
def test_supervision_round_trip_with_data(sv) -> None:
    det = _sample()
    sv_det = to_supervision(det)
    assert isinstance(sv_det, sv.Detections)
    np.testing.assert_array_equal(sv_det.xyxy, det.xyxy)
    np.testing.assert_array_equal(sv_det.confidence, det.confidence)
    np.testing.assert_array_equal(sv_det.class_id, det.class_id)
    assert set(sv_det.data) == {"slice_index", "class_name", "embedding"}
    back = from_supervision(sv_det)
    assert back == det
    assert back.xyxy.dtype == np.float32
    assert back.class_id.dtype == np.int64


@pytest.mark.peers
def test_supervision_round_trip_empty(sv) -> None:
    det = Detections.empty()
    sv_det = to_supervision(det)
    assert len(sv_det) == 0
    assert from_supervision(sv_det) == det
    empty_with_data = _sample()[:0]
    assert from_supervision(to_supervision(empty_with_data)) == empty_with_data


@pytest.mark.peers
def test_supervision_result_shares_no_memory(sv) -> None:
    det = _sample()
    sv_det = to_supervision(det)
    sv_det.xyxy[0, 0] = 999
    sv_det.data["slice_index"][0] = 42
    assert det.xyxy[0, 0] == 0
    assert det.data["slice_index"][0] == 0
    back = from_supervision(sv_det)
    back.xyxy[0, 0] = -1
    assert sv_det.xyxy[0, 0] == 999


@pytest.mark.peers
def test_from_supervision_none_fields_and_lists(sv) -> None:
    sv_det = sv.Detections(
        xyxy=np.array([[0, 0, 4, 4], [1, 1, 2, 2]], dtype=np.float64),
        data={"label": ["a", "b"]},
    )
    assert sv_det.confidence is None
    assert sv_det.class_id is None
    det = from_supervision(sv_det)
    assert det.confidence.tolist() == [1.0, 1.0]
    assert det.class_id.tolist() == [0, 0]
    assert det.data["label"].tolist() == ["a", "b"]


@pytest.mark.peers
def test_tracker_id_travels_both_ways(sv) -> None:
    sv_det = sv.Detections(
        xyxy=np.array([[0, 0, 4, 4]], dtype=np.float32),
        confidence=np.array([0.5], dtype=np.float32),
        class_id=np.array([1]),
        tracker_id=np.array([17]),
    )
    det = from_supervision(sv_det)
    assert det.data["tracker_id"].tolist() == [17]
    again = to_supervision(det)
    assert again.tracker_id.tolist() == [17]
    assert "tracker_id" not in again.data
    assert from_supervision(again) == det


@pytest.mark.peers
def test_from_supervision_converts_masks(sv) -> None:
    dense = np.zeros((1, 4, 4), dtype=bool)
    dense[0, 1:3, 0:2] = True
    sv_det = sv.Detections(xyxy=np.array([[0, 1, 2, 3]], dtype=np.float32), mask=dense)
    det = from_supervision(sv_det)
    assert det.masks is not None
    assert np.array_equal(det.masks.to_dense(), dense)
    back = to_supervision(det)
    assert np.array_equal(np.asarray(back.mask), dense)


@pytest.mark.peers
def test_to_supervision_rejects_masks_and_nonfinite(sv) -> None:
    det = Detections(np.array([[0, 0, 2, 2]]), masks=_FakeMasks(1))
    with pytest.raises(TilewiseError, match="masks are not supported"):
        to_supervision(det)
    bad = Detections(np.array([[0, 0, np.nan, 2], [0, 0, 1, 1]]))
    with pytest.raises(TilewiseError, match="finite_mask"):
        to_supervision(bad)
    assert len(to_supervision(bad[bad.finite_mask()])) == 1


@pytest.mark.peers
def test_supervision_type_errors(sv) -> None:
    with pytest.raises(TilewiseError, match=r"supervision\.Detections"):
        from_supervision(_sample())
    with pytest.raises(TilewiseError, match="takes Detections"):
        to_supervision(sv.Detections.empty())


def test_missing_supervision_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "supervision", None)
    with pytest.raises(TilewiseError, match=r"tilewise\[bench\]"):
        to_supervision(_sample())
    with pytest.raises(TilewiseError, match="pip install supervision"):
        from_supervision(object())


# ------------------------------------------------------------------ COCO results
@pytest.mark.parametrize(
    ("xyxy", "xywh"),
    [
        ([10, 20, 30, 50], [10.0, 20.0, 20.0, 30.0]),
        ([0, 0, 1, 1], [0.0, 0.0, 1.0, 1.0]),
        ([2.5, 3.5, 2.5, 3.5], [2.5, 3.5, 0.0, 0.0]),
        ([-4, -2, 6, 8], [-4.0, -2.0, 10.0, 10.0]),
        ([100.25, 0.5, 200.75, 10.5], [100.25, 0.5, 100.5, 10.0]),
    ],
)
def test_coco_bbox_math(xyxy: list[float], xywh: list[float]) -> None:
    det = Detections(np.array([xyxy], dtype=np.float32), confidence=[0.5], class_id=[4])
    (entry,) = to_coco_results(det, image_id=3)
    assert entry == {"image_id": 3, "category_id": 4, "bbox": xywh, "score": 0.5}
    back = from_coco_annotations([entry])
    np.testing.assert_allclose(back.xyxy, det.xyxy)
    assert back.confidence.tolist() == [0.5]
    assert back.class_id.tolist() == [4]


def test_coco_results_types_are_json_native() -> None:
    det = _sample()
    results = to_coco_results(det, image_id=np.int64(9))
    assert len(results) == 3
    text = json.dumps(results)
    assert json.loads(text) == results
    for entry in results:
        assert type(entry["image_id"]) is int
        assert type(entry["category_id"]) is int
        assert type(entry["score"]) is float
        assert all(type(v) is float for v in entry["bbox"])
    assert [r["score"] for r in results] == pytest.approx([0.9, 0.25, 0.5])


def test_coco_results_string_image_id_and_empty() -> None:
    assert to_coco_results(Detections.empty(), image_id="img_1") == []
    det = Detections(np.array([[0, 0, 1, 1]]))
    assert to_coco_results(det, image_id="img_1")[0]["image_id"] == "img_1"


@pytest.mark.parametrize(
    "category_ids",
    [{0: 10, 1: 11, 2: 12}, [10, 11, 12], (10, 11, 12), np.array([10, 11, 12])],
)
def test_coco_category_mapping(category_ids) -> None:
    results = to_coco_results(_sample(), image_id=1, category_ids=category_ids)
    assert [r["category_id"] for r in results] == [10, 12, 11]


@pytest.mark.parametrize(
    ("category_ids", "match"),
    [
        ({0: 1, 1: 2}, r"class id\(s\) \[2\]"),
        ([1, 2], r"class id\(s\) \[2\]"),
        ({0: 1, 1: 2, 2: "x"}, "must be an int"),
        ("abc", "mapping or a sequence"),
    ],
)
def test_coco_category_mapping_errors(category_ids, match: str) -> None:
    with pytest.raises(TilewiseError, match=match):
        to_coco_results(_sample(), image_id=1, category_ids=category_ids)


def test_coco_negative_class_id_not_wrapped_by_sequence() -> None:
    det = Detections(np.array([[0, 0, 1, 1]]), class_id=[-1])
    with pytest.raises(TilewiseError, match=r"\[-1\]"):
        to_coco_results(det, image_id=1, category_ids=[5, 6])


def test_coco_results_errors() -> None:
    with pytest.raises(TilewiseError, match="image_id"):
        to_coco_results(_sample(), image_id=1.5)  # type: ignore[arg-type]
    with pytest.raises(TilewiseError, match="image_id"):
        to_coco_results(_sample(), image_id=True)
    with pytest.raises(TilewiseError, match="takes Detections"):
        to_coco_results([], image_id=1)  # type: ignore[arg-type]
    nan_score = Detections(np.array([[0, 0, 1, 1]]), confidence=[np.nan])
    with pytest.raises(TilewiseError, match="finite"):
        to_coco_results(nan_score, image_id=1)


# ------------------------------------------------------------------ COCO annotations
def _annotations() -> list[dict]:
    return [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 5], "iscrowd": 0,
         "area": 50.0},
        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [5, 5, 2, 2], "iscrowd": 1,
         "area": 3.5},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1.5, 2.5, 3, 4], "iscrowd": 0,
         "area": 12.0},
    ]  # fmt: skip


def test_from_coco_annotations_keeps_id_iscrowd_area() -> None:
    det = from_coco_annotations(_annotations())
    assert det.xyxy.tolist() == [[0, 0, 10, 5], [5, 5, 7, 7], [1.5, 2.5, 4.5, 6.5]]
    assert det.class_id.tolist() == [3, 1, 1]
    assert det.confidence.tolist() == [1.0, 1.0, 1.0]
    assert det.data["id"].tolist() == [1, 2, 3]
    assert det.data["iscrowd"].tolist() == [0, 1, 0]
    assert det.data["area"].tolist() == [50.0, 3.5, 12.0]


def test_from_coco_annotations_filters_image_and_maps_categories() -> None:
    det = from_coco_annotations(_annotations(), image_id=1, category_to_class={1: 0, 3: 1})
    assert det.data["id"].tolist() == [1, 3]
    assert det.class_id.tolist() == [1, 0]
    assert len(from_coco_annotations(_annotations(), image_id=99)) == 0
    assert len(from_coco_annotations([])) == 0


def test_from_coco_annotations_missing_optional_fields() -> None:
    anns = [{"category_id": 0, "bbox": [0, 0, 1, 1]}, {"category_id": 0, "bbox": [1, 1, 1, 1]}]
    det = from_coco_annotations(anns)
    assert det.data == {}
    anns[1]["iscrowd"] = 1
    assert from_coco_annotations(anns).data["iscrowd"].tolist() == [0, 1]


def test_coco_results_round_trip_with_category_ids() -> None:
    det = _sample()
    cats = [7, 8, 9]
    results = to_coco_results(det, image_id=5, category_ids=cats)
    back = from_coco_annotations(
        results, image_id=5, category_to_class={c: i for i, c in enumerate(cats)}
    )
    np.testing.assert_array_equal(back.xyxy, det.xyxy)
    np.testing.assert_array_equal(back.confidence, det.confidence)
    np.testing.assert_array_equal(back.class_id, det.class_id)


@pytest.mark.parametrize(
    ("annotations", "kwargs", "match"),
    [
        ({"bbox": [0, 0, 1, 1]}, {}, "list of dicts"),
        ([[0, 0, 1, 1]], {}, "must be a dict"),
        ([{"category_id": 0}], {}, "'bbox' must be"),
        ([{"category_id": 0, "bbox": [0, 0, 1]}], {}, "'bbox' must be"),
        ([{"category_id": 0, "bbox": [0, 0, "a", 1]}], {}, "numbers"),
        ([{"category_id": 0, "bbox": [0, 0, float("inf"), 1]}], {}, "finite"),
        ([{"category_id": 0, "bbox": [0, 0, -1, 1]}], {}, ">= 0"),
        ([{"category_id": "car", "bbox": [0, 0, 1, 1]}], {}, "category_id"),
        ([{"category_id": 5, "bbox": [0, 0, 1, 1]}], {"category_to_class": {1: 0}}, "id 5"),
        ([{"category_id": 0, "bbox": [0, 0, 1, 1]}], {"image_id": 1}, "no 'image_id'"),
        (
            [{"category_id": 0, "bbox": [0, 0, 1, 1], "score": 0.5},
             {"category_id": 0, "bbox": [0, 0, 1, 1]}],
            {},
            "'score'",
        ),
        (
            [{"category_id": 0, "bbox": [0, 0, 1, 1], "id": 1},
             {"category_id": 0, "bbox": [0, 0, 1, 1]}],
            {},
            "'id'",
        ),
    ],
)  # fmt: skip
def test_from_coco_annotations_errors(annotations, kwargs, match: str) -> None:
    with pytest.raises(TilewiseError, match=match):
        from_coco_annotations(annotations, **kwargs)


def test_exports() -> None:
    import tilewise.detections as d

    for name in ("to_supervision", "from_supervision", "to_coco_results", "from_coco_annotations"):
        assert name in d.__all__
        assert callable(getattr(d, name))
