"""A model retrained in place is a new model for every resume and cache.

Regression: bulk runs, raster strip runs and sweep/tune caches recorded the model by its
path alone, so weights overwritten at the same path (``best.onnx`` after more training)
resumed the old run or reused its cached results, mixing two models without a word.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.bulk_models import write_scenes
from tilewise.cli.app import app
from tilewise.cli.model_option import cache_model_id
from tilewise.images.check import file_sha256
from tilewise.models.bundled import DEFAULT_MODEL_NAME, bundled_path
from tilewise.models.loader import model_digest

pytest.importorskip("onnx")

from tilewise.models.testing import constant_detector_onnx


def test_model_digest_table(tmp_path: Path) -> None:
    model = constant_detector_onnx(tmp_path / "m.onnx")
    assert model_digest(None) == file_sha256(bundled_path(DEFAULT_MODEL_NAME))
    assert model_digest(model) == file_sha256(model)
    assert model_digest(str(model)) == file_sha256(model)
    assert model_digest("tests.bulk_models:blob_factory") is None
    constant_detector_onnx(model, anchors=24)  # retrained in place
    assert model_digest(model) == file_sha256(model)
    shutil.copy(model, tmp_path / "copy.onnx")
    assert model_digest(tmp_path / "copy.onnx") == model_digest(model)


@pytest.mark.parametrize(
    ("conf", "expected_tail"),
    [(None, ""), (0.5, " conf=0.5"), (0.25, " conf=0.25")],
)
def test_cache_model_id_table(tmp_path: Path, conf: float | None, expected_tail: str) -> None:
    model = constant_detector_onnx(tmp_path / "m.onnx")
    digest = file_sha256(model)[:16]
    assert cache_model_id(model, conf) == f"{model} sha256={digest}{expected_tail}"
    assert cache_model_id("pkg.mod:fn", conf) == f"pkg.mod:fn{expected_tail}"
    before = cache_model_id(model, conf)
    constant_detector_onnx(model, anchors=24)
    assert cache_model_id(model, conf) != before


def _bulk(images: Path, out: Path, model: Path):
    return CliRunner().invoke(
        app,
        ["predict", str(images), "--engine", "local", "--out", str(out), "--model", str(model),
         "--slice", "64", "--overlap", "0", "--no-progress"],
    )  # fmt: skip


def test_bulk_run_refuses_to_resume_with_weights_changed_in_place(tmp_path: Path) -> None:
    images = tmp_path / "images"
    write_scenes(images, 2)
    model = constant_detector_onnx(tmp_path / "best.onnx")
    out = tmp_path / "out"
    first = _bulk(images, out, model)
    assert first.exit_code == 0, first.output
    again = _bulk(images, out, model)
    assert again.exit_code == 0, again.output
    assert "2 skipped as already done" in again.output
    constant_detector_onnx(model, anchors=24)
    changed = _bulk(images, out, model)
    assert changed.exit_code != 0
    assert "model_sha256" in changed.output


def test_raster_strip_run_refuses_to_resume_with_weights_changed_in_place(
    tmp_path: Path,
) -> None:
    pytest.importorskip("rasterio")
    from tests.geo_rasters import scene_with_nodata, write_raster

    image, _ = scene_with_nodata()
    raster = write_raster(tmp_path / "scene.tif", image.transpose(2, 0, 1).copy())
    model = constant_detector_onnx(tmp_path / "best.onnx")
    args = ["predict", str(raster), "--out", str(tmp_path / "out"), "--engine", "local",
            "--strips", "2", "--model", str(model), "--slice", "128", "--overlap", "0",
            "--no-progress", "--format", "parquet"]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    constant_detector_onnx(model, anchors=24)
    changed = CliRunner().invoke(app, args)
    assert changed.exit_code != 0
    assert "model_sha256" in changed.output
