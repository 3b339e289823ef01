"""COCO metrics: agreement with pycocotools, detection caps, buckets, result renderings."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tilewise import Detections
from tilewise.evaluation import (
    COCO_AREA_RANGES,
    EvaluationResult,
    evaluate,
    load_ground_truth,
    stat_key,
)
from tilewise.evaluation.synthetic import SyntheticNoise, synthetic_coco

pycocotools = pytest.importorskip("pycocotools")
from pycocotools import mask as pmask  # noqa: E402
from pycocotools.coco import COCO as PyCOCO  # noqa: E402, N811
from pycocotools.cocoeval import COCOeval as PyCOCOeval  # noqa: E402

TOL = 1e-12


def reference_stats(gt: dict, preds: list, iou_type: str = "bbox") -> np.ndarray:
    """pycocotools' 12 stats, computed on private copies (it mutates its inputs)."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = PyCOCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        dets = coco.loadRes(copy.deepcopy(preds))
        ev = PyCOCOeval(coco, dets, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def assert_stats_equal(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == (12,)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL)


def test_bbox_matches_pycocotools() -> None:
    gt, preds = synthetic_coco(seed=11, num_images=10, crowd_fraction=0.1)
    assert any(a["iscrowd"] for a in gt["annotations"])
    res = evaluate(gt, preds)
    ref = reference_stats(gt, preds)
    assert_stats_equal(res.coco_stats(), ref)
    # every size bucket was populated, so no stat is undefined
    assert (ref > -1).all()


def test_bbox_matches_pycocotools_with_more_than_100_detections_per_image() -> None:
    noise = SyntheticNoise(background=60.0, duplicate=0.4)
    # one category: COCO caps detections per image *and category*
    gt, preds = synthetic_coco(
        seed=5, num_images=4, num_categories=1, objects_per_image=(70, 90), noise=noise
    )
    per_image = np.bincount([p["image_id"] for p in preds])
    assert per_image.max() > 150
    res = evaluate(gt, preds, max_dets=(100, 1000))
    assert_stats_equal(res.coco_stats(), reference_stats(gt, preds))
    # the higher cap sees more true positives: recall can only grow, and does here
    assert res.stats["AR@1000"] > res.stats["AR@100"]
    assert res.stats["AP@1000"] != res.stats["AP@100"]
    assert res.get("AP", max_dets=1000) == res.stats["AP@1000"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' decode on numpy 2
def test_segm_matches_pycocotools_polygons_and_rle() -> None:
    gt, preds = synthetic_coco(seed=2, num_images=6, segm=True, crowd_fraction=0.15)
    assert any(a["iscrowd"] for a in gt["annotations"])
    # Mix GT encodings: polygons, compressed RLE, and uncompressed RLE for crowd regions.
    for i, ann in enumerate(gt["annotations"]):
        h, w = 480, 640
        rle = pmask.merge(pmask.frPyObjects(ann["segmentation"], h, w))
        if ann["iscrowd"]:
            flat = pmask.decode(rle).flatten(order="F")
            ann["segmentation"] = {"size": [h, w], "counts": _uncompressed_counts(flat)}
        elif i % 2:
            ann["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
    # Predictions as compressed RLE without boxes: areas come from the masks.
    rle_preds = []
    for p in preds:
        rle = pmask.merge(pmask.frPyObjects(p["segmentation"], 480, 640))
        rle_preds.append(
            {
                "image_id": p["image_id"],
                "category_id": p["category_id"],
                "score": p["score"],
                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
            }
        )
    res = evaluate(gt, rle_preds, iou_type="segm")
    assert_stats_equal(res.coco_stats(), reference_stats(gt, rle_preds, "segm"))
    # polygons with boxes go through too
    res_poly = evaluate(gt, preds, iou_type="segm")
    assert_stats_equal(res_poly.coco_stats(), reference_stats(gt, preds, "segm"))


def _uncompressed_counts(flat: np.ndarray) -> list[int]:
    """COCO uncompressed RLE counts of a column-major flattened binary mask."""
    counts: list[int] = []
    value, run = 0, 0
    for v in flat.tolist():
        if v == value:
            run += 1
        else:
            counts.append(run)
            value, run = v, 1
    counts.append(run)
    return counts


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(seed=1, miss=1.0, jitter=0.0, background=0.0, num_categories=2)  # no predictions
@given(
    seed=st.integers(0, 10_000),
    miss=st.floats(0.0, 1.0),
    jitter=st.floats(0.0, 0.4),
    background=st.floats(0.0, 8.0),
    num_categories=st.integers(1, 4),
)
def test_bbox_matches_pycocotools_property(
    seed: int, miss: float, jitter: float, background: float, num_categories: int
) -> None:
    noise = SyntheticNoise(miss=miss, jitter=jitter, background=background)
    gt, preds = synthetic_coco(seed=seed, num_images=3, num_categories=num_categories, noise=noise)
    stats = evaluate(gt, preds).coco_stats()
    if preds:
        assert_stats_equal(stats, reference_stats(gt, preds))
    else:
        # pycocotools cannot load an empty result list; COCO's meaning: every stat with
        # ground truth in its size range is 0, every other one undefined (-1)
        areas = np.array([a["area"] for a in gt["annotations"] if not a["iscrowd"]])
        held = [areas.size > 0] * 3 + [
            bool(((areas >= lo) & (areas <= hi)).any())
            for lo, hi in ((0, 32**2), (32**2, 96**2), (96**2, 1e10))
        ]
        expected = np.array([0.0 if h else -1.0 for h in held] + [0.0 if held[0] else -1.0] * 3
                            + [0.0 if h else -1.0 for h in held[3:]])  # fmt: skip
        assert_stats_equal(stats, expected)


def test_stat_labels_name_their_cap() -> None:
    gt, preds = synthetic_coco(seed=1, num_images=2)
    res = evaluate(gt, preds, max_dets="100,300", tiny=True)
    assert res.max_dets == (100, 300)
    assert res.eval_max_dets == (1, 10, 100, 300)
    for cap in (100, 300):
        for name in ("AP", "AP50", "AP75", "AR", "AR50", "AR75"):
            assert f"{name}@{cap}" in res.stats
        for bucket in ("small", "medium", "large", "2-8px", "8-16px", "16-32px"):
            assert stat_key("AP", bucket, cap) in res.stats
            assert stat_key("AR", bucket, cap) in res.stats
    assert "AR@1" in res.stats
    assert "AR@10" in res.stats
    assert not any(k == "AP" or k.endswith("@") for k in res.stats)


def test_primary_cap_is_the_first() -> None:
    gt, preds = synthetic_coco(seed=4, num_images=2)
    res = evaluate(gt, preds, max_dets=[300, 100])
    assert res.primary_max_dets == 300
    assert res.get("AP") == res.stats["AP@300"]
    assert "maxDets=300" in res.table().splitlines()[2]


def test_per_class_matches_pycocotools_per_category() -> None:
    gt, preds = synthetic_coco(seed=8, num_images=6)
    res = evaluate(gt, preds)
    for cls in res.per_class:
        sub_gt = copy.deepcopy(gt)
        sub_gt["annotations"] = [
            a for a in sub_gt["annotations"] if a["category_id"] == cls.category_id
        ]
        sub_preds = [p for p in preds if p["category_id"] == cls.category_id]
        with contextlib.redirect_stdout(io.StringIO()):
            coco = PyCOCO()
            coco.dataset = sub_gt
            coco.createIndex()
            ev = PyCOCOeval(coco, coco.loadRes(copy.deepcopy(sub_preds)), "bbox")
            ev.params.catIds = [cls.category_id]
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        assert cls.ap == pytest.approx(ev.stats[0], abs=TOL)
        assert cls.ap50 == pytest.approx(ev.stats[1], abs=TOL)
        assert cls.ap75 == pytest.approx(ev.stats[2], abs=TOL)
        assert cls.ar == pytest.approx(ev.stats[8], abs=TOL)
        assert cls.num_gt == sum(1 for a in sub_gt["annotations"] if not a["iscrowd"])
        assert cls.num_predictions == len(sub_preds)


def test_detections_input_equals_json_input() -> None:
    gt, preds = synthetic_coco(seed=6, num_images=3)
    by_image: dict[int, Detections] = {}
    for img in gt["images"]:
        mine = [p for p in preds if p["image_id"] == img["id"]]
        xywh = np.array([p["bbox"] for p in mine], dtype=np.float64).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        by_image[img["id"]] = Detections(
            xyxy,
            confidence=[p["score"] for p in mine],
            class_id=[p["category_id"] - 1 for p in mine],
        )
    mapping = {c - 1: c for c in (1, 2, 3)}
    from_dets = evaluate(gt, by_image, class_to_category=mapping)
    # Detections store float32: compare with the same rounding applied to the JSON path
    rounded = []
    for img_id, det in by_image.items():
        for k in range(len(det)):
            x1, y1, x2, y2 = det.xyxy[k].astype(np.float64)
            rounded.append(
                {
                    "image_id": img_id,
                    "category_id": int(det.class_id[k]) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(det.confidence[k]),
                }
            )
    assert_stats_equal(from_dets.coco_stats(), reference_stats(gt, rounded))
    np.testing.assert_allclose(from_dets.coco_stats(), evaluate(gt, preds).coco_stats(), atol=2e-3)


def test_custom_ranges_replace_coco_ones() -> None:
    gt, preds = synthetic_coco(seed=3, num_images=2)
    res = evaluate(gt, preds, area_ranges=["xs:0:16", "rest:16:inf"])
    assert [r.name for r in res.area_ranges] == ["all", "xs", "rest"]
    assert "AP_small@100" not in res.stats
    with pytest.raises(Exception, match="small/medium/large"):
        res.coco_stats()
    both = evaluate(gt, preds, area_ranges=[*COCO_AREA_RANGES, "xs:0:16"])
    assert both.coco_stats().shape == (12,)
    assert both.stats["AP_xs@100"] == res.stats["AP_xs@100"]


def test_perfect_predictions_score_one_and_empty_buckets_are_undefined() -> None:
    gt = {
        "images": [{"id": 1, "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 10, 10],
                "area": 100,
                "iscrowd": 0,
            }
        ],
    }
    preds = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 1.0}]
    res = evaluate(gt, preds, tiny=True)
    assert res.get("AP") == 1.0
    assert res.get("AP", "small") == 1.0
    assert res.get("AP", "8-16px") == 1.0
    assert math.isnan(res.get("AP", "large"))
    assert math.isnan(res.get("AP", "2-8px"))
    assert res.coco_stats()[5] == -1.0  # AP_large undefined, as pycocotools says
    assert_stats_equal(res.coco_stats(), reference_stats(gt, preds))


def test_result_json_roundtrip_and_markdown(tmp_path) -> None:
    gt, preds = synthetic_coco(seed=9, num_images=3)
    res = evaluate(gt, preds, tiny=True)
    path = res.write_json(tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert data["stats"]["AP@100"] == pytest.approx(res.get("AP"))
    again = EvaluationResult.from_dict(data)
    assert again.to_dict() == data
    assert again.precision is None
    md = res.to_markdown()
    assert md.count("\n| AP |") == 1
    assert "| AP_2-8px (2-8 px) |" in md
    assert "| id | class | GT | pred | AP | AP50 | AP75 | AR |" in md
    assert res.write_markdown(tmp_path / "r.md").read_text().startswith("### COCO bbox")
    table = res.table()
    assert "AR@1 = " in table
    assert "AR@10 = " in table
    assert "per class (maxDets=100)" in table


def test_pr_curve_shape_and_range() -> None:
    gt, preds = synthetic_coco(seed=10, num_images=3)
    res = evaluate(gt, preds)
    rec, prec = res.pr_curve()
    assert rec.shape == prec.shape == (101,)
    valid = prec[~np.isnan(prec)]
    assert ((valid >= 0) & (valid <= 1)).all()
    # COCO's precision envelope is non-increasing per class, so the mean is too
    assert (np.diff(valid) <= 1e-12).all()


def test_ground_truth_is_not_mutated() -> None:
    gt, preds = synthetic_coco(seed=12, num_images=2)
    gt_before, preds_before = copy.deepcopy(gt), copy.deepcopy(preds)
    evaluate(gt, preds)
    assert gt == gt_before
    assert preds == preds_before


def test_loaded_ground_truth_can_be_reused() -> None:
    gt, preds = synthetic_coco(seed=13, num_images=3)
    loaded = load_ground_truth(gt)
    a = evaluate(loaded, preds).coco_stats()
    b = evaluate(loaded, preds).coco_stats()
    assert_stats_equal(a, b)
