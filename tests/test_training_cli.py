from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("sklearn")
pytest.importorskip("skimage")

import torch
import typer
from typer.testing import CliRunner

from tests.training_data import make_tiles
from tilewise import TilewiseError
from tilewise.cli import bench_cmd
from tilewise.cli.console import TilewiseGroup
from tilewise.cli.train_cmd import export, parse_anchors, parse_batch, train
from tilewise.models import OnnxDetector
from tilewise.training.study import BatchStudy


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: parallel test workers on few cores otherwise oversubscribe."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiles(tmp_path_factory.mktemp("cli-data"), scenes=4, seed=4)


def _app() -> typer.Typer:
    app = typer.Typer(cls=TilewiseGroup)
    app.command("train")(train)
    app.command("export")(export)
    app.add_typer(bench_cmd.app, name="bench")
    return app


def test_parsers() -> None:
    assert parse_batch("auto") == "auto"
    assert parse_batch("8") == 8
    with pytest.raises(TilewiseError):
        parse_batch("0")
    assert parse_anchors("default") == "default"
    assert parse_anchors("4,5,8,9") == [[4.0, 5.0], [8.0, 9.0]]
    with pytest.raises(TilewiseError):
        parse_anchors("4,5,8")
    assert bench_cmd.parse_sizes("1,2") == [1, 2]
    with pytest.raises(TilewiseError):
        bench_cmd.parse_sizes("a")


def test_train_and_export_commands(tiles: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        "train", str(tiles), "--img-size", "64", "--epochs", "1", "--batch", "4",
        "--nominal-batch", "8", "--anchors", "auto", "--out", str(out), "-q",
    ]  # fmt: skip
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "batch 4 x accumulate 2 (nominal 8)" in result.output
    assert "epoch 1/1" in result.output
    assert OnnxDetector(out / "best.onnx").num_classes == 6
    exported = tmp_path / "m.onnx"
    result = CliRunner().invoke(_app(), ["export", str(out / "last.pt"), "--out", str(exported)])
    assert result.exit_code == 0, result.output
    assert exported.is_file()
    junk = tmp_path / "junk.pt"
    junk.write_text("junk")
    bad = CliRunner().invoke(_app(), ["export", str(junk)])
    assert bad.exit_code == 2
    assert "expected a tilewise detector checkpoint" in bad.output


def test_train_command_refuses_a_batch_that_does_not_fit(tiles: Path, tmp_path: Path) -> None:
    args = [
        "train", str(tiles), "--img-size", "64", "--batch", "100000", "--memory-budget",
        "0.05", "--out", str(tmp_path / "r"), "-q",
    ]  # fmt: skip
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 2
    assert "budget" in result.output
    assert "measured" in result.output
    assert "--batch auto" in result.output


def test_bench_batch_study(tiles: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    args = [
        "bench", "batch", str(tiles), "--sizes", "1,2", "--img-size", "64", "--images", "4",
        "--val-max-images", "4", "--out", str(out), "-q",
    ]  # fmt: skip
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "study.json").read_text())
    assert [r["batch"] for r in data["rows"]] == [1, 2]
    assert all(r["images_per_s"] > 0 for r in data["rows"])
    assert all(r["step_memory"] >= 0 for r in data["rows"])
    assert (out / "study.png").stat().st_size > 0
    assert "| batch |" in (out / "study.md").read_text()
    assert isinstance(BatchStudy([], 64, 4, "d").text(), str)
    bad = CliRunner().invoke(_app(), [*args, "--mosaic", "2"])
    assert bad.exit_code == 2
    assert "mosaic must be a probability in [0, 1], got 2.0" in bad.output


def test_recipe_stages_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    from tilewise.training.recipe import RECIPE, main

    with pytest.raises(SystemExit):
        main(["bogus", "--work", "unused"])
    assert "unknown stages" in capsys.readouterr().err
    assert RECIPE["tile"] % 32 == 0
