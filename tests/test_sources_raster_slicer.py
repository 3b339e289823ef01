"""The Slicer over a RasterSource equals the Slicer over the same pixels in memory."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import blob_model
from tests.geo_rasters import (
    LONLAT,
    LONLAT_TRANSFORM,
    NODATA_KINDS,
    ROTATED_TRANSFORM,
    UTM,
    nodata_raster,
    scene_with_nodata,
    write_raster,
)
from tilewise import Slicer
from tilewise.sources import ArraySource

pytest.importorskip("rasterio")

from tilewise.sources.raster import RasterSource

SLICER = dict(slice_wh=64, overlap=0.25, batch_size=3)


def _run_both(src: RasterSource, rgb: np.ndarray, valid: np.ndarray | None, **kw):
    """Slicer over the raster and over the same pixels in memory: equal results and counts."""
    slicer = Slicer(blob_model, **{**SLICER, **kw})
    windowed = slicer.run(src)
    report = slicer.last_report
    in_memory = slicer.run(ArraySource(rgb, valid=valid, georef=src.georef))
    assert windowed.detections == in_memory.detections
    assert windowed.raw == in_memory.raw
    np.testing.assert_array_equal(windowed.raw_slice_index, in_memory.raw_slice_index)
    assert report.windows == slicer.last_report.windows
    assert report.dropped_nodata == slicer.last_report.dropped_nodata
    assert report.source == str(src.path)
    return windowed, report


@pytest.mark.parametrize("tiled", [True, False], ids=["tiled", "striped"])
@pytest.mark.parametrize("nodata", NODATA_KINDS)
@pytest.mark.parametrize("bits", [8, 16])
def test_slicer_on_a_raster_equals_the_in_memory_run(tmp_path, tiled, nodata, bits):
    path, image, valid, value_range = nodata_raster(tmp_path, tiled=tiled, nodata=nodata, bits=bits)
    with RasterSource(path, value_range=value_range) as src:
        result, report = _run_both(src, image, valid)
        _, sparse = _run_both(src, image, valid, min_valid=0.5)
    assert len(result.detections) > 0
    assert result.detections.georef == src.georef
    if valid is not None:
        assert report.windows.skipped_nodata > 0
        assert report.windows.read + report.windows.skipped == len(report.grid)
        assert sparse.windows.skipped_sparse > 0


def test_detections_centred_on_nodata_are_dropped_and_counted(tmp_path):
    image, valid = scene_with_nodata(nodata_cols=0)
    image[40:60, 90:110] = (255, 200, 10)  # a blob straddling the nodata edge
    valid[:, :101] = False
    path = write_raster(tmp_path / "r.tif", image.transpose(2, 0, 1).copy(), mask=valid)
    with RasterSource(path) as src:
        result, report = _run_both(src, image, valid)
    assert report.dropped_nodata >= 1
    centres = (result.raw.xyxy[:, :2] + result.raw.xyxy[:, 2:]) / 2
    assert valid[centres[:, 1].astype(int), centres[:, 0].astype(int)].all()


@pytest.mark.parametrize(
    ("crs", "transform"),
    [(LONLAT, LONLAT_TRANSFORM), (UTM, ROTATED_TRANSFORM)],
    ids=["geographic", "rotated"],
)
def test_detections_carry_the_raster_georef(tmp_path, crs, transform):
    image, _ = scene_with_nodata()
    path = write_raster(
        tmp_path / "r.tif", image.transpose(2, 0, 1).copy(), crs=crs, transform=transform
    )
    with RasterSource(path) as src:
        result, _ = _run_both(src, image, None)
    assert result.detections.georef.crs == crs
    np.testing.assert_allclose(result.detections.georef.transform, transform)
