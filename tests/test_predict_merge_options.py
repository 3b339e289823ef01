"""``predict --merge-threshold / --merge-metric / --class-agnostic`` on every input route.

Regression: the CLI had ``--merge`` only. The HTTP service took ``threshold`` and
``metric`` that ``tilewise predict`` could not express (so "the same settings give the same
detections" held only at the defaults), no adapter could merge across classes, and a bulk
run (``--engine local|ray``) dropped ``--zoom`` without a word. Each route here must give
the detections ``Slicer`` gives with the same settings, and the flags must change them.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.bulk_models import two_class_model, write_scenes
from tilewise import Slicer
from tilewise.cli.app import app
from tilewise.cli.merge_options import merge_settings
from tilewise.errors import TilewiseError
from tilewise.slicing.confidence import with_conf
from tilewise.slicing.config import SlicerConfig

MODEL = "tests.bulk_models:two_class_model"
SEEDS = (5, 7, 11)
"""``write_scenes`` seeds of the scenes used below (each has objects)."""
ARGS = ["--model", MODEL, "--slice", "48", "--overlap", "0.25", "--batch", "3", "--no-progress"]

# (CLI flags, the Slicer keyword arguments they stand for). two_class_model's duplicates
# overlap their original at IoU 0.78 and IoS 0.875, so each flag decides whether they go.
SETTINGS = [
    ([], {}),
    (["--class-agnostic"], {"class_agnostic": True}),
    (["--class-agnostic", "--merge-threshold", "0.8"], {"class_agnostic": True, "threshold": 0.8}),
    (["--class-agnostic", "--merge-threshold", "0.8", "--merge-metric", "ios"],
     {"class_agnostic": True, "threshold": 0.8, "metric": "ios"}),
    (["--merge", "wbf", "--class-agnostic", "--merge-threshold", "0.3"],
     {"merge": "wbf", "class_agnostic": True, "threshold": 0.3}),
]  # fmt: skip


def _invoke(*args: str):
    result = CliRunner().invoke(app, ["predict", *args])
    assert result.exit_code == 0, result.output
    return result


def _expected(rgb: np.ndarray, zoom: float = 1.0, **merge) -> list[list[float]]:
    model = with_conf(two_class_model, 0.25)  # predict's default --conf
    slicer = Slicer(model, slice_wh=48, overlap=0.25, batch_size=3, zoom=zoom, **merge)
    return _rows(slicer.run(rgb).detections.xyxy.tolist())


def _rows(boxes) -> list[list[float]]:
    return sorted([round(v, 3) for v in b] for b in boxes)


def _same(got, expected: list[list[float]]) -> None:
    """The same boxes, to the 0.01 px the output files write."""
    got = _rows(got)
    assert len(got) == len(expected)
    np.testing.assert_allclose(np.reshape(got, (-1, 4)), np.reshape(expected, (-1, 4)), atol=0.01)


def _read(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize(("flags", "merge"), SETTINGS)
def test_image_route(tmp_path, flags, merge):
    (image,) = write_scenes(tmp_path / "in", 1, size=(120, 96), seed=5)
    _invoke(str(image), *ARGS, *flags, "--out", str(tmp_path / "out"))
    doc = json.loads((tmp_path / "out" / f"{image.stem}.json").read_text())
    _same((d["xyxy"] for d in doc["detections"]), _expected(_read(image), **merge))
    recorded = {k: doc[k] for k in ("merge", "threshold", "metric", "class_agnostic")}
    assert recorded == merge_settings(**{"merge": "nms", **merge})


@pytest.mark.parametrize(("flags", "merge"), SETTINGS)
def test_bulk_route(tmp_path, flags, merge):
    pytest.importorskip("pyarrow")
    images = write_scenes(tmp_path / "in", 3, size=(120, 96), seed=5)
    out = tmp_path / "out"
    _invoke(str(tmp_path / "in"), "--engine", "local", *ARGS, *flags, "--out", str(out))
    for image in images:
        doc = json.loads((out / "json" / f"{image.name}.json").read_text())
        _same((d["xyxy"] for d in doc["detections"]), _expected(_read(image), **merge))


def test_bulk_route_zoom_and_settings_record(tmp_path):
    """``--zoom`` reaches a bulk run's slicer (it was dropped) and, like non-default merge
    settings, is recorded: a rerun with other settings is refused, naming them."""
    pytest.importorskip("pyarrow")
    (image,) = write_scenes(tmp_path / "in", 1, size=(120, 96), seed=7)
    out = tmp_path / "out"
    _invoke(str(tmp_path / "in"), "--engine", "local", *ARGS, "--zoom", "2", "--out", str(out))
    doc = json.loads((out / "json" / f"{image.name}.json").read_text())
    _same((d["xyxy"] for d in doc["detections"]), _expected(_read(image), zoom=2.0))
    assert _expected(_read(image), zoom=2.0) != _expected(_read(image))  # zoom matters here
    again = CliRunner().invoke(
        app,
        ["predict", str(tmp_path / "in"), "--engine", "local", *ARGS, "--zoom", "2",
         "--class-agnostic", "--out", str(out)],
    )  # fmt: skip
    assert again.exit_code != 0
    assert "class_agnostic" in again.output


def test_bulk_route_takes_a_config(tmp_path):
    """``predict FOLDER --engine local --config FILE`` (a tuned config on an archive) runs
    the file's settings, as ``Slicer.from_config`` does; before, the file was dropped
    without a word. Options it would replace are refused beside it, and the config is
    recorded: a rerun with another config is refused."""
    pytest.importorskip("pyarrow")
    images = write_scenes(tmp_path / "in", 2, size=(120, 96), seed=5)
    config = tmp_path / "slicer.json"
    settings = {"slice_wh": [56, 40], "overlap": 0.2, "class_agnostic": True, "merge": "wbf"}
    SlicerConfig(settings, {"names": ["even", "odd"]}).save(config)
    out = tmp_path / "out"
    base = ["predict", str(tmp_path / "in"), "--engine", "local", "--model", MODEL, "--no-progress"]
    result = CliRunner().invoke(app, [*base, "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    model = with_conf(two_class_model, 0.25)
    found = 0
    for image in images:
        doc = json.loads((out / "json" / f"{image.name}.json").read_text())
        expected = Slicer.from_config(model, config, batch_size=8).run(_read(image)).detections
        found += len(expected)
        _same((d["xyxy"] for d in doc["detections"]), _rows(expected.xyxy.tolist()))
    assert found > 0
    beside = CliRunner().invoke(app, [*base, "--config", str(config), "--overlap", "0.3",
                                         "--out", str(tmp_path / "o2")])  # fmt: skip
    assert beside.exit_code != 0
    assert "--config sets the slicer: --overlap would be replaced" in " ".join(
        beside.output.split()
    )
    SlicerConfig({**settings, "overlap": 0.3}).save(config)
    again = CliRunner().invoke(app, [*base, "--config", str(config), "--out", str(out)])
    assert again.exit_code != 0
    assert "slicer_config" in again.output
    other = SlicerConfig(settings, {"names": ["car", "bus"]})
    other.save(config)
    wrong = CliRunner().invoke(app, [*base, "--config", str(config), "--out", str(tmp_path / "o3")])
    assert wrong.exit_code != 0
    assert "this config was made for a model with classes ['car', 'bus']" in wrong.output


@pytest.mark.parametrize(("flags", "merge"), SETTINGS)
def test_video_route(tmp_path, flags, merge):
    frames = write_scenes(tmp_path / "frames", 3, size=(120, 96), seed=11)
    for path in frames:  # one size for the whole sequence
        cv2.imwrite(str(path), cv2.resize(cv2.imread(str(path)), (120, 96)))
    out = tmp_path / "out"
    _invoke(str(tmp_path / "frames"), *ARGS, *flags, "--no-save-video", "--out", str(out))
    lines = (out / "frames.jsonl").read_text().splitlines()
    assert len(lines) == len(frames)
    for line, path in zip(lines, frames, strict=True):
        _same((d["xyxy"] for d in json.loads(line)["detections"]), _expected(_read(path), **merge))


@pytest.mark.parametrize(("flags", "merge"), SETTINGS)
def test_raster_route(tmp_path, flags, merge):
    pytest.importorskip("rasterio")
    gpd = pytest.importorskip("geopandas")
    from tests.geo_rasters import UTM_TRANSFORM, write_raster

    (image,) = write_scenes(tmp_path / "in", 1, size=(120, 96), seed=7)
    rgb = _read(image)
    tif = write_raster(tmp_path / "scene.tif", rgb.transpose(2, 0, 1).copy())
    out = tmp_path / "out"
    _invoke(str(tif), *ARGS, *flags, "--format", "parquet", "--out", str(out))
    frame = gpd.read_parquet(out / "scene.parquet")
    a, _, c, _, e, f = UTM_TRANSFORM[:6]  # north-up: x = a * col + c, y = e * row + f
    got = [
        [(x0 - c) / a, (y1 - f) / e, (x1 - c) / a, (y0 - f) / e]
        for x0, y0, x1, y1 in frame.geometry.bounds.itertuples(index=False)
    ]
    _same(got, _expected(rgb, **merge))
    report = json.loads((out / "scene.report.json").read_text())
    recorded = {k: report["merge"][k] for k in ("method", "threshold", "metric", "class_agnostic")}
    assert list(recorded.values()) == list(merge_settings(**{"merge": "nms", **merge}).values())


@pytest.mark.parametrize("seed", SEEDS)
def test_the_flags_change_the_detections(tmp_path, seed):
    """The tables above are not vacuous: on their scenes each flag changes the boxes."""
    (image,) = write_scenes(tmp_path / "in", 1, size=(120, 96), seed=seed)
    results = [_expected(_read(image), **merge) for _, merge in SETTINGS]
    n = len(results[1])
    assert n > 0
    assert [len(r) for r in results] == [2 * n, n, 2 * n, n, n]
    assert results[2] == results[0]  # IoU 0.78 is under 0.8: the duplicates stay
    assert results[3] == results[1]  # IoS 0.875 is over it: they go
    assert results[4] != results[1]  # WBF fuses each pair into a box between the two


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--merge-threshold", "1.5"], "--merge-threshold must be in [0, 1], got 1.5"),
        (["--merge-metric", "dice"], "--merge-metric: metric must be one of ['iou', 'ios']"),
        (["--merge", "best"], "--merge: merge method must be one of"),
    ],
)
def test_bad_merge_options_fail_before_any_output(tmp_path, flags, message):
    (image,) = write_scenes(tmp_path / "in", 1)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["predict", str(image), *ARGS, *flags, "--out", str(out)])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())
    assert not out.exists()
    with pytest.raises(TilewiseError, match="merge"):
        merge_settings(*{"--merge-threshold": ("nms", 1.5), "--merge-metric": ("nms", 0.5, "dice"),
                         "--merge": ("best",)}[flags[0]])  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--overlap", "0.3"], "--overlap"),
        (["--class-agnostic", "--merge-threshold", "0.7"], "--merge-threshold, --class-agnostic"),
        (["--slice", "64", "--zoom", "2"], "--slice, --zoom"),
    ],
)
@pytest.mark.parametrize("route", ["image", "video"])
def test_config_refuses_the_options_it_would_replace(tmp_path, flags, named, route):
    """Regression: ``predict --config FILE`` with ``--overlap`` (or any slicer option)
    replaced the option by the file's setting without a word."""
    images = write_scenes(tmp_path / "in", 2, size=(120, 96), seed=5)
    config = tmp_path / "slicer.json"
    SlicerConfig({"slice_wh": [48, 48], "overlap": 0.25}).save(config)
    target = images[0] if route == "image" else tmp_path / "in"
    video = ["--no-save-video"] if route == "video" else []
    out = tmp_path / "out"
    args = ["predict", str(target), *ARGS[:2], "--config", str(config), *flags, *video]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code != 0
    assert f"--config sets the slicer: {named} would be replaced" in " ".join(result.output.split())
    assert not out.exists()
    fine = CliRunner().invoke(app, ["predict", str(target), *ARGS[:2], "--config", str(config),
                                       *video, "--no-progress", "--out", str(out)])  # fmt: skip
    assert fine.exit_code == 0, fine.output
