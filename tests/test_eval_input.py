"""Bad input: clear errors for broken ground truth, counted skips for bad predictions."""

from __future__ import annotations

import copy
import json
import math
import warnings

import numpy as np
import pytest

from tilewise import Detections, TilewiseError, TilewiseWarning
from tilewise.evaluation import SkipReason, evaluate, load_ground_truth, load_predictions
from tilewise.evaluation.synthetic import synthetic_coco


@pytest.fixture
def data() -> tuple[dict, list]:
    return synthetic_coco(seed=31, num_images=4)


# ---------------------------------------------------------------- predictions


def test_mismatched_image_ids_are_an_error(data) -> None:
    gt, preds = data
    shifted = [{**p, "image_id": p["image_id"] + 1000} for p in preds]
    with pytest.raises(TilewiseError, match=r"none of the \d+ predictions.*image ids"):
        evaluate(gt, shifted)


def test_predictions_for_images_not_in_gt_are_counted_skips(data) -> None:
    gt, preds = data
    extra = [{**p, "image_id": 999} for p in preds[:5]]
    with pytest.warns(TilewiseWarning, match=r"skipped 5 of \d+ predictions: 5 for images not"):
        res = evaluate(gt, preds + extra)
    assert res.skipped.counts == {SkipReason.UNKNOWN_IMAGE: 5}
    assert res.skipped.examples[SkipReason.UNKNOWN_IMAGE] == (999,)
    assert res.num_predictions == len(preds)
    np.testing.assert_array_equal(res.coco_stats(), evaluate(gt, preds).coco_stats())
    assert "skipped 5 of" in res.table()
    assert res.to_dict()["skipped"]["counts"] == {"unknown_image": 5}


def test_unknown_categories_are_counted_skips(data) -> None:
    gt, preds = data
    bad = [{**preds[0], "category_id": 77}, {**preds[1], "category_id": "cat"}]
    with pytest.warns(TilewiseWarning, match="2 with categories not in the ground truth"):
        res = evaluate(gt, preds + bad)
    assert res.skipped.counts == {SkipReason.UNKNOWN_CATEGORY: 2}


def test_zero_based_categories_get_a_hint(data) -> None:
    gt, preds = data
    zero_based = [{**p, "category_id": p["category_id"] - 1} for p in preds]
    # categories 1 and 2 exist, so only former category-1 predictions (now 0) are unknown
    with pytest.raises(TilewiseError, match="0-based"):
        evaluate(gt, zero_based, strict=True)
    all_zero = [{**p, "category_id": 0} for p in preds]
    with pytest.raises(TilewiseError, match=r"none of the .*0-based"):
        evaluate(gt, all_zero)


def test_strict_mode_raises_on_any_skip(data) -> None:
    gt, preds = data
    with pytest.raises(TilewiseError, match="1 for images not in the ground truth"):
        evaluate(gt, [*preds, {**preds[0], "image_id": 12345}], strict=True)


def test_empty_predictions_evaluate_to_zero(data, tmp_path) -> None:
    gt, _ = data
    res = evaluate(gt, [])
    assert res.get("AP") == 0.0
    assert res.get("AR") == 0.0
    assert res.num_predictions == 0
    assert any("no predictions" in n for n in res.notes)
    path = tmp_path / "empty.json"
    path.write_text("[]")
    assert evaluate(gt, path).get("AP") == 0.0
    assert evaluate(gt, {}).get("AP") == 0.0


def test_empty_or_broken_prediction_files_are_errors(data, tmp_path) -> None:
    gt, _ = data
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(TilewiseError, match="is empty"):
        evaluate(gt, tmp_path / "empty.json")
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(TilewiseError, match="not valid JSON"):
        evaluate(gt, tmp_path / "bad.json")
    with pytest.raises(TilewiseError, match="not found"):
        evaluate(gt, tmp_path / "missing.json")
    (tmp_path / "obj.json").write_text('{"foo": 1}')
    with pytest.raises(TilewiseError, match="list of COCO results"):
        evaluate(gt, tmp_path / "obj.json")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"bbox": [0, 0, -5, 10]}, SkipReason.INVALID_BOX),
        ({"bbox": [0, 0, float("nan"), 10]}, SkipReason.INVALID_BOX),
        ({"bbox": [0, 0, 10]}, SkipReason.INVALID_BOX),
        ({"bbox": "0 0 10 10"}, SkipReason.INVALID_BOX),
        ({"score": None}, SkipReason.INVALID_SCORE),
        ({"score": float("inf")}, SkipReason.INVALID_SCORE),
        ({"score": True}, SkipReason.INVALID_SCORE),
        ({"image_id": "no_such_image"}, SkipReason.UNKNOWN_IMAGE),
        ({"category_id": 2.5}, SkipReason.UNKNOWN_CATEGORY),
    ],
)
def test_malformed_predictions_are_skipped_with_a_reason(data, change, reason) -> None:
    gt, preds = data
    gtl = load_ground_truth(gt)
    with pytest.warns(TilewiseWarning):
        out = load_predictions([*preds, {**preds[0], **change}], gtl)
    assert out.skipped.counts == {reason: 1}
    assert len(out) == len(preds)


def test_predictions_missing_required_keys_are_an_error(data) -> None:
    gt, _ = data
    with pytest.raises(TilewiseError, match="needs 'image_id' and 'category_id'"):
        evaluate(gt, [{"bbox": [0, 0, 1, 1], "score": 1}])
    with pytest.raises(TilewiseError, match="not an object"):
        evaluate(gt, [[0, 0, 1, 1]])


def test_file_names_resolve_to_image_ids(data) -> None:
    gt, preds = data
    names = {img["id"]: img["file_name"] for img in gt["images"]}
    by_name = [
        {**p, "image_id": names[p["image_id"]] if i % 2 else names[p["image_id"]][:-4]}
        for i, p in enumerate(preds)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = evaluate(gt, by_name)
    np.testing.assert_array_equal(res.coco_stats(), evaluate(gt, preds).coco_stats())
    as_strings = [{**p, "image_id": str(p["image_id"])} for p in preds]
    np.testing.assert_array_equal(evaluate(gt, as_strings).coco_stats(), res.coco_stats())


def test_detections_with_unmapped_classes_are_counted(data) -> None:
    gt, _ = data
    det = Detections(np.array([[0, 0, 10, 10], [5, 5, 20, 20]]), class_id=[0, 5])
    with pytest.warns(TilewiseWarning, match="class_id 5"):
        res = evaluate(gt, {1: det}, class_to_category={0: 1})
    assert res.skipped.counts == {SkipReason.UNKNOWN_CATEGORY: 1}
    assert res.num_predictions == 1


def test_detections_cannot_be_evaluated_as_masks(data) -> None:
    gt, _ = synthetic_coco(seed=1, num_images=1, segm=True)
    det = Detections(np.array([[0, 0, 10, 10]]), class_id=[1])
    with pytest.raises(TilewiseError, match="segm evaluation needs masks"):
        evaluate(gt, {1: det}, iou_type="segm")


def test_segm_predictions_without_masks_are_skipped() -> None:
    gt, preds = synthetic_coco(seed=2, num_images=2, segm=True)
    no_mask = {k: v for k, v in preds[0].items() if k != "segmentation"}
    with pytest.warns(TilewiseWarning, match="without a segmentation"):
        res = evaluate(gt, [*preds, no_mask], iou_type="segm")
    assert res.skipped.counts == {SkipReason.MISSING_SEGMENTATION: 1}


# ---------------------------------------------------------------- ground truth


def _broken(gt: dict, fn) -> dict:
    out = copy.deepcopy(gt)
    fn(out)
    return out


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda g: g["annotations"][0].update(image_id=999), "image_id 999, which is not in"),
        (lambda g: g["annotations"][0].update(category_id=42), "category_id 42, which is not"),
        (lambda g: g["annotations"][1].update(id=g["annotations"][0]["id"]), "appears twice"),
        (lambda g: g["annotations"][0].update(bbox=[0, 0, -1, 3]), "needs 'bbox'"),
        (lambda g: g["annotations"][0].pop("bbox"), "needs 'bbox'"),
        (lambda g: g["annotations"][0].pop("id"), "has no 'id'"),
        (lambda g: g["images"].append(dict(g["images"][0])), "image id 1 appears twice"),
        (lambda g: g["images"][0].update(id="x"), r"images\[0\] needs an integer 'id'"),
        (lambda g: g["categories"].append({"id": 1, "name": "dup"}), "category id 1 appears"),
        (lambda g: g.pop("categories"), "needs a list 'categories'"),
    ],
)
def test_broken_ground_truth_is_an_error(data, mutate, message) -> None:
    gt, preds = data
    with pytest.raises(TilewiseError, match=message):
        evaluate(_broken(gt, mutate), preds)


def test_ground_truth_files(tmp_path, data) -> None:
    gt, preds = data
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "p.json").write_text(json.dumps(preds))
    res = evaluate(tmp_path / "gt.json", tmp_path / "p.json")
    np.testing.assert_array_equal(res.coco_stats(), evaluate(gt, preds).coco_stats())
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(TilewiseError, match="JSON object"):
        evaluate(tmp_path / "list.json", preds)
    with pytest.raises(TilewiseError, match="not found"):
        evaluate(tmp_path / "nope.json", preds)


def test_missing_optional_fields_are_filled_and_noted(data) -> None:
    gt, preds = data
    stripped = copy.deepcopy(gt)
    for ann in stripped["annotations"]:
        ann.pop("area")
        ann.pop("iscrowd")
    res = evaluate(stripped, preds)
    assert any("filled missing 'area'" in n for n in res.notes)
    assert res.num_crowd == 0
    assert not math.isnan(res.get("AP"))


def test_annotation_id_zero_is_safe(data) -> None:
    gt, preds = data
    zero = copy.deepcopy(gt)
    for ann in zero["annotations"]:
        ann["id"] -= 1  # ids now start at 0, which COCO's matcher would mistake
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = evaluate(zero, preds)
    np.testing.assert_array_equal(res.coco_stats(), evaluate(gt, preds).coco_stats())


def test_segm_needs_image_sizes_and_masks() -> None:
    gt, preds = synthetic_coco(seed=3, num_images=1, segm=True)
    no_size = copy.deepcopy(gt)
    del no_size["images"][0]["width"]
    with pytest.raises(TilewiseError, match="width and height"):
        evaluate(no_size, preds, iou_type="segm")
    no_mask = copy.deepcopy(gt)
    del no_mask["annotations"][0]["segmentation"]
    with pytest.raises(TilewiseError, match="no 'segmentation'"):
        evaluate(no_mask, preds, iou_type="segm")


def test_bad_parameters() -> None:
    gt, preds = synthetic_coco(seed=4, num_images=1)
    with pytest.raises(TilewiseError, match="iou_type"):
        evaluate(gt, preds, iou_type="keypoints")
    with pytest.raises(TilewiseError, match="positive"):
        evaluate(gt, preds, max_dets=[0])
    with pytest.raises(TilewiseError, match="repeated"):
        evaluate(gt, preds, max_dets="100,100")
    with pytest.raises(TilewiseError, match="integers"):
        evaluate(gt, preds, max_dets="100,lots")
    with pytest.raises(TilewiseError, match="ground truth must be"):
        evaluate(42, preds)
