"""``tilewise eval`` through the real root group, with a test-local command list."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from tilewise.cli.app import Command, build_app
from tilewise.cli.eval_cmd import eval_command, register
from tilewise.evaluation import evaluate
from tilewise.evaluation.synthetic import synthetic_coco

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    gt, preds = synthetic_coco(seed=41, num_images=4)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(preds))
    return tmp_path, gt, preds


@pytest.fixture
def app() -> typer.Typer:
    return build_app((Command("eval", eval_command),))


def test_eval_prints_the_table(app, files) -> None:
    tmp, gt, preds = files
    result = runner.invoke(app, ["eval", str(tmp / "gt.json"), str(tmp / "pred.json")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("COCO bbox evaluation: 4 images")
    assert "maxDets=100  maxDets=300" in out
    ap = evaluate(gt, preds).get("AP")
    assert f"{ap:.3f}" in out.splitlines()[4]
    assert "per class (maxDets=100)" in out


def test_eval_options_and_outputs(app, files) -> None:
    tmp, _, _ = files
    args = [
        "eval",
        str(tmp / "gt.json"),
        str(tmp / "pred.json"),
        "--max-dets",
        "100,1000",
        "--tiny",
        "--area-range",
        "huge:128:inf",
        "--errors",
        "--no-per-class",
        "--json",
        str(tmp / "out" / "r.json"),
        "--markdown",
        str(tmp / "out" / "r.md"),
        "--plots",
        str(tmp / "plots"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "maxDets=1000" in result.output
    assert "AP_2-8px (2-8 px)" in result.output
    assert "AP_huge (128+ px)" in result.output
    assert "TIDE-style errors" in result.output
    assert "per class" not in result.output
    data = json.loads((tmp / "out" / "r.json").read_text())
    assert "AP_huge@1000" in data["stats"]
    assert data["errors"]["buckets"][0]["bucket"] == "all"
    all_bucket = data["errors"]["buckets"][0]
    assert set(all_bucket["delta_ap"]) == {"cls", "loc", "both", "dupe", "bkg", "missed"}
    assert all_bucket["ap_all_fixed"] == 1.0
    markdown = (tmp / "out" / "r.md").read_text()
    assert "TIDE-style errors" in markdown
    assert "| AP50 | dCls | dLoc | dBoth | dDupe | dBkg | dMissed |" in markdown
    assert "dMissed" in result.output
    pngs = sorted(p.name for p in (tmp / "plots").iterdir())
    assert pngs == [
        "ap_per_bucket.png",
        "delta_ap_per_bucket.png",
        "errors_per_bucket.png",
        "pr_curve.png",
    ]


def test_eval_segm(app, tmp_path) -> None:
    gt, preds = synthetic_coco(seed=42, num_images=2, segm=True)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(preds))
    args = ["eval", str(tmp_path / "gt.json"), str(tmp_path / "pred.json"), "--iou-type", "segm"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("COCO segm evaluation")


def test_eval_reports_skips_and_errors(app, files) -> None:
    tmp, _, preds = files
    (tmp / "extra.json").write_text(json.dumps([*preds, {**preds[0], "image_id": 999}]))
    result = runner.invoke(app, ["eval", str(tmp / "gt.json"), str(tmp / "extra.json")])
    assert result.exit_code == 0, result.output
    assert "skipped 1 of" in result.output

    result = runner.invoke(app, ["eval", str(tmp / "gt.json"), str(tmp / "extra.json"), "--strict"])
    assert result.exit_code == 2
    assert "error: skipped 1 of" in result.output

    (tmp / "empty.json").write_text("")
    result = runner.invoke(app, ["eval", str(tmp / "gt.json"), str(tmp / "empty.json")])
    assert result.exit_code == 2
    assert "is empty" in result.output

    result = runner.invoke(
        app, ["eval", str(tmp / "gt.json"), str(tmp / "pred.json"), "--area-range", "bad"]
    )
    assert result.exit_code == 2
    assert "name:min_px:max_px" in result.output


def test_register_helper(files) -> None:
    tmp, _, _ = files
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command so the app stays a group
        """Unused."""

    result = runner.invoke(app, ["eval", str(tmp / "gt.json"), str(tmp / "pred.json")])
    assert result.exit_code == 0, result.output
    assert "COCO bbox evaluation" in result.output


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from tilewise.evaluation.demo import write_demo_dataset

    return write_demo_dataset(tmp_path_factory.mktemp("demo"), num_images=2, image_size=(512, 384))


@pytest.fixture
def full_app() -> typer.Typer:
    from tilewise.cli.eval_cmd import compare_command, sweep_command

    return build_app(
        (
            Command("eval", eval_command),
            Command("compare", compare_command),
            Command("sweep", sweep_command),
        )
    )


MODEL = "tilewise.evaluation.synthetic:SquareDetector"


def test_demo_files_evaluate(full_app, demo) -> None:
    result = runner.invoke(
        full_app, ["eval", str(demo["ground_truth"]), str(demo["predictions"]), "--tiny"]
    )
    assert result.exit_code == 0, result.output
    assert "AP_2-8px" in result.output
    assert "skipped" not in result.output


def test_compare_command(full_app, demo, tmp_path) -> None:
    args = [
        "compare",
        str(demo["ground_truth"]),
        str(demo["images"]),
        "--model",
        MODEL,
        "--class-map",
        "0:1,1:2",
        "--slice-wh",
        "128",
        "--overlap",
        "0.25",
        "--merge",
        "nms",
        "--merge",
        "nms:ios",
        "--batch-size",
        "4",
        "--out",
        str(tmp_path / "report"),
    ]
    result = runner.invoke(full_app, args)
    assert result.exit_code == 0, result.output
    for name in ("full-frame", "sliced nms", "sliced+full nms", "sliced nms:ios"):
        assert name in result.output
    assert "TIDE-style errors per size bucket" in result.output
    assert (tmp_path / "report" / "comparison.html").is_file()
    before = json.loads((tmp_path / "report" / "comparison.json").read_text())["runs"]
    strict = runner.invoke(
        full_app, [*args[:-2], "--out", str(tmp_path / "strict"), "--conf", "0.999"]
    )
    assert strict.exit_code == 0, strict.output
    after = json.loads((tmp_path / "strict" / "comparison.json").read_text())["runs"]
    assert [r["name"] for r in after] == [r["name"] for r in before]
    assert all(
        a["num_detections"] < b["num_detections"] for a, b in zip(after, before, strict=True)
    )


def test_sweep_command(full_app, demo, tmp_path) -> None:
    args = [
        "sweep",
        str(demo["ground_truth"]),
        str(demo["images"]),
        "--model",
        MODEL,
        "--class-map",
        "0:1,1:2",
        "--slice-wh",
        "128,512",
        "--full-frame",
        "false,true",
        "--cache",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    result = runner.invoke(full_app, args)
    assert result.exit_code == 0, result.output
    assert "all settings (4 computed now)" in result.output
    again = runner.invoke(full_app, args)
    assert "all settings (0 computed now)" in again.output
    assert (tmp_path / "out" / "sweep.md").is_file()
    # --conf is part of the cache key (by the default model id) and filters the model
    before = json.loads((tmp_path / "out" / "sweep.json").read_text())
    strict = runner.invoke(full_app, [*args, "--conf", "0.999"])
    assert strict.exit_code == 0, strict.output
    assert "all settings (4 computed now)" in strict.output
    after = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert 0 <= _detections(after) < _detections(before)


def _detections(sweep_json: dict) -> float:
    return sum(p["detections_per_image"] for p in sweep_json["points"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "nope"], "package.module:name"),
        (["--model", "no_such_module_xyz:f"], "cannot import"),
        (["--model", "tilewise:nothing_here"], "has no attribute"),
        (["--model", MODEL, "--class-map", "0-1"], "--class-map"),
        (["--model", MODEL, "--full-frame", "maybe"], "true/false"),
        (["--model", MODEL, "--slice-wh", "big"], "not a valid int"),
    ],
)
def test_sweep_bad_options(full_app, demo, tmp_path, extra, message) -> None:
    args = ["sweep", str(demo["ground_truth"]), str(demo["images"]), "--cache", str(tmp_path)]
    result = runner.invoke(full_app, [*args, *extra])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(("flag", "measured"), [("--fix-impact", True), ("--no-fix-impact", False)])
def test_eval_errors_fix_impact_switch(app, files, flag: str, measured: bool) -> None:
    tmp = files[0]
    out = tmp / f"{flag}.json"
    result = runner.invoke(
        app,
        ["eval", str(tmp / "gt.json"), str(tmp / "pred.json"), "--errors", flag,
         "--no-per-class", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ("dMissed" in result.output) is measured
    assert "Missed" in result.output  # the counts are there either way
    buckets = json.loads(out.read_text())["errors"]["buckets"]
    assert buckets
    for bucket in buckets:
        assert (bucket["delta_ap"] is not None) is measured
    counts = [b["errors"] for b in buckets]
    other = runner.invoke(
        app,
        ["eval", str(tmp / "gt.json"), str(tmp / "pred.json"), "--errors",
         "--no-fix-impact" if measured else "--fix-impact", "--no-per-class", "--json",
         str(tmp / "other.json")],
    )  # fmt: skip
    assert other.exit_code == 0, other.output
    assert [
        b["errors"] for b in json.loads((tmp / "other.json").read_text())["errors"]["buckets"]
    ] == counts


def test_compare_without_fix_impact_keeps_the_counts(full_app, demo, tmp_path) -> None:
    args = ["compare", str(demo["ground_truth"]), str(demo["images"]), "--model", MODEL,
            "--class-map", "0:1,1:2", "--slice-wh", "128", "--merge", "nms", "--batch-size",
            "4", "--no-fix-impact", "--out", str(tmp_path / "report")]  # fmt: skip
    result = runner.invoke(full_app, args)
    assert result.exit_code == 0, result.output
    assert "TIDE-style errors per size bucket" in result.output
    runs = json.loads((tmp_path / "report" / "comparison.json").read_text())["runs"]
    assert runs
    for run in runs:
        buckets = run["errors"]["buckets"]
        assert all(b["delta_ap"] is None for b in buckets)
        assert sum(b["num_gt"] for b in buckets) > 0
