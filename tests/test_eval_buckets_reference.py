"""AP/AR in every size bucket, checked against pycocotools run with the same ``areaRng``.

Issue 17, item 3: the headline small-object metrics (AP_2-8px, AP_8-16px, custom ranges)
are checked independently, not against tilewise itself: pycocotools' ``COCOeval`` is run
with ``params.areaRng`` set to the same ranges, and every bucket's AP and AR (and the
overall AP50/AP75/AR50/AR75) must agree to 1e-12. A table of hand-worked cases pins the
exact values and the COCO rules behind them (boundary areas count in both neighbouring
buckets, unmatched detections outside a bucket are ignored in it, crowd regions absorb
detections); a hypothesis property checks random ground truth and predictions.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tilewise.evaluation import evaluate
from tilewise.evaluation.buckets import AreaRange

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO as PyCOCO  # noqa: N811
from pycocotools.cocoeval import COCOeval as PyCOCOeval

TOL = 1e-12


def _mean_defined(values: np.ndarray) -> float:
    """pycocotools' ``summarize``: the mean of the entries > -1, or -1 when there are none."""
    v = values[values > -1]
    return float(np.mean(v)) if v.size else -1.0


def pycocotools_buckets(
    gt: dict[str, Any], preds: list[dict[str, Any]], ranges: list[AreaRange], caps: list[int]
) -> dict[str, float]:
    """Stats per (metric, bucket, cap) from pycocotools with ``areaRng`` = ``ranges``."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = PyCOCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        dets = coco.loadRes(copy.deepcopy(preds))
        ev = PyCOCOeval(coco, dets, "bbox")
        # COCO's own rule, from the side lengths (not tilewise's area_bounds)
        ev.params.areaRng = [[0.0, 1e5**2]] + [
            [r.min_side**2, 1e5**2 if math.isinf(r.max_side) else r.max_side**2] for r in ranges
        ]
        ev.params.areaRngLbl = ["all"] + [r.name for r in ranges]
        ev.params.maxDets = list(caps)
        ev.evaluate()
        ev.accumulate()
    precision, recall = ev.eval["precision"], ev.eval["recall"]  # [T,R,K,A,M], [T,K,A,M]
    t50 = np.flatnonzero(ev.params.iouThrs == 0.5)
    t75 = np.flatnonzero(ev.params.iouThrs == 0.75)
    out: dict[str, float] = {}
    for m, cap in enumerate(caps):
        for a, name in enumerate(ev.params.areaRngLbl):
            out[f"AP_{name}@{cap}"] = _mean_defined(precision[:, :, :, a, m])
            out[f"AR_{name}@{cap}"] = _mean_defined(recall[:, :, a, m])
        out[f"AP50@{cap}"] = _mean_defined(precision[t50, :, :, 0, m])
        out[f"AP75@{cap}"] = _mean_defined(precision[t75, :, :, 0, m])
        out[f"AR50@{cap}"] = _mean_defined(recall[t50, :, 0, m])
        out[f"AR75@{cap}"] = _mean_defined(recall[t75, :, 0, m])
    return out


def tilewise_buckets(
    gt: dict[str, Any], preds: list[dict[str, Any]], custom: list[str] | None, tiny: bool
) -> tuple[dict[str, float], list[AreaRange], list[int]]:
    """The same stats from tilewise, undefined (NaN) written as pycocotools' -1."""
    res = evaluate(gt, preds, area_ranges=custom, tiny=tiny, max_dets=(100, 10))
    caps = list(res.eval_max_dets)
    out: dict[str, float] = {}
    for cap in res.max_dets:
        for r in res.area_ranges:
            for metric in ("AP", "AR"):
                v = res.get(metric, r.name, max_dets=cap)
                out[f"{metric}_{r.name}@{cap}"] = -1.0 if math.isnan(v) else v
        for metric in ("AP50", "AP75", "AR50", "AR75"):
            v = res.get(metric, max_dets=cap)
            out[f"{metric}@{cap}"] = -1.0 if math.isnan(v) else v
    return out, list(res.area_ranges[1:]), caps


def assert_agrees_with_pycocotools(
    gt: dict[str, Any], preds: list[dict[str, Any]], custom: list[str] | None, tiny: bool
) -> dict[str, float]:
    ours, ranges, caps = tilewise_buckets(gt, preds, custom, tiny)
    ref = pycocotools_buckets(gt, preds, ranges, caps)
    compared = 0
    for key, value in ours.items():
        assert value == pytest.approx(ref[key], abs=TOL, rel=0), (key, value, ref[key])
        compared += 1
    assert compared == len(ours) >= 4 * len(ranges)
    return ours


# ----------------------------------------------------------------------------- table


def _gt(*objects: tuple[float, float, float, float] | tuple[float, float, float, float, int]):
    anns = []
    for k, obj in enumerate(objects, start=1):
        x, y, w, h = obj[:4]
        crowd = int(obj[4]) if len(obj) > 4 else 0
        anns.append(
            {
                "id": k,
                "image_id": 1,
                "category_id": 1,
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": crowd,
            }
        )
    return {
        "images": [{"id": 1, "width": 1000, "height": 1000}],
        "categories": [{"id": 1, "name": "obj"}],
        "annotations": anns,
    }


def _dt(*boxes: tuple[float, float, float, float, float]) -> list[dict[str, Any]]:
    return [
        {"image_id": 1, "category_id": 1, "bbox": [x, y, w, h], "score": s}
        for x, y, w, h, s in boxes
    ]


NAN = -1.0  # undefined: no ground truth in the bucket

# (case, GT, predictions, custom ranges, expected {stat: value} at maxDets=100)
CASES = [
    (
        "side exactly 8 px counts in 2-8 and 8-16",
        _gt((10, 10, 8, 8)),
        _dt((10, 10, 8, 8, 0.9)),
        None,
        {"AP_2-8px": 1.0, "AP_8-16px": 1.0, "AP_16-32px": NAN, "AR_2-8px": 1.0, "AP_small": 1.0},
    ),
    (
        "under 2 px: in all and small, in no tiny bucket",
        _gt((10, 10, 1.5, 1.5)),
        _dt((10, 10, 1.5, 1.5, 0.9)),
        None,
        {"AP_all": 1.0, "AP_small": 1.0, "AP_2-8px": NAN, "AP_8-16px": NAN, "AR_all": 1.0},
    ),
    (
        "a higher-scored false positive in the bucket halves precision",
        _gt((10, 10, 5, 5)),
        _dt((100, 100, 4, 4, 0.9), (10, 10, 5, 5, 0.8)),
        None,
        {"AP_2-8px": 0.5, "AR_2-8px": 1.0, "AP_all": 0.5},
    ),
    (
        "an unmatched detection outside the bucket is ignored in it",
        _gt((10, 10, 5, 5)),
        _dt((100, 100, 20, 20, 0.9), (10, 10, 5, 5, 0.8)),
        None,
        {"AP_2-8px": 1.0, "AP_16-32px": NAN, "AP_all": 0.5, "AR_2-8px": 1.0},
    ),
    (
        "a matched detection counts in its ground truth's bucket whatever its own size",
        _gt((10, 10, 8, 8)),
        _dt((10, 10, 8.5, 8.5, 0.9)),  # area 72.25: outside 2-8, IoU 0.886
        None,
        {"AP_2-8px": 0.8, "AP_8-16px": 0.8, "AR_2-8px": 0.8},
    ),
    (
        "a missed object: AR and AP 0 in its bucket only",
        _gt((10, 10, 5, 5), (200, 200, 12, 12)),
        _dt((200, 200, 12, 12, 0.9)),
        None,
        {"AP_2-8px": 0.0, "AR_2-8px": 0.0, "AP_8-16px": 1.0, "AR_all": 0.5},
    ),
    (
        "a detection on a crowd region is neither TP nor FP",
        _gt((10, 10, 6, 6), (300, 300, 50, 50, 1)),
        _dt((310, 310, 6, 6, 0.95), (10, 10, 6, 6, 0.9)),
        None,
        {"AP_2-8px": 1.0, "AP_all": 1.0, "AR_all": 1.0, "AP_medium": NAN},
    ),
    (
        "custom range 3-5 px includes both ends",
        _gt((10, 10, 3, 3), (50, 50, 5, 5), (90, 90, 6, 6)),
        _dt((10, 10, 3, 3, 0.9), (50, 50, 5, 5, 0.8)),
        ["c3-5:3:5", "rest:5.5:inf"],
        {"AP_c3-5": 1.0, "AR_c3-5": 1.0, "AP_rest": 0.0, "AR_all": 2 / 3},
    ),
    (
        "custom range with no objects is undefined, not zero",
        _gt((10, 10, 3, 3)),
        _dt((10, 10, 3, 3, 0.9), (50, 50, 40, 40, 0.95)),
        ["empty:30:60"],
        {"AP_empty": NAN, "AR_empty": NAN, "AP_all": 0.5},
    ),
]


@pytest.mark.parametrize(
    ("gt", "preds", "custom", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bucket_table_matches_hand_values_and_pycocotools(gt, preds, custom, expected) -> None:
    ours = assert_agrees_with_pycocotools(gt, preds, custom, tiny=custom is None)
    for key, value in expected.items():
        assert ours[f"{key}@100"] == pytest.approx(value, abs=TOL), key


# ----------------------------------------------------------------------------- property

# boundary sides of the presets, so objects sit exactly on bucket edges
EDGE_SIDES = (2.0, 8.0, 16.0, 32.0, 96.0)


@st.composite
def scenes(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    seed = draw(st.integers(0, 2**32 - 1))
    n_images = draw(st.integers(1, 3))
    n_cats = draw(st.integers(1, 3))
    miss = draw(st.floats(0.0, 0.8))
    jitter = draw(st.floats(0.0, 0.5))
    n_false = draw(st.integers(0, 12))
    crowd = draw(st.floats(0.0, 0.2))
    score_decimals = draw(st.sampled_from([1, 2, 6]))  # coarse scores make ties
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "width": 640, "height": 640} for i in range(n_images)]
    anns: list[dict[str, Any]] = []
    preds: list[dict[str, Any]] = []

    def side() -> float:
        if rng.random() < 0.2:
            return float(rng.choice(EDGE_SIDES))
        return float(np.exp(rng.uniform(np.log(1.0), np.log(150.0))))

    for img in images:
        for _ in range(int(rng.integers(0, 12))):
            w, h = side(), side()
            x, y = float(rng.uniform(0, 640 - w)), float(rng.uniform(0, 640 - h))
            cat = int(rng.integers(1, n_cats + 1))
            is_crowd = int(rng.random() < crowd)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img["id"],
                    "category_id": cat,
                    "bbox": [x, y, w, h],
                    "area": w * h * (1.0 if rng.random() < 0.7 else float(rng.uniform(0.3, 1))),
                    "iscrowd": is_crowd,
                }
            )
            if rng.random() < miss:
                continue
            dx, dy = rng.normal(0, jitter * w / 3), rng.normal(0, jitter * h / 3)
            sw, sh = np.exp(rng.normal(0, jitter / 3, 2))
            preds.append(
                {
                    "image_id": img["id"],
                    "category_id": cat,
                    "bbox": [x + dx, y + dy, w * sw, h * sh],
                    "score": round(float(rng.uniform(0.3, 1.0)), score_decimals),
                }
            )
        for _ in range(int(rng.integers(0, n_false + 1))):
            w, h = side(), side()
            preds.append(
                {
                    "image_id": img["id"],
                    "category_id": int(rng.integers(1, n_cats + 1)),
                    "bbox": [float(rng.uniform(0, 600)), float(rng.uniform(0, 600)), w, h],
                    "score": round(float(rng.uniform(0.0, 0.9)), score_decimals),
                }
            )
    gt = {
        "images": images,
        "categories": [{"id": c, "name": f"c{c}"} for c in range(1, n_cats + 1)],
        "annotations": anns,
    }
    return gt, preds


custom_ranges = st.lists(
    st.tuples(st.floats(0.0, 60.0), st.floats(0.5, 200.0) | st.just(math.inf)).filter(
        lambda t: t[0] < t[1]
    ),
    min_size=1,
    max_size=3,
).map(lambda spans: [f"r{k}:{lo}:{hi}" for k, (lo, hi) in enumerate(spans)])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene=scenes(), custom=st.none() | custom_ranges)
def test_every_bucket_matches_pycocotools_property(scene, custom) -> None:
    gt, preds = scene
    ours, ranges, _ = tilewise_buckets(gt, preds, custom, tiny=custom is None)
    if not preds:
        # pycocotools cannot load an empty result list; COCO's meaning is plain: every
        # bucket holding a non-crowd object scores 0, every other one is undefined
        for r in ranges:
            areas = [a["area"] for a in gt["annotations"] if not a["iscrowd"]]
            held = bool(r.contains(areas).any()) if areas else False
            for metric in ("AP", "AR"):
                assert ours[f"{metric}_{r.name}@100"] == (0.0 if held else -1.0)
        return
    assert_agrees_with_pycocotools(gt, preds, custom, tiny=custom is None)
