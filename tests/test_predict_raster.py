"""``tilewise predict RASTER``: map output equal to the in-memory run, bad input refused cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import blob_model
from tests.geo_rasters import UTM, scene_with_nodata, write_raster
from tilewise import Slicer
from tilewise.cli.console import TilewiseGroup
from tilewise.cli.predict_cmd import predict
from tilewise.slicing.confidence import with_conf
from tilewise.sources import ArraySource

pytest.importorskip("rasterio")
gpd = pytest.importorskip("geopandas")

from tilewise.geo import from_lonlat  # noqa: E402

LOCAL_CRS = 'LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'
ARGS = ["--slice", "64", "--overlap", "0.25", "--batch", "3", "--no-progress"]
BLOB = "tests.conftest:blob_model"


def _app() -> typer.Typer:
    app = typer.Typer(cls=TilewiseGroup)
    app.command("predict")(predict)
    app.command("other")(lambda: None)
    return app


def _invoke(*args: str):
    return CliRunner().invoke(_app(), ["predict", *args])


@pytest.fixture
def scene_tif(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    image, valid = scene_with_nodata()
    path = write_raster(tmp_path / "scene.tif", image.transpose(2, 0, 1).copy(), nodata=0)
    return path, image, valid


def _in_memory(image: np.ndarray, valid: np.ndarray, path: Path, min_valid: float = 0.0):
    from tilewise.sources.raster import RasterSource

    with RasterSource(path) as src:
        georef = src.georef
    model = with_conf(blob_model, 0.25)  # predict's default --conf applies to every model
    slicer = Slicer(model, slice_wh=64, overlap=0.25, batch_size=3, min_valid=min_valid)
    return slicer.run(ArraySource(image, valid=valid, georef=georef)), slicer.last_report


@pytest.mark.parametrize("fmt", ["gpkg", "parquet", "geojson"])
def test_raster_gives_map_output_equal_to_the_in_memory_run(tmp_path, scene_tif, fmt):
    path, image, valid = scene_tif
    out = tmp_path / "out"
    result = _invoke(str(path), "--model", BLOB, "--out", str(out), "--format", fmt, *ARGS)
    assert result.exit_code == 0, result.output
    expected, report = _in_memory(image, valid, path)
    det = expected.detections
    assert len(det) > 5
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"scene.{fmt}", "scene.quicklook.png", "scene.report.json"]
    )
    frame = gpd.read_parquet(out / "scene.parquet") if fmt == "parquet" else None
    if fmt == "gpkg":
        frame = gpd.read_file(out / "scene.gpkg")
    if fmt == "geojson":
        frame = gpd.read_file(out / "scene.geojson")
        assert frame.crs.to_epsg() == 4326
        corners = from_lonlat(np.asarray(frame.geometry.iloc[0].exterior.coords), UTM)
        px = det.georef.map_to_pixel(corners)
        box = [px[:, 0].min(), px[:, 1].min(), px[:, 0].max(), px[:, 1].max()]
        np.testing.assert_allclose(box, det.xyxy[0], atol=0.5)
    else:
        assert frame.crs.to_epsg() == 32633
        want = det.to_geodataframe()
        assert all(
            a.equals_exact(b, 1e-6) for a, b in zip(frame.geometry, want.geometry, strict=True)
        )
    assert len(frame) == len(det)
    np.testing.assert_allclose(frame.score, det.confidence, rtol=1e-6)
    data = json.loads((out / "scene.report.json").read_text())
    assert data["windows"] == {
        "total": report.slices,
        "read": report.windows.read,
        "skipped": report.windows.skipped,
        "skipped_nodata": report.windows.skipped_nodata,
        "skipped_sparse": 0,
    }
    assert data["windows"]["skipped_nodata"] > 0
    assert data["detections"]["output"] == len(det)
    assert data["detections"]["dropped_nodata"] == report.dropped_nodata
    assert data["merge"]["raw"] == report.raw
    assert data["model"] == BLOB
    assert data["peak_rss_mb"] > 0
    assert {"open", "inference", "merge", "quicklook", "write", "total"} <= set(data["seconds"])
    look = cv2.imread(str(out / "scene.quicklook.png"))
    assert look.shape == (256, 320, 3)  # under the quick-look side: full resolution


def test_min_valid_and_the_progress_bar(tmp_path, scene_tif):
    path, image, valid = scene_tif
    out = tmp_path / "out"
    args = [*ARGS[:-1], "--progress", "--min-valid", "0.6"]
    result = _invoke(str(path), "--model", BLOB, "--out", str(out), *args)
    assert result.exit_code == 0, result.output
    expected, report = _in_memory(image, valid, path, min_valid=0.6)
    data = json.loads((out / "scene.report.json").read_text())
    assert data["windows"]["skipped_sparse"] == report.windows.skipped_sparse > 0
    assert data["detections"]["output"] == len(expected.detections)
    assert (out / "scene.gpkg").is_file()  # GeoPackage by default


def test_onnx_files_and_factories_run_on_rasters_and_images(tmp_path, scene_tif):
    pytest.importorskip("onnxruntime")
    from tilewise.models.testing import constant_detector_onnx

    path, _, _ = scene_tif
    onnx = constant_detector_onnx(
        tmp_path / "m.onnx", names=("dot", "blob"), extra_metadata={"tile_size": "[64, 64]"}
    )
    result = _invoke(str(path), "--model", str(onnx), "--out", str(tmp_path / "a"), "--no-progress")
    assert result.exit_code == 0, result.output
    frame = gpd.read_file(tmp_path / "a" / "scene.gpkg")
    assert len(frame) > 0
    assert set(frame.class_name) <= {"dot", "blob"}
    factory = "tests.geo_rasters:blob_model_factory"
    result = _invoke(str(path), "--model", factory, "--out", str(tmp_path / "b"), *ARGS)
    assert result.exit_code == 0, result.output
    image = tmp_path / "plain.png"
    cv2.imwrite(str(image), scene_with_nodata()[0][..., ::-1])
    result = _invoke(str(image), "--model", BLOB, "--out", str(tmp_path / "c"), *ARGS)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "c" / "plain.json").read_text())["model"] == BLOB


def test_a_huge_raster_without_crs_gives_pixel_json(tmp_path):
    image, valid = scene_with_nodata()
    path = write_raster(tmp_path / "big.tif", image.transpose(2, 0, 1).copy(), crs=None, nodata=0)
    out = tmp_path / "out"
    # over --max-pixels, so it is read window by window instead of refused
    result = _invoke(str(path), "--model", BLOB, "--out", str(out), "--max-pixels", "1000", *ARGS)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "big.json").read_text())
    model = with_conf(blob_model, 0.25)  # predict's default --conf
    expected = Slicer(model, slice_wh=64, overlap=0.25).run(ArraySource(image, valid=valid))
    assert data["count"] == len(expected.detections)
    assert (out / "big.quicklook.png").is_file()
    refused = _invoke(
        str(path), "--model", BLOB, "--out", str(tmp_path / "o2"), "--max-pixels", "1000",
        "--format", "gpkg", *ARGS,
    )  # fmt: skip
    assert refused.exit_code == 2
    assert "big.tif has no CRS" in refused.output
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_an_over_limit_whole_image_format_is_refused_not_read_as_a_raster(tmp_path, ext):
    # regression: a PNG over --max-pixels went down the raster path, where GDAL decodes
    # whole-image formats from the start, and the run ran out of memory
    from tilewise.cli.predict_raster import is_raster

    path = tmp_path / f"plain.{ext}"
    cv2.imwrite(str(path), np.zeros((40, 50, 3), np.uint8))
    assert not is_raster(path, 1000)
    tif = tmp_path / "plain.tif"
    cv2.imwrite(str(tif), np.zeros((40, 50, 3), np.uint8))
    assert is_raster(tif, 1000)
    out = tmp_path / "out"
    result = _invoke(str(path), "--model", BLOB, "--out", str(out), "--max-pixels", "1000", *ARGS)
    _assert_refused(result, "50x40", "--max-pixels", out=out)


def _assert_refused(result, *needles: str, out: Path) -> None:
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    for needle in needles:
        assert needle in text, text
    assert not out.exists() or not any(out.iterdir())


def test_bad_rasters_are_refused_naming_the_file_with_nothing_written(tmp_path, scene_tif):
    path, image, _ = scene_tif
    out = tmp_path / "out"
    truncated = tmp_path / "cut.tif"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _assert_refused(
        _invoke(str(truncated), "--model", BLOB, "--out", str(out), *ARGS),
        "cut.tif",
        "corrupt or truncated",
        out=out,
    )
    grey = write_raster(tmp_path / "grey.tif", image[None, ..., 0].copy(), nodata=0)
    _assert_refused(
        _invoke(str(grey), "--model", BLOB, "--out", str(out), *ARGS),
        "grey.tif has 1 band(s)",
        "--bands 1,1,1",
        out=out,
    )
    ok = _invoke(str(grey), "--model", BLOB, "--out", str(out), "--bands", "1", *ARGS)
    assert ok.exit_code == 0, ok.output
    assert (out / "grey.gpkg").is_file()
    local = write_raster(tmp_path / "local.tif", image.transpose(2, 0, 1).copy(), crs=LOCAL_CRS)
    out2 = tmp_path / "out2"
    _assert_refused(
        _invoke(str(local), "--model", BLOB, "--out", str(out2), "--format", "geojson", *ARGS),
        "local.tif",
        "cannot be transformed to EPSG:4326",
        out=out2,
    )
    png = tmp_path / "plain.png"
    cv2.imwrite(str(png), image)
    _assert_refused(
        _invoke(str(png), "--model", BLOB, "--out", str(out2), "--format", "gpkg", *ARGS),
        "apply to rasters",
        out=out2,
    )
    _assert_refused(
        _invoke(str(path), "--model", "tests.conftest:nope", "--out", str(out2), *ARGS),
        "has no attribute 'nope'",
        out=out2,
    )


def test_a_failing_writer_leaves_no_output(tmp_path, scene_tif, monkeypatch):
    import tilewise.viz

    path, _, _ = scene_tif
    out = tmp_path / "out"

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tilewise.viz, "save_image", broken)
    result = _invoke(str(path), "--model", BLOB, "--out", str(out), *ARGS)
    assert result.exit_code != 0
    assert not out.exists() or not list(out.iterdir())  # no output, no temporary file
