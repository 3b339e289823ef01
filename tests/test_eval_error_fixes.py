"""dAP of TIDE's oracle fixes: hand-worked tables, properties, per-bucket consistency.

Expected values are worked out by hand with COCO's 101-point interpolated precision at
IoU 0.5: a class whose precision is 1 up to recall r and whose recall stops there scores
(100 r + 1) / 101, and the mean over classes with objects is the AP.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tilewise import TilewiseError
from tilewise.evaluation.coco import GroundTruth, Predictions, SkipReport, load_ground_truth
from tilewise.evaluation.error_analysis import ErrorType, _xywh_iou, analyze_errors
from tilewise.evaluation.metrics import evaluate
from tilewise.evaluation.synthetic import synthetic_coco
from tilewise.evaluation.tide_fixes import ImageCase, fix_image, fix_impact, fixing_predictions
from tilewise.evaluation.tide_rules import assign_image

T = ErrorType


def box(x: float, y: float, w: float = 20.0, h: float = 20.0) -> list[float]:
    return [x, y, w, h]


def scene(objects: list[tuple], preds: list[tuple]) -> tuple[dict, list]:
    """objects: (bbox, category); preds: (bbox, category, score); one 400x400 image."""
    anns = [
        {"id": i + 1, "image_id": 1, "category_id": c, "bbox": b, "area": b[2] * b[3]}
        for i, (b, c) in enumerate(objects)
    ]
    gt = {
        "images": [{"id": 1, "width": 400, "height": 400}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": anns,
    }
    return gt, [{"image_id": 1, "category_id": c, "bbox": b, "score": s} for b, c, s in preds]


# Objects 100 px apart; box(x + 2, y) overlaps box(x, y) at IoU 0.818 (a hit at 0.5),
# box(x + 10, y) at 0.333 (a localisation error), box(300, 300) overlaps nothing.
A, B, C, D = box(0, 0), box(100, 0), box(200, 0), box(0, 100)


def near(b: list[float], dx: float) -> list[float]:
    return [b[0] + dx, b[1], b[2], b[3]]


# name: (objects, predictions, AP, {type: dAP}) - types left out have dAP 0.
CASES = {
    "one localisation error among perfect detections": (
        [(A, 1), (B, 1), (C, 1), (D, 1)],
        [(A, 1, 0.9), (B, 1, 0.8), (C, 1, 0.7), (near(D, 10), 1, 0.6)],
        76 / 101,
        {T.LOC: 25 / 101},
    ),
    "localisation error scored above the hits": (
        [(A, 1), (B, 1), (C, 1), (D, 1)],
        [(near(D, 10), 1, 0.95), (A, 1, 0.9), (B, 1, 0.8), (C, 1, 0.7)],
        76 * 0.75 / 101,
        {T.LOC: 1 - 57 / 101},
    ),
    "two localisation errors on one object: one fixed, one removed": (
        [(A, 1), (B, 1)],
        [(B, 1, 0.9), (near(A, 10), 1, 0.8), (near(A, -10), 1, 0.7)],
        51 / 101,
        {T.LOC: 50 / 101},
    ),
    "class confusion": (
        [(A, 1), (B, 2)],
        [(A, 1, 0.9), (near(B, 2), 1, 0.8)],
        0.5,
        {T.CLS: 0.5},
    ),
    "class confusion on an object already found is removed": (
        [(A, 2), (C, 1)],
        [(A, 2, 0.9), (near(A, 2), 1, 0.8), (C, 1, 0.7)],
        0.75,
        {T.CLS: 0.25},
    ),
    "duplicate": (
        [(A, 1), (B, 1)],
        [(A, 1, 0.9), (near(A, 2), 1, 0.8), (B, 1, 0.7)],
        253 / 303,
        {T.DUPE: 50 / 303},
    ),
    "background": (
        [(A, 1), (B, 1)],
        [(A, 1, 0.9), (box(300, 300), 1, 0.8), (B, 1, 0.7)],
        253 / 303,
        {T.BKG: 50 / 303},
    ),
    "class and localisation": (
        [(A, 1), (B, 1), (C, 2)],
        [(A, 1, 0.9), (near(B, 10), 2, 0.8), (B, 1, 0.7), (C, 2, 0.5)],
        0.75,
        {T.BOTH: 0.25},
    ),
    "missed": (
        [(A, 1), (B, 1)],
        [(A, 1, 0.9)],
        51 / 101,
        {T.MISSED: 50 / 101},
    ),
    "missed behind a background error": (
        [(A, 1), (B, 1)],
        [(box(300, 300), 1, 0.95), (A, 1, 0.9)],
        25.5 / 101,
        {T.BKG: 25.5 / 101, T.MISSED: 25 / 101},
    ),
    "no errors": ([(A, 1), (B, 2)], [(A, 1, 0.9), (B, 2, 0.8)], 1.0, {}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_delta_ap_table(name: str) -> None:
    objects, preds, ap, deltas = CASES[name]
    analysis = analyze_errors(*scene(objects, preds), area_ranges=[])
    b = analysis.bucket("all")
    assert b.ap == pytest.approx(ap, abs=1e-12)
    for t in ErrorType:
        assert analysis.delta_ap()[t] == pytest.approx(deltas.get(t, 0.0), abs=1e-12), t
    assert b.ap_all_fixed == 1.0
    first = max(deltas, key=deltas.__getitem__) if deltas else None
    assert b.fix_first is first
    assert analysis.to_dict()["buckets"][0]["fix_first"] == (first and first.value)
    if first is None:
        assert analysis.advice() == "Fix first: nothing - fixing any one error type gains no AP50"
    else:
        line = f"Fix first (largest dAP50): all: {first.label} +{deltas[first]:.3f}"
        assert analysis.advice() == line
        assert line in analysis.table()
        assert line in analysis.to_markdown()


def test_delta_ap_per_bucket_hand_worked() -> None:
    # Two small objects (one missed) and two large ones (both found): in the small bucket
    # the large hits are ignored (their objects are out of range), and vice versa.
    small_a, small_b = box(0, 0, 10, 10), box(100, 0, 10, 10)
    large_c, large_d = box(200, 0, 40, 40), box(0, 100, 40, 40)
    gt, preds = scene(
        [(small_a, 1), (small_b, 1), (large_c, 1), (large_d, 1)],
        [(small_a, 1, 0.9), (large_c, 1, 0.8), (large_d, 1, 0.7)],
    )
    analysis = analyze_errors(gt, preds, area_ranges=["small:0:20", "large:20:inf"])
    expected = {  # bucket: (AP50, dMissed)
        "all": (76 / 101, 25 / 101),
        "small": (51 / 101, 50 / 101),
        "large": (1.0, 0.0),
    }
    for name, (ap, missed) in expected.items():
        b = analysis.bucket(name)
        assert b.ap == pytest.approx(ap, abs=1e-12), name
        assert b.delta_ap[T.MISSED] == pytest.approx(missed, abs=1e-12), name
        assert all(b.delta_ap[t] == 0.0 for t in ErrorType if t is not T.MISSED), name
        assert b.ap_all_fixed == 1.0
    assert analysis.counts("small")[T.MISSED] == 1
    assert analysis.counts("large")[T.MISSED] == 0


def test_fixed_predictions_follow_the_oracles() -> None:
    gt, preds = scene(
        [(A, 1), (B, 2)],
        [
            (A, 1, 0.9),  # TP
            (near(B, 2), 1, 0.8),  # cls -> class 2
            (near(A, 10), 1, 0.7),  # loc on a found object -> removed
            (box(300, 300), 2, 0.6),  # bkg
        ],
    )
    g = load_ground_truth(gt)
    objs = g.dataset["annotations"]
    iou = np.array([[0.0, 0.0]] * 4)
    iou[0, 0], iou[1, 1], iou[2, 0] = 1.0, 0.818, 1 / 3
    a = assign_image(
        iou, np.array([1, 1, 1, 2]), np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 2]), np.zeros(2)
    )
    case = ImageCase(preds, objs, a)
    fixed, keep = fix_image(case, {T.CLS})
    assert [(p["category_id"], p["score"]) for p in fixed] == [
        (1, 0.9),
        (2, 0.8),
        (1, 0.7),
        (2, 0.6),
    ]
    fixed, _ = fix_image(case, {T.LOC})
    assert [p["score"] for p in fixed] == [0.9, 0.8, 0.6]
    fixed, _ = fix_image(case, {T.BKG, T.CLS})
    assert [p["score"] for p in fixed] == [0.9, 0.8, 0.7]
    assert keep.tolist() == [True, True]
    assert preds[1]["category_id"] == 1  # the input is not modified


def test_ap_column_is_coco_ap50_per_bucket() -> None:
    gt, preds = synthetic_coco(seed=3, num_images=3)
    analysis = analyze_errors(gt, preds)
    result = evaluate(gt, preds, max_dets=100)
    assert analysis.bucket().ap == pytest.approx(result.stats["AP50@100"], abs=1e-12)
    assert result.precision is not None
    assert result.iou_thresholds is not None
    t50 = int(np.flatnonzero(np.isclose(result.iou_thresholds, 0.5))[0])
    for a, r in enumerate(result.area_ranges):
        p = result.precision[t50, :, :, a, result.eval_max_dets.index(100)]
        defined = p[p > -1]
        expected = float(defined.mean()) if defined.size else math.nan
        got = analysis.bucket(r.name).ap
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


def test_without_fixes_and_bad_thresholds() -> None:
    gt, preds = synthetic_coco(seed=1, num_images=2)
    plain = analyze_errors(gt, preds, fixes=False)
    assert plain.impact is None
    assert "dLoc" not in plain.table()
    assert plain.to_dict()["buckets"][0]["delta_ap"] is None
    with pytest.raises(TilewiseError, match="fixes=True"):
        plain.delta_ap()
    with pytest.raises(TilewiseError, match="iou_thresholds"):
        evaluate(gt, preds, iou_thresholds=[0.0])


def test_segm_fixes_use_the_object_masks() -> None:
    gt, preds = synthetic_coco(seed=42, num_images=2, segm=True)
    analysis = analyze_errors(gt, preds, iou_type="segm")
    assert analysis.bucket().ap_all_fixed == 1.0
    assert analysis.bucket().ap == pytest.approx(
        evaluate(gt, preds, iou_type="segm").stats["AP50@100"], abs=1e-12
    )


def test_json_and_tables_carry_the_same_figures() -> None:
    gt, preds = synthetic_coco(seed=5, num_images=3)
    analysis = analyze_errors(gt, preds, area_ranges=["tiny:0:16", "big:16:inf"])
    assert analysis.impact is not None
    data = analysis.to_dict()
    for b, row in zip(analysis.buckets, data["buckets"], strict=True):
        name = b.area_range.name
        for t in ErrorType:
            delta = analysis.impact.fixed[t][name] - analysis.impact.ap[name]
            assert b.delta_ap[t] == delta
            assert row["delta_ap"][t.value] == (None if math.isnan(delta) else delta)
        assert row["ap_all_fixed"] == analysis.impact.all_fixed[name]
    md = analysis.to_markdown()
    assert "| bucket | GT | TP | Cls | Loc | Both | Dupe | Bkg | Missed | AP50 |" in md
    assert f"| {analysis.bucket().delta_ap[T.MISSED]:.3f} |" in md


# Hypothesis scenes: objects in separate 50 px cells (at least 10 px apart), so no box
# overlaps two objects at IoU >= 0.5 and COCO's per-bucket matching agrees with TIDE's.
@st.composite
def scenes(draw: st.DrawFn) -> tuple[dict, list]:
    n = draw(st.integers(1, 8))
    cells = draw(st.lists(st.integers(0, 35), min_size=n, max_size=n, unique=True))
    objects, preds = [], []
    for cell in cells:
        x0, y0 = 50.0 * (cell % 6), 50.0 * (cell // 6)
        w = draw(st.floats(4, 40))
        h = draw(st.floats(4, 40))
        obj = [x0, y0, w, h]
        cat = draw(st.sampled_from([1, 2]))
        objects.append((obj, cat))
        for _ in range(draw(st.integers(0, 3))):
            spread = draw(st.sampled_from([0.08, 0.3, 0.6]))  # hits and dupes .. misses
            dx = draw(st.floats(-spread, spread)) * w
            dy = draw(st.floats(-spread, spread)) * h
            scale = draw(st.floats(1 - spread, 1 + spread))
            pred_cat = draw(st.sampled_from([cat, cat, 3 - cat]))
            pbox = [x0 + dx, y0 + dy, w * scale, h * scale]
            preds.append((pbox, pred_cat, draw(st.floats(0.05, 1.0))))
    for _ in range(draw(st.integers(0, 3))):  # background boxes in the empty strip
        x = draw(st.floats(0, 380))
        preds.append(
            ([x, 310.0, 15.0, 15.0], draw(st.sampled_from([1, 2])), draw(st.floats(0.05, 1.0)))
        )
    return scene(objects, preds)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=scenes())
def test_fix_properties(data: tuple[dict, list]) -> None:
    gt, preds = data
    if not preds:
        return
    analysis = analyze_errors(gt, preds, area_ranges=["small:0:16", "large:16:inf"])
    impact = analysis.impact
    assert impact is not None
    for b in analysis.buckets:
        name = b.area_range.name
        if math.isnan(b.ap):
            assert b.num_gt == 0
            continue
        for t in ErrorType:
            fixed = impact.fixed[t][name]
            assert math.isnan(fixed) or fixed >= b.ap - 1e-12, (name, t)
        # Every error fixed: only true positives are left.
        assert math.isnan(b.ap_all_fixed) or b.ap_all_fixed == pytest.approx(1.0)
    # A type without errors anywhere changes nothing.
    counts = analysis.counts("all")
    for t in ErrorType:
        if counts[t] == 0:
            assert analysis.delta_ap("all")[t] == 0.0, t


def test_empty_fix_result_is_defined() -> None:
    # Only a background error: fixing it leaves no prediction at all (AP 0, not an error).
    gt, preds = scene([(A, 1)], [(box(300, 300), 1, 0.9)])
    analysis = analyze_errors(gt, preds, area_ranges=[])
    assert analysis.bucket().ap == 0.0
    assert analysis.delta_ap()[T.BKG] == 0.0
    # Fixing the missed object leaves no object at all: AP undefined, so is dAP.
    assert math.isnan(analysis.delta_ap()[T.MISSED])
    assert math.isnan(analysis.bucket().ap_all_fixed)


def test_predictions_object_is_accepted() -> None:
    gt, preds = scene([(A, 1)], [(A, 1, 0.9)])
    g = load_ground_truth(gt)
    p = Predictions(annotations=[dict(x) for x in preds], skipped=SkipReport())
    assert analyze_errors(g, p, area_ranges=[]).bucket().ap == 1.0


def test_delta_ap_plot(tmp_path) -> None:
    from tilewise.evaluation.plots import plot_delta_ap

    gt, preds = synthetic_coco(seed=2, num_images=2)
    measured = analyze_errors(gt, preds, area_ranges=["none:500:inf"])  # a bucket with no object
    assert math.isnan(measured.bucket("none").ap)
    for target in (
        plot_delta_ap(measured, tmp_path / "one.png"),
        plot_delta_ap({"a": measured, "b": measured}, tmp_path / "two.png"),
    ):
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(TilewiseError, match="no dAP"):
        plot_delta_ap({"plain": analyze_errors(gt, preds, fixes=False)}, tmp_path / "x.png")


def test_fixing_predictions_picks_the_highest_score_first_on_ties() -> None:
    # object 0: loc errors at input 0 (0.8), 1 (0.6), 3 (0.8, a tie: input 0 wins);
    # object 1 is matched by input 2, so its cls error (input 4) fixes nothing;
    # object 2 has no error aimed at it.
    iou = np.array(
        [[0.3, 0.0, 0.0], [0.3, 0.0, 0.0], [0.0, 0.9, 0.0], [0.3, 0.0, 0.0], [0.0, 0.8, 0.0]]
    )
    a = assign_image(
        iou,
        np.array([1, 1, 1, 1, 2]),
        np.array([0.8, 0.6, 0.9, 0.8, 0.95]),
        np.array([1, 1, 1]),
        np.zeros(3),
    )
    assert [int(o) for o in a.pred_outcome] == [2, 2, 0, 2, 1]  # LOC LOC TP LOC CLS
    scores = [0.8, 0.6, 0.9, 0.8, 0.95]
    assert fixing_predictions(a, scores).tolist() == [0, -1, -1]


def one_image_cases(gt: dict, preds: list) -> tuple[GroundTruth, list[ImageCase]]:
    g = load_ground_truth(gt)
    objs = g.dataset["annotations"]
    iou = _xywh_iou(
        np.array([p["bbox"] for p in preds]),
        np.array([o["bbox"] for o in objs]),
        np.zeros(len(objs), dtype=bool),
    )
    a = assign_image(
        iou,
        np.array([p["category_id"] for p in preds]),
        np.array([p["score"] for p in preds]),
        np.array([o["category_id"] for o in objs]),
        np.zeros(len(objs)),
    )
    return g, [ImageCase(preds, objs, a)]


def test_fix_impact_defaults_and_checks() -> None:
    objects, preds, _, _ = CASES["missed behind a background error"]
    gt, res = scene(objects, preds)
    analysis = analyze_errors(gt, res, area_ranges=[])
    g, cases = one_image_cases(gt, res)
    impact = fix_impact(g, cases)  # t_f 0.5, maxDets 100, bbox, the all bucket
    assert impact.ap == {"all": analysis.bucket().ap}
    assert impact.deltas() == analysis.delta_ap()
    assert fix_impact(g, cases, fg_iou=1.0).fg_iou == 1.0
    for bad in (0.0, 1.5, float("nan"), float("inf")):
        with pytest.raises(TilewiseError, match=r"^fg_iou must be in \(0, 1\], got"):
            fix_impact(g, cases, fg_iou=bad)


def test_missed_fix_keeps_the_ground_truth_consistent() -> None:
    from tilewise.evaluation.tide_fixes import _without_objects

    g = load_ground_truth(scene([(A, 1), (B, 1), (C, 2)], [])[0])
    kept = _without_objects(g, {2})
    assert [a["id"] for a in kept.dataset["annotations"]] == [1, 3]
    assert kept.original_ids == (g.original_ids[0], g.original_ids[2])
    assert g.num_annotations == 3  # the source is not modified
    assert _without_objects(g, set()) is g


def test_results_are_frozen() -> None:
    g, cases = one_image_cases(*scene([(A, 1)], [(A, 1, 0.9)]))
    impact = fix_impact(g, cases)
    with pytest.raises(dataclasses.FrozenInstanceError):
        impact.fg_iou = 0.3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cases[0].objects = []  # type: ignore[misc]
