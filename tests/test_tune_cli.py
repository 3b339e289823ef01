"""``tilewise tune``: the command over the tuner, its config through ``predict --config``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("optuna")

from tests.tune_models import squares
from tilewise import Slicer
from tilewise.cli.app import app
from tilewise.evaluation import tune as tune_module
from tilewise.evaluation.demo import write_demo_dataset
from tilewise.images import read_image
from tilewise.slicing import SlicerConfig
from tilewise.slicing.confidence import with_conf

runner = CliRunner()
MODEL = "tests.tune_models:squares"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune-demo")
    paths = write_demo_dataset(root, num_images=3, image_size=(192, 128))
    return paths["ground_truth"], paths["images"]


def _tune(demo, out, *extra: str):
    gt, images = demo
    args = ["tune", str(gt), str(images), "--model", MODEL, "--out", str(out), "--trials", "4"]
    return runner.invoke(app, [*args, *extra])


def test_config_is_read_by_predict_and_from_config(demo, tmp_path):
    result = _tune(demo, tmp_path / "t", "--budget-x", "1000", "--seed", "2")
    assert result.exit_code == 0, result.output
    assert "Pareto front (4 trials; budget 1000x default time)" in result.output
    assert "best within 1000x the default's time: AP_small" in result.output
    assert (tmp_path / "t" / "pareto.png").stat().st_size > 1000
    config_path = tmp_path / "t" / "config.json"
    config = SlicerConfig.load(config_path)
    report = json.loads((tmp_path / "t" / "tune.json").read_text())
    assert config.settings == report["chosen"]["settings"]
    assert config.model == {"names": ["red", "green"]}
    assert config.tuning["budget_met"] is True
    assert config.tuning["conf"] == 0.25  # tune's default --conf, recorded
    assert not {"seconds_per_image", "default_seconds_per_image"} & set(config.tuning)
    best = max([report["default"], *report["trials"]], key=lambda t: (t["value"], -t["trial"]))
    assert report["chosen"] == best

    image = sorted(demo[1].iterdir())[0]
    pred = runner.invoke(
        app,
        [
            *("predict", str(image), "--model", MODEL, "--config", str(config_path)),
            *("--out", str(tmp_path / "p"), "--no-progress"),
        ],
    )
    assert pred.exit_code == 0, pred.output
    written = json.loads((tmp_path / "p" / f"{image.stem}.json").read_text())
    assert written["config"] == str(config_path)
    model = with_conf(squares(), 0.25)  # predict's default --conf applies to every model
    expected = Slicer.from_config(model, config_path, batch_size=8)(read_image(image).pixels)
    assert written["count"] == len(expected) > 0
    got = np.array([d["xyxy"] for d in written["detections"]], np.float32)
    np.testing.assert_allclose(got, expected.xyxy, atol=0.006)
    assert [d["class_id"] for d in written["detections"]] == expected.class_id.tolist()


@pytest.mark.parametrize(
    "options",
    [
        # measured seconds: the same file while the budget does not bite
        ("--budget-x", "1000"),
        # estimated time: the same file under a real budget, whatever the load
        ("--budget-x", "2", "--cost", "model_pixels"),
    ],
)
def test_same_seed_gives_the_same_config_file(demo, tmp_path, options):
    a = _tune(demo, tmp_path / "a", *options, "--seed", "5")
    b = _tune(demo, tmp_path / "b", *options, "--seed", "5")
    assert a.exit_code == b.exit_code == 0, a.output + b.output
    assert (tmp_path / "a" / "config.json").read_bytes() == (
        tmp_path / "b" / "config.json"
    ).read_bytes()

    def trials(name):
        report = json.loads((tmp_path / name / "tune.json").read_text())
        return [t["settings"] for t in report["trials"]], report["heldout_images"]

    assert trials("a") == trials("b")
    c = _tune(demo, tmp_path / "c", *options, "--seed", "6")
    assert c.exit_code == 0, c.output
    assert trials("a") != trials("c")


def test_no_setting_meets_the_budget_writes_the_fastest_flagged(demo, tmp_path):
    result = _tune(demo, tmp_path / "t", "--budget-x", "1e-9", "--holdout", "0")
    assert result.exit_code == 0, result.output
    assert "NO setting meets the budget of 1e-09x the default's time" in result.output
    assert "config.json holds the FASTEST setting instead" in result.output
    report = json.loads((tmp_path / "t" / "tune.json").read_text())
    fastest = min(
        [report["default"], *report["trials"]],
        key=lambda t: (t["seconds_per_image"], t["trial"]),
    )
    assert report["chosen"] == fastest
    assert report["budget_met"] is False
    config = SlicerConfig.load(tmp_path / "t" / "config.json")
    assert config.settings == fastest["settings"]
    assert config.tuning["budget_met"] is False
    assert report["heldout_images"] == []
    assert len(report["searched_images"]) == 3


def test_held_out_images_are_never_evaluated(demo, tmp_path, monkeypatch):
    seen: list[int] = []
    real = tune_module.sweep

    def recording_sweep(dataset, *args, **kwargs):
        seen.extend(dataset.ground_truth.image_ids)
        return real(dataset, *args, **kwargs)

    monkeypatch.setattr(tune_module, "sweep", recording_sweep)
    result = _tune(demo, tmp_path / "t", "--holdout", "0.5", "--seed", "1")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "t" / "tune.json").read_text())
    held = set(report["heldout_images"])
    assert len(held) == 2  # round(0.5 * 3)
    assert len(report["searched_images"]) == 1
    assert set(seen) == set(report["searched_images"])
    assert not held & set(seen)
    assert len(seen) == 5  # the default and 4 trials, each on the searched image
    held_gt = json.loads((tmp_path / "t" / "heldout.json").read_text())
    assert {im["id"] for im in held_gt["images"]} == held
    gt = json.loads(demo[0].read_text())
    assert held_gt["annotations"] == [a for a in gt["annotations"] if a["image_id"] in held]
    assert "held out 2 (never evaluated here" in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gt": "missing.json"}, "ground truth file not found: "),
        ({"images": "no-such-dir"}, "images folder not found: "),
        ({"extra": ["--budget-x", "0"]}, "--budget-x must be a number > 0"),
        ({"extra": ["--budget-x", "-1.5"]}, "--budget-x must be a number > 0"),
        ({"extra": ["--budget-x", "nan"]}, "--budget-x must be a number > 0"),
        ({"extra": ["--trials", "0"]}, "--trials must be at least 1, got 0"),
        ({"extra": ["--holdout", "1"]}, "--holdout must be a fraction in [0, 1)"),
        ({"extra": ["--objective", "mAP"]}, "--objective must be one of AP_small, AP"),
        ({"extra": ["--cost", "flops"]}, "--cost must be one of seconds, model_pixels"),
        ({"model": "tests.tune_models:nothing"}, "has no attribute 'nothing'"),
        ({"model": "no_such_package.mod:m"}, "cannot import 'no_such_package.mod'"),
        ({"model": "missing.onnx"}, "no such ONNX file"),
        ({"model": "bad.onnx"}, "cannot load ONNX model"),
    ],
)
def test_bad_input_is_refused_clearly(demo, tmp_path, change, message):
    gt, images = demo
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    model = change.get("model", MODEL)
    if model.endswith(".onnx"):
        model = str(tmp_path / model)
    args = [
        "tune",
        str(tmp_path / change["gt"]) if "gt" in change else str(gt),
        str(tmp_path / change["images"]) if "images" in change else str(images),
        "--model",
        model,
        "--out",
        str(tmp_path / "out"),
        *change.get("extra", []),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "out" / "config.json").exists()


def test_undefined_values_are_written_as_null_in_the_report():
    """``_trial_json`` writes an undefined metric or pixel count as null, not NaN."""
    from tilewise.cli.tune_cmd import _trial_json
    from tilewise.evaluation.sweep import SweepPoint
    from tilewise.evaluation.tune import TuneTrial

    point = SweepPoint({"slice_wh": 64, "batch_size": 8}, {"AP": math.nan}, 3.0, 2, 1.0, "k")
    trial = TuneTrial(3, point.settings, math.nan, 1.25, point)
    assert _trial_json(trial) == {
        "trial": 3,
        "settings": {"slice_wh": 64},
        "value": None,
        "seconds_per_image": 1.25,
        "measured_seconds_per_image": 1.5,
        "model_pixels": None,
    }


def test_slice_option_centres_the_default_and_the_search(demo, tmp_path):
    from tilewise.evaluation.tune import default_space

    result = _tune(demo, tmp_path / "t", "--slice", "32", "--budget-x", "1000")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "t" / "tune.json").read_text())
    assert report["default"]["settings"] == {"slice_wh": 32, "overlap": 0.2}
    space = default_space(squares(), 32)
    for trial in report["trials"]:
        settings = trial["settings"]
        if "scales" in settings:  # multi-scale: 32 px slices at zoom 1 and 2
            assert settings["scales"] in [s for s in space.scales if s is not None]
            assert {scale[0] for scale in settings["scales"]} == {32}
        else:
            assert settings["slice_wh"] in space.slice_wh
            assert settings["slice_wh"] not in (48, 64, 80)  # the model's own 64 px space


@pytest.mark.parametrize(
    ("tuned_conf", "predict_conf", "noted"),
    [(0.01, "0.25", True), (0.25, "0.25", False), (0.5, "0.05", True), (None, "0.25", False)],
)
def test_predict_notes_a_config_tuned_at_another_conf(
    demo, tmp_path, tuned_conf, predict_conf, noted
):
    tuning = {} if tuned_conf is None else {"conf": tuned_conf}
    config_path = SlicerConfig({"slice_wh": 96}, {}, tuning).save(tmp_path / "config.json")
    image = sorted(demo[1].iterdir())[0]
    pred = runner.invoke(
        app,
        [
            *("predict", str(image), "--model", MODEL, "--config", str(config_path)),
            *("--conf", predict_conf, "--out", str(tmp_path / "p"), "--no-progress"),
        ],
    )
    assert pred.exit_code == 0, pred.output
    if tuned_conf is None:
        assert "tuned at" not in pred.output
    else:
        note = f"tuned at --conf {tuned_conf:g}; this run filters at --conf {float(predict_conf):g}"
        assert (note in pred.output) is noted


def test_skip_over_budget_counts_evaluations_and_lists_the_skipped(demo, tmp_path):
    args = ("--cost", "model_pixels", "--budget-x", "1.3", "--seed", "1", "--population", "2")
    result = _tune(demo, tmp_path / "t", *args, "--skip-over-budget", "--budget-constraint")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "t" / "tune.json").read_text())
    assert len(report["trials"]) == 4
    skipped = report["skipped_over_budget"]
    assert skipped  # this seed proposes settings over 1.3x
    limit = 1.3 * report["default"]["seconds_per_image"]
    assert all(t["seconds_per_image"] > limit for t in skipped)
    assert all(t["seconds_per_image"] <= limit for t in report["trials"])
    assert f"{len(skipped)} settings proposed over the budget" in result.output
    bad = _tune(demo, tmp_path / "u", "--skip-over-budget")
    assert bad.exit_code != 0
    assert "--skip-over-budget needs --cost model_pixels or calibrated" in bad.output


def test_calibrated_cost_keeps_its_figures_in_the_cache_and_tune_json(demo, tmp_path):
    args = ("--cost", "calibrated", "--budget-x", "1.3", "--seed", "1", "--population", "2")
    result = _tune(demo, tmp_path / "t", *args, "--skip-over-budget")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "t" / "tune.json").read_text())
    stored = sorted((tmp_path / "t" / "cache").glob("calibration-*.json"))
    assert len(stored) == 1
    cal = json.loads(stored[0].read_text())
    assert report["calibration"]["seconds"] == cal["seconds"]
    config = SlicerConfig.load(tmp_path / "t" / "config.json")
    assert config.tuning["cost"] == "calibrated"
    assert "calibration" not in config.tuning  # timings stay out of config.json
    assert "each kind of model image's CPU time" in result.output
