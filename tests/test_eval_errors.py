"""TIDE-style error analysis: one hand-made case per error type, buckets, caps."""

from __future__ import annotations

import numpy as np
import pytest

from tilewise import TilewiseError
from tilewise.evaluation.error_analysis import (
    ErrorType,
    GtOutcome,
    PredOutcome,
    analyze_errors,
    assign_image,
)
from tilewise.evaluation.synthetic import synthetic_coco

P = PredOutcome
G = GtOutcome


def box(x: float, y: float, w: float = 20.0, h: float = 20.0) -> list[float]:
    return [x, y, w, h]


def make(gt_objs: list[tuple], preds: list[tuple]) -> tuple[dict, list]:
    """gt_objs: (bbox, category[, iscrowd]); preds: (bbox, category, score)."""
    anns = []
    for i, obj in enumerate(gt_objs):
        bbox, cat, *rest = obj
        anns.append(
            {
                "id": i + 1,
                "image_id": 1,
                "category_id": cat,
                "bbox": bbox,
                "area": bbox[2] * bbox[3],
                "iscrowd": rest[0] if rest else 0,
            }
        )
    gt = {
        "images": [{"id": 1, "width": 400, "height": 400}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": anns,
    }
    res = [{"image_id": 1, "category_id": c, "bbox": b, "score": s} for b, c, s in preds]
    return gt, res


# IoU of box(0, 0) with box(dx, 0), both 20x20: (20-dx)*20 / (800 - (20-dx)*20)
# dx=2 -> 0.818, dx=10 -> 0.333, dx=18 -> 0.053, dx=30 -> 0
CASES = {
    "true positive": ([(box(0, 0), 1)], [(box(2, 0), 1, 0.9)], [P.TP], [G.MATCHED]),
    "localisation": ([(box(0, 0), 1)], [(box(10, 0), 1, 0.9)], [P.LOC], [G.COVERED]),
    "class confusion": ([(box(0, 0), 1)], [(box(2, 0), 2, 0.9)], [P.CLS], [G.COVERED]),
    "both": ([(box(0, 0), 1)], [(box(10, 0), 2, 0.9)], [P.BOTH], [G.MISSED]),
    "duplicate": (
        [(box(0, 0), 1)],
        [(box(0, 0), 1, 0.9), (box(2, 0), 1, 0.8)],
        [P.TP, P.DUPE],
        [G.MATCHED],
    ),
    "background": ([(box(0, 0), 1)], [(box(100, 100), 1, 0.9)], [P.BKG], [G.MISSED]),
    "background below t_b": ([(box(0, 0), 1)], [(box(18, 0), 1, 0.9)], [P.BKG], [G.MISSED]),
    "missed": (
        [(box(0, 0), 1), (box(200, 200), 2)],
        [(box(0, 0), 1, 0.9)],
        [P.TP],
        [G.MATCHED, G.MISSED],
    ),
    "crowd region ignores": (
        [(box(0, 0, 100, 100), 1, 1)],
        [(box(10, 10), 1, 0.9)],
        [P.IGNORED],
        [G.IGNORED],
    ),
    "crowd of other class does not": (
        [(box(0, 0, 100, 100), 2, 1)],
        [(box(10, 10), 1, 0.9)],
        [P.BKG],
        [G.IGNORED],
    ),
    "loc is tested before cls": (
        [(box(0, 0), 1), (box(10, 0), 2)],
        [(box(10, 0), 1, 0.9)],
        [P.LOC],
        [G.COVERED, G.MISSED],
    ),
    "loc on a matched object covers nothing": (
        [(box(0, 0), 1)],
        [(box(0, 0), 1, 0.9), (box(10, 0), 1, 0.5)],
        [P.TP, P.LOC],
        [G.MATCHED],
    ),
    "higher score matches first": (
        [(box(0, 0), 1)],
        [(box(2, 0), 1, 0.4), (box(1, 0), 1, 0.8)],
        [P.DUPE, P.TP],
        [G.MATCHED],
    ),
    "best IoU object wins": (
        [(box(0, 0), 1), (box(4, 0), 1)],
        [(box(3, 0), 1, 0.9)],
        [P.TP],
        [G.MISSED, G.MATCHED],
    ),
    "no ground truth": ([], [(box(0, 0), 1, 0.9)], [P.BKG], []),
    "no predictions": ([(box(0, 0), 1)], [], [], [G.MISSED]),
}


def _assign(gt_objs, preds):
    gt, res = make(gt_objs, preds)
    anns = gt["annotations"]
    from tilewise.evaluation.error_analysis import _xywh_iou

    crowd = np.array([bool(a["iscrowd"]) for a in anns], dtype=bool)
    iou = _xywh_iou(
        np.array([p["bbox"] for p in res], dtype=float).reshape(-1, 4),
        np.array([a["bbox"] for a in anns], dtype=float).reshape(-1, 4),
        crowd,
    )
    return assign_image(
        iou,
        np.array([p["category_id"] for p in res]),
        np.array([p["score"] for p in res]),
        np.array([a["category_id"] for a in anns]),
        crowd,
    )


@pytest.mark.parametrize("name", list(CASES))
def test_assignment_cases(name: str) -> None:
    gt_objs, preds, pred_expected, gt_expected = CASES[name]
    a = _assign(gt_objs, preds)
    assert [PredOutcome(o) for o in a.pred_outcome] == pred_expected
    assert [GtOutcome(o) for o in a.gt_outcome] == gt_expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("localisation", {ErrorType.LOC: 1}),
        ("class confusion", {ErrorType.CLS: 1}),
        ("both", {ErrorType.BOTH: 1, ErrorType.MISSED: 1}),
        ("duplicate", {ErrorType.DUPE: 1}),
        ("background", {ErrorType.BKG: 1, ErrorType.MISSED: 1}),
        ("missed", {ErrorType.MISSED: 1}),
        ("crowd region ignores", {}),
    ],
)
def test_analyze_errors_counts(name: str, expected: dict) -> None:
    gt_objs, preds, _, _ = CASES[name]
    gt, res = make(gt_objs, preds)
    if not res:
        pytest.skip("no predictions")
    counts = analyze_errors(gt, res).counts()
    assert counts == {t: expected.get(t, 0) for t in ErrorType}


def test_buckets_follow_the_documented_reference_area() -> None:
    # A 10x10 object (small) with a duplicate; a 50x50 background box (medium).
    gt, res = make(
        [(box(0, 0, 10, 10), 1)],
        [
            (box(0, 0, 10, 10), 1, 0.9),
            (box(0, 0, 10, 11), 1, 0.8),
            (box(200, 200, 50, 50), 1, 0.7),
        ],
    )
    analysis = analyze_errors(gt, res, area_ranges=["tinyish:0:16", "big:32:inf"])
    assert analysis.counts("tinyish")[ErrorType.DUPE] == 1  # judged by the object's size
    assert analysis.counts("tinyish")[ErrorType.BKG] == 0
    assert analysis.counts("big")[ErrorType.BKG] == 1  # judged by its own size
    assert analysis.bucket("tinyish").true_positives == 1
    assert analysis.bucket("tinyish").num_gt == 1
    assert analysis.bucket("big").num_gt == 0
    assert analysis.bucket("all").false_positives == 2


def test_max_dets_is_per_class_and_score_threshold_applies() -> None:
    gt, res = make(
        [(box(0, 0), 1)],
        [(box(0, 0), 1, 0.9), (box(1, 0), 1, 0.8), (box(100, 100), 2, 0.7)],
    )
    capped = analyze_errors(gt, res, max_dets=1)
    assert capped.num_predictions == 2  # one per class survives
    assert capped.counts()[ErrorType.DUPE] == 0
    thresholded = analyze_errors(gt, res, score_threshold=0.75)
    assert thresholded.num_predictions == 2
    assert thresholded.counts()[ErrorType.BKG] == 0


def test_invariants_on_generated_data() -> None:
    gt, preds = synthetic_coco(seed=21, num_images=8, crowd_fraction=0.1)
    a = analyze_errors(gt, preds, area_ranges=[])
    b = a.bucket("all")
    non_crowd = sum(1 for x in gt["annotations"] if not x["iscrowd"])
    assert b.num_gt == non_crowd
    assert b.true_positives + b.errors[ErrorType.MISSED] + b.covered == non_crowd
    assert b.true_positives + b.false_positives + a.num_ignored == a.num_predictions
    assert all(n >= 0 for n in b.errors.values())
    assert min(b.errors[t] for t in (ErrorType.LOC, ErrorType.DUPE, ErrorType.BKG)) > 0


def test_segm_analysis_runs_on_masks() -> None:
    gt, preds = synthetic_coco(seed=22, num_images=3, segm=True)
    a = analyze_errors(gt, preds, iou_type="segm")
    assert a.iou_type.value == "segm"
    assert a.bucket("all").true_positives > 0


def test_report_renderings(tmp_path) -> None:
    gt, preds = synthetic_coco(seed=23, num_images=2)
    a = analyze_errors(gt, preds)
    assert "t_f=0.5, t_b=0.1" in a.table()
    assert a.to_markdown().count("\n|") >= 5
    data = a.write_json(tmp_path / "e.json").read_text()
    assert '"dupe"' in data
    with pytest.raises(TilewiseError, match="no bucket"):
        a.bucket("nope")
    with pytest.raises(TilewiseError, match="bg_iou < fg_iou"):
        analyze_errors(gt, preds, fg_iou=0.1, bg_iou=0.2)
