"""A setting's cost without running it (issue 15): kinds of model image, calibrated seconds.

No timing is asserted: only what is counted, called, rounded, cached and summed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tilewise import Detections, TilewiseError
from tilewise.evaluation import EvalDataset
from tilewise.evaluation.synthetic import SquareDetector, bright_squares
from tilewise.evaluation.tune_cost import (
    CALIBRATION_VERSION,
    CostCalibration,
    cached_calibration,
    calibrate,
    image_kinds,
    model_pixels,
)


def _none(images):
    return [Detections.empty() for _ in images]


@pytest.mark.parametrize(
    ("settings", "image_wh", "kinds"),
    [
        # 4 x 2 slices of 64 at overlap 0
        ({"slice_wh": 64, "overlap": 0.0}, (256, 128), {(64, 64, 1.0): 8}),
        # the zoom is part of the kind
        ({"slice_wh": 64, "overlap": 0.0, "zoom": 1.75}, (256, 128), {(64, 64, 1.75): 8}),
        # the full frame is one image of the image's size, never zoomed
        (
            {"slice_wh": 128, "overlap": 0.0, "zoom": 2.0, "full_frame": True},
            (256, 128),
            {(128, 128, 2.0): 2, (256, 128, 1.0): 1},
        ),
        # a slice larger than the image: one image-sized slice, which the full frame joins
        ({"slice_wh": 512, "overlap": 0.2, "full_frame": True}, (256, 128), {(256, 128, 1.0): 2}),
        # non-square slices
        ({"slice_wh": (128, 64), "overlap": 0.0}, (256, 128), {(128, 64, 1.0): 4}),
        # two scales with their zooms, the same grid twice counts twice
        (
            {"overlap": 0.0, "scales": [[128, 1.0], [64, 2.0], [128, 1.0, 12.0, None]]},
            (256, 128),
            {(128, 128, 1.0): 4, (64, 64, 2.0): 8},
        ),
        # overlap 0.5 on 256 x 128 with 128 slices: 3 x 1
        ({"slice_wh": 128, "overlap": 0.5}, (256, 128), {(128, 128, 1.0): 3}),
    ],
)
def test_image_kinds_table(settings, image_wh, kinds):
    assert dict(image_kinds(_none, settings, image_wh)) == kinds


def test_model_pixels_sums_the_kinds():
    settings = {"overlap": 0.0, "scales": [[128, 1.0], [64, 2.0]], "full_frame": True}
    # 2 x 128² + 8 x 128² (64 at zoom 2) + the 256 x 128 frame
    assert model_pixels(_none, settings, (256, 128)) == 2 * 128**2 + 8 * 128**2 + 256 * 128


CAL = CostCalibration(
    {(128, 128, 1.0): 0.012, (64, 64, 2.0): 0.0301, (256, 128, 1.0): 0.05, (64, 64, 1.4): 0.02},
    batch_size=8,
    repeats=3,
    machine="test",
    image="img 1",
)


@pytest.mark.parametrize(
    ("settings", "seconds"),
    [
        ({"slice_wh": 128, "overlap": 0.0}, 2 * 0.012),
        ({"slice_wh": 128, "overlap": 0.0, "full_frame": True}, 2 * 0.012 + 0.05),
        ({"slice_wh": 64, "overlap": 0.0, "zoom": 1.4}, 8 * 0.02),
        ({"overlap": 0.0, "scales": [[128, 1.0], [64, 2.0]]}, 2 * 0.012 + 8 * 0.0301),
    ],
)
def test_calibrated_estimate_is_the_sum_over_model_images(settings, seconds):
    assert CAL.estimate(_none, settings, (256, 128)) == pytest.approx(seconds, rel=1e-12)


def test_estimate_of_a_kind_not_calibrated_names_it():
    with pytest.raises(TilewiseError, match=r"no calibrated time for 64x64@1\.5 model images"):
        CAL.estimate(_none, {"slice_wh": 64, "overlap": 0.0, "zoom": 1.5}, (256, 128))


def test_calibration_json_round_trip_and_version():
    data = json.loads(json.dumps(CAL.to_json()))
    assert data["seconds"]["64x64@1.4"] == 0.02
    assert CostCalibration.from_json(data) == CAL
    with pytest.raises(TilewiseError, match="cost calibration version 0, expected"):
        CostCalibration.from_json({**data, "version": 0})


def test_calibrate_calls_the_model_as_the_slicer_does():
    """Each kind: a warm-up and ``repeats`` calls of ``batch_size`` slices of its size,
    zoomed before the model; the figures rounded to 3 significant digits."""
    seen: list[tuple[int, tuple[int, int]]] = []

    def model(images):
        seen.append((len(images), images[0].shape[:2]))
        return [Detections.empty() for _ in images]

    image = np.random.default_rng(0).integers(0, 255, (100, 90, 3), dtype=np.uint8)
    kinds = [(32, 16, 1.0), (32, 32, 2.0), (200, 150, 1.0)]  # the last larger than the image
    cal = calibrate(model, image, kinds, batch_size=3, repeats=2, image_name="x")
    assert sorted(cal.seconds) == sorted(kinds)
    assert (cal.batch_size, cal.repeats, cal.image) == (3, 2, "x")
    assert all(v >= 0 and float(f"{v:.3g}") == v for v in cal.seconds.values())
    assert sorted(set(seen)) == [(3, (16, 32)), (3, (64, 64)), (3, (150, 200))]
    assert len(seen) == 3 * (1 + 2)
    with pytest.raises(TilewiseError, match="nothing to calibrate"):
        calibrate(model, image, [])


def test_cached_calibration_is_measured_once(tmp_path):
    calls = []

    def model(images):
        calls.append(len(images))
        return [Detections.empty() for _ in images]

    image = np.zeros((64, 64, 3), np.uint8)
    kinds = [(32, 32, 1.0), (32, 32, 1.5)]
    ident = {"model_id": "m", "dataset": "d"}
    first, path, cached = cached_calibration(
        tmp_path, ident, model, lambda: image, kinds, batch_size=2
    )
    assert not cached
    assert json.loads(path.read_text())["version"] == CALIBRATION_VERSION
    n = len(calls)

    def no_image():
        raise AssertionError("the cache was not read")

    again, path2, cached2 = cached_calibration(
        tmp_path, ident, model, no_image, kinds[::-1], batch_size=2
    )
    assert (again, path2, cached2) == (first, path, True)
    assert len(calls) == n
    # another batch size or other kinds: measured again, another file
    _, path3, cached3 = cached_calibration(
        tmp_path, ident, model, lambda: image, kinds[:1], batch_size=2
    )
    assert not cached3
    assert path3 != path


def test_calibrated_tuner_repeats_itself_on_its_cache(tmp_path):
    """cost='calibrated': every time is the calibration's sum; a rerun on the same cache
    reads the same figures and proposes, skips and chooses the same settings; the
    calibration is recorded in the config."""
    pytest.importorskip("optuna")
    from tilewise.evaluation.tune import SearchSpace, tune

    gt, images = bright_squares(num_images=2, image_size=(256, 192))
    data = EvalDataset.from_arrays(gt, images)
    space = SearchSpace(
        slice_wh=(64, 128),
        overlap=(0.1, 0.2),
        zoom=(1.0, 2.0),
        scales=(None, [[128, 1.0], [64, 2.0]]),
        merge=("nms",),
        metric=("iou", "ios"),
        threshold=(0.5,),
        edge_margin=(None,),
        full_frame=(False, True),
    )

    def run():
        return tune(
            data,
            SquareDetector(),
            model_id="squares",
            cache_dir=tmp_path,
            trials=4,
            objective="AP",
            seed=1,
            space=space,
            default_settings={"slice_wh": 128, "overlap": 0.2},
            base_settings={"batch_size": 4},
            class_to_category={0: 1, 1: 2},
            cost="calibrated",
            population=2,
            budget_x=1.5,
            budget_constraint=True,
            skip_over_budget=True,
        )

    a = run()
    files = sorted(tmp_path.glob("calibration-*.json"))
    assert len(files) == 1
    b = run()
    assert sorted(tmp_path.glob("calibration-*.json")) == files
    assert a.calibration == b.calibration
    assert a.calibration is not None
    assert a.calibration.batch_size == 4
    assert [t.settings for t in a.trials] == [t.settings for t in b.trials]
    assert [s.settings for s in a.skipped] == [s.settings for s in b.skipped]
    assert a.chosen.settings == b.chosen.settings
    for t in [a.default, *a.trials]:
        want = a.calibration.estimate(SquareDetector(), t.settings, (256, 192))
        assert t.seconds_per_image == pytest.approx(want, rel=1e-12)
    limit = 1.5 * a.default.seconds_per_image
    assert all(s.seconds_per_image > limit for s in a.skipped)
    tuning = a.config().tuning
    assert tuning["cost"] == "calibrated"
    assert tuning["calibration"] == a.calibration.to_json()
    assert "each kind of model image's CPU time" in a.table()
    # hand-written figures in the cache file are what a rerun uses: a zoom of 2 costs 10x
    stored = json.loads(files[0].read_text())
    stored["seconds"] = {k: (0.01 if k.endswith("@1.0") else 0.1) for k in stored["seconds"]}
    files[0].write_text(json.dumps(stored))
    c = run()
    assert set(c.calibration.seconds.values()) == {0.01, 0.1}
    assert c.default.seconds_per_image == pytest.approx(6 * 0.01)  # 3 x 2 slices of 128
    limit = 1.5 * c.default.seconds_per_image
    assert c.skipped  # 64 px slices (20 of them), or a zoom of 2
    assert "settings proposed over the budget by their calibrated time" in c.table()
    for s in c.skipped:
        assert s.seconds_per_image > limit
        assert s.seconds_per_image == pytest.approx(
            c.calibration.estimate(SquareDetector(), s.settings, (256, 192))
        )
    assert all(t.seconds_per_image <= limit for t in c.trials)


@pytest.mark.parametrize(
    ("zoom", "filled"),
    [(1.0, 1.0), (1.05, 1.1), (1.1, 1.1), (1.25, 1.3), (1.4, 1.4), (1.75, 1.8), (2.0, 2.0)],
)
def test_fill_input_zoom_table(tmp_path_factory, zoom, filled):
    """A 320 px dynamic graph (stride 32): the zoom whose box fills the padded input, at
    the same input size (the same cost)."""
    pytest.importorskip("onnx")
    from tilewise.evaluation.tune_cost import fill_input_zoom
    from tilewise.models import OnnxDetector
    from tilewise.models.testing import constant_detector_onnx

    path = tmp_path_factory.mktemp("f") / "m.onnx"
    model = OnnxDetector(constant_detector_onnx(path, imgsz=320, dynamic_hw=True))
    got = fill_input_zoom(model, zoom)
    assert got == filled
    assert model.with_input_zoom(got).input_hw == model.with_input_zoom(zoom).input_hw
    fixed = OnnxDetector(constant_detector_onnx(path.with_name("f.onnx"), imgsz=320))
    assert fill_input_zoom(fixed, zoom) == zoom
