"""One GeoTIFF in strips across Ray actors (issue 13): equal to the whole-raster run."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import blob_model
from tests.geo_rasters import blob_model_factory, scene_with_nodata, write_raster
from tilewise import Slicer

ray = pytest.importorskip("ray")
# Every Ray test runs on one xdist worker (scripts/test.sh: --dist loadgroup): Ray's
# address="auto" finds any cluster running on the machine, including another worker's.
pytestmark = pytest.mark.xdist_group("ray")
pytest.importorskip("rasterio")
gpd = pytest.importorskip("geopandas")

from tilewise.bulk.run import Progress  # noqa: E402
from tilewise.distributed import RayOptions, predict_raster, run_strips  # noqa: E402
from tilewise.sources.raster import RasterSource  # noqa: E402

SLICER = {"slice_wh": 64, "overlap": 0.25, "batch_size": 3}
OPTIONS = RayOptions(workers=2, cpus_per_worker=0.75)
ARGS = ["--model", "tests.geo_rasters:blob_model_factory", "--slice", "64", "--overlap",
        "0.25", "--batch", "3", "--no-progress", "--format", "parquet"]  # fmt: skip


@pytest.fixture(scope="module")
def raster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A nodata-edged scene with a blob across the seam of two strips (rows 0-2 | 3-4)."""
    image, valid = scene_with_nodata()
    image[150:186, 180:200] = (255, 210, 1)  # strips of 3 rows: the second starts at y=144
    image[~valid] = 0
    folder = tmp_path_factory.mktemp("raster")
    return write_raster(folder / "scene.tif", image.transpose(2, 0, 1).copy(), nodata=0)


def _whole(path: Path):
    slicer = Slicer(blob_model, **SLICER)
    with RasterSource(path) as src:
        return slicer.run(src)


def _assert_same(got, whole) -> None:
    assert got.detections == whole.detections
    assert got.raw == whole.raw
    np.testing.assert_array_equal(got.raw_slice_index, whole.raw_slice_index)
    assert got.report.windows == whole.report.windows
    assert got.report.dropped_nodata == whole.report.dropped_nodata
    assert got.report.model_detections == whole.report.model_detections
    assert got.detections.georef == whole.detections.georef


def test_ray_strips_equal_the_whole_raster(ray_cluster, raster: Path) -> None:
    whole = _whole(raster)
    strips = 3  # rows 2, 2, 1: uneven strips, more strips than actors
    seen: list[Progress] = []
    run = predict_raster(
        str(raster), blob_model_factory, slicer_options=SLICER, strips=strips,
        options=OPTIONS, progress=seen.append,
    )  # fmt: skip
    _assert_same(run.prediction, whole)
    assert len(whole.detections) > 5
    assert whole.report.windows.skipped > 0
    assert (run.engine, run.workers, len(run.strips)) == ("ray", 2, strips)
    # progress: one report per strip, windows counted once, all detections sent to merge
    assert len(seen) == strips
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert seen[-1].done == seen[-1].total == len(whole.report.grid)
    assert seen[-1].detections == len(whole.raw)
    assert seen[-1].eta_seconds == 0.0
    assert seen[-1].unit == "window"
    figures = run.to_dict()
    assert figures["windows_done"] == len(whole.report.grid)
    assert figures["detections"] == len(whole.raw)


@pytest.mark.parametrize("strips", [1, 2, 3, 5])
def test_local_strips_equal_the_whole_raster(raster: Path, strips: int) -> None:
    whole = _whole(raster)
    slicer = Slicer(blob_model, **SLICER)
    with RasterSource(raster) as src:
        run = run_strips(slicer, src, engine="local", strips=strips)
    _assert_same(run.prediction, whole)
    assert (run.engine, run.workers, len(run.strips)) == ("local", 1, strips)
    if strips == 2:  # the blob at y 150-186 crosses the second strip's top (y 144)
        seam = run.strips[1].window.y
        assert any(y1 < seam < y2 for _, y1, _, y2 in whole.detections.xyxy.tolist())


def _cli(*args: str):
    from tilewise.cli.app import app

    return CliRunner().invoke(app, ["predict", *args])


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_cli_engine_writes_what_the_local_raster_path_writes(
    ray_cluster, raster: Path, tmp_path: Path, engine: str
) -> None:
    plain = _cli(str(raster), "--out", str(tmp_path / "plain"), *ARGS)
    assert plain.exit_code == 0, plain.output
    extra = ["--workers", "2", "--cpus-per-worker", "0.75"] if engine == "ray" else []
    out = tmp_path / engine
    result = _cli(str(raster), "--out", str(out), "--engine", engine, "--strips", "3",
                  *extra, *ARGS)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"engine {engine}: 3 strip(s)" in result.output
    a = gpd.read_parquet(tmp_path / "plain" / "scene.parquet")
    b = gpd.read_parquet(out / "scene.parquet")
    assert len(a) > 5
    assert a.equals(b)
    ra = json.loads((tmp_path / "plain" / "scene.report.json").read_text())
    rb = json.loads((out / "scene.report.json").read_text())
    assert ra["windows"] == rb["windows"]
    assert ra["detections"] == rb["detections"]
    assert rb["engine"]["strips"] == 3
    assert rb["engine"]["engine"] == engine
    assert rb["engine"]["windows_done"] == ra["windows"]["total"]
    assert "engine" not in ra


def test_cli_refuses_options_that_do_not_apply_to_strips(raster: Path, tmp_path: Path) -> None:
    cases = [
        (["--engine", "local", "--workers", "3"], "--workers apply to --engine ray"),
        (["--engine", "local", "--track"], "--track do not apply to a raster run in strips"),
        (["--engine", "local", "--chunk", "3"], "--chunk do not apply"),
        (["--strips", "2"], "--strips"),
        (["--engine", "spark"], "engine must be one of"),
    ]
    for extra, message in cases:
        result = _cli(str(raster), "--out", str(tmp_path), *ARGS, *extra)
        assert result.exit_code != 0, extra
        assert message in result.output, (extra, result.output)


def test_cli_raster_takes_zoom_and_config_whole_and_in_strips(raster: Path, tmp_path: Path) -> None:
    """``--zoom`` and ``--config`` reach a raster run (they were refused: "do not apply to
    rasters yet"), with the same output whole and in strips; a config the strips cannot
    split (several scales) is refused, naming why, and so is an option beside --config."""
    from tilewise.slicing.config import SlicerConfig

    config = tmp_path / "tuned.json"
    SlicerConfig({"slice_wh": 56, "overlap": 0.25, "zoom": 1.5, "merge": "nmm"}).save(config)
    base = [a for a in ARGS if a not in ("--slice", "64", "--overlap", "0.25")]
    frames = {}
    for name, opts in [("plain", ARGS), ("zoom", [*ARGS, "--zoom", "2"]),
                       ("config", [*base, "--config", str(config)])]:  # fmt: skip
        for engine in ([], ["--engine", "local", "--strips", "3"]):
            out = tmp_path / f"{name}{len(engine)}"
            result = _cli(str(raster), "--out", str(out), *opts, *engine)
            assert result.exit_code == 0, result.output
            frames[name, bool(engine)] = gpd.read_parquet(out / "scene.parquet")
            report = json.loads((out / "scene.report.json").read_text())
            assert report["zoom"] == {"plain": 1.0, "zoom": 2.0, "config": 1.5}[name]
            assert report["merge"]["method"] == ("nmm" if name == "config" else "nms")
            assert report["slice_wh"] == ([56, 56] if name == "config" else [64, 64])
        assert frames[name, True].equals(frames[name, False])
    assert len(frames["plain", False]) > 5
    assert not frames["zoom", False].equals(frames["plain", False])
    assert not frames["config", False].equals(frames["plain", False])
    SlicerConfig({"scales": [[64, 1], [32, 2, None, 12]]}).save(config)
    refused = _cli(str(raster), "--out", str(tmp_path / "s"), *base, "--config", str(config),
                   "--engine", "local")  # fmt: skip
    assert refused.exit_code != 0
    assert "multi-scale slicing and the full-frame pass" in refused.output
    beside = _cli(str(raster), "--out", str(tmp_path / "b"), *ARGS, "--config", str(config),
                  "--engine", "local")  # fmt: skip
    assert beside.exit_code != 0
    assert "--config sets the slicer: --slice, --overlap would be replaced" in beside.output


def test_ray_resumes_a_local_record_and_names_a_failing_strip(
    ray_cluster, raster: Path, tmp_path: Path
) -> None:
    from tests.geo_rasters import failing_model_factory
    from tilewise.distributed import StripStore
    from tilewise.errors import TilewiseError
    from tilewise.slicing.strips import plan_strips, run_strip

    whole = _whole(raster)
    with RasterSource(raster) as src:  # the windows strip 0 reads (the others are nodata)
        plan = plan_strips(Slicer(blob_model, **SLICER).grid_for(src.image_wh), strips=3)
        strip_0 = run_strip(Slicer(blob_model, **SLICER), src, plan[0]).windows.read
    seen = {"images": 0}

    def dies_in_strip_1(images):
        seen["images"] += len(images)
        if seen["images"] > strip_0:
            raise RuntimeError("device lost")
        return blob_model(images)

    store = functools.partial(StripStore, tmp_path, {"raster": str(raster)})
    with RasterSource(raster) as src:
        with pytest.raises(TilewiseError, match=r"strip 1 \(slice rows 2-3, .*device lost"):
            run_strips(Slicer(dies_in_strip_1, **SLICER), src, engine="local", strips=3,
                       store=store())  # fmt: skip
        src_factory = functools.partial(RasterSource, str(raster))
        with pytest.raises(TilewiseError) as err:
            run_strips(
                Slicer(blob_model, **SLICER), src, source_factory=src_factory,
                model_factory=failing_model_factory, options=OPTIONS, strips=3, store=store(),
            )  # fmt: skip
        assert re.search(
            r"strip [12] \(slice rows \d-\d, pixel rows \d+-\d+\) failed: on its worker, "
            r"building the model or opening the raster: RuntimeError: no weights.*; "
            r"2 strips failed: 1, 2; the strips finished are recorded",
            str(err.value),
        ), str(err.value)
    run = predict_raster(
        str(raster), blob_model_factory, slicer_options=SLICER, strips=3, options=OPTIONS,
        store=store(),
    )  # fmt: skip
    assert (run.engine, run.resumed) == ("ray", 1)
    _assert_same(run.prediction, whole)


def test_a_failed_ray_strip_does_not_lose_the_others(
    ray_cluster, raster: Path, tmp_path: Path
) -> None:
    """Regression: the first failed strip used to stop the run, dropping the strips in
    flight; now every other strip finishes and is recorded, and a rerun does only it."""
    from tests.geo_rasters import raster_failing_rows
    from tilewise.distributed import StripStore
    from tilewise.errors import TilewiseError
    from tilewise.slicing.strips import plan_strips

    whole = _whole(raster)
    with RasterSource(raster) as src:
        plan = plan_strips(Slicer(blob_model, **SLICER).grid_for(src.image_wh), strips=3)
        y0, y1 = plan[1].window.y, plan[2].window.y  # strip 1's slices start in here
        with pytest.raises(TilewiseError) as err:
            run_strips(
                Slicer(blob_model, **SLICER), src, strips=3, options=OPTIONS,
                source_factory=functools.partial(raster_failing_rows, str(raster), y0, y1),
                model_factory=blob_model_factory, store=StripStore(tmp_path, {"r": 1}),
            )  # fmt: skip
        assert re.search(r"strip 1 \(.*\) failed: OSError: bad block at row \d+", str(err.value))
        assert "strips failed" not in str(err.value)
        parts = sorted(p.name for p in (tmp_path / "parts").iterdir())
        assert parts == ["strip-000000.npz", "strip-000002.npz"]
        run = run_strips(
            Slicer(blob_model, **SLICER), src, strips=3, options=OPTIONS,
            source_factory=functools.partial(RasterSource, str(raster)),
            model_factory=blob_model_factory, store=StripStore(tmp_path, {"r": 1}),
        )  # fmt: skip
    assert run.resumed == 2
    _assert_same(run.prediction, whole)


def test_cli_strip_run_resumes_and_refuses_other_settings(raster: Path, tmp_path: Path) -> None:
    args = [str(raster), "--out", str(tmp_path), "--engine", "local", *ARGS]
    first = _cli(*args, "--strips", "2")
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in (tmp_path / "scene.strips" / "parts").iterdir()) == [
        "strip-000000.npz",
        "strip-000001.npz",
    ]
    before = gpd.read_parquet(tmp_path / "scene.parquet")
    again = _cli(*args, "--strips", "2")
    assert again.exit_code == 0, again.output
    assert "resumed: 2 of 2 strip(s) recorded by an earlier run" in again.output
    assert before.equals(gpd.read_parquet(tmp_path / "scene.parquet"))
    other = _cli(*args, "--strips", "3")
    assert other.exit_code != 0
    assert "holds a run with other settings (strips: [[0, 3], [3, 5]] ->" in other.output
    assert "--overwrite" in other.output
    replaced = _cli(*args, "--strips", "3", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert "resumed" not in replaced.output
    assert before.equals(gpd.read_parquet(tmp_path / "scene.parquet"))
