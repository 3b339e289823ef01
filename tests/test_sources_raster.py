"""RasterSource: every window path equals the in-memory run on the same pixels."""

from __future__ import annotations

import numpy as np
import pytest

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
from tilewise import SliceGrid, TilewiseError
from tilewise.slicing.batches import WindowStats, iter_batches
from tilewise.sources import ArraySource, Window

pytest.importorskip("rasterio")

from tilewise.sources.raster import RasterSource

SLICER = dict(slice_wh=64, overlap=0.25, batch_size=3)


def _same(a, b):
    assert a.detections == b.detections
    assert a.raw == b.raw
    np.testing.assert_array_equal(a.raw_slice_index, b.raw_slice_index)


def _batches_both(src: RasterSource, rgb: np.ndarray, valid: np.ndarray | None, min_valid=0.0):
    """Slices, masks and window counts read from the raster equal those of the same pixels."""
    grid = SliceGrid(src.image_wh, SLICER["slice_wh"], SLICER["overlap"])
    stats_a, stats_b = WindowStats(), WindowStats()
    a = list(iter_batches(src, grid.boxes, 3, min_valid=min_valid, stats=stats_a))
    memory = ArraySource(rgb, valid=valid)
    b = list(iter_batches(memory, grid.boxes, 3, min_valid=min_valid, stats=stats_b))
    assert stats_a == stats_b
    assert [x.slice_indices.tolist() for x in a] == [y.slice_indices.tolist() for y in b]
    for x, y in zip(a, b, strict=True):
        for ia, ib in zip(x.images, y.images, strict=True):
            np.testing.assert_array_equal(ia, ib)
        for va, vb in zip(x.valid, y.valid, strict=True):
            assert (va is None) == (vb is None)
            if va is not None:
                np.testing.assert_array_equal(va, vb)
    return stats_a


@pytest.mark.parametrize("tiled", [True, False], ids=["tiled", "striped"])
@pytest.mark.parametrize("nodata", NODATA_KINDS)
@pytest.mark.parametrize("bits", [8, 16])
def test_windows_equal_the_in_memory_pixels(tmp_path, tiled, nodata, bits):
    path, image, valid, value_range = nodata_raster(tmp_path, tiled=tiled, nodata=nodata, bits=bits)
    with RasterSource(path, value_range=value_range) as src:
        assert src.image_wh == (320, 256)
        assert src.tiled is tiled
        assert src.georef.crs == UTM
        full = Window.full(src.image_wh)
        np.testing.assert_array_equal(src.read(full), image)  # 16-bit maps back exactly
        got_valid = src.valid_mask(full)
        if valid is None:
            assert got_valid is None
        else:
            np.testing.assert_array_equal(got_valid, valid)
        stats = _batches_both(src, image, valid)
        sparse = _batches_both(src, image, valid, min_valid=0.5)
    if valid is not None:
        assert stats.skipped_nodata > 0
        assert sparse.skipped_sparse > 0


def test_percentile_stretch_from_overviews_is_computed_once_and_used_everywhere(tmp_path):
    rng = np.random.default_rng(0)
    bands = rng.integers(1000, 3000, size=(3, 128, 192)).astype(np.uint16)
    bands[:, :, :40] = 0
    path = write_raster(tmp_path / "r.tif", bands, nodata=0, overviews=True)
    with RasterSource(path) as src:
        info = src.describe()
        assert info["scaling"]["rule"] == "percentile"
        assert info["overviews"] == 2
        for lo, hi in src.value_range:
            assert 1000 <= lo < hi <= 3000  # nodata kept out of the stretch
        rgb = src.to_rgb(bands)
        np.testing.assert_array_equal(src.read(Window.full(src.image_wh)), rgb)
        _batches_both(src, rgb, (bands != 0).any(axis=0))


def test_float_raster_with_nan_nodata(tmp_path):
    image, valid = scene_with_nodata()
    bands = image.transpose(2, 0, 1).astype(np.float32) / 255.0
    bands[:, ~valid] = np.nan
    path = write_raster(tmp_path / "r.tif", bands, nodata=float("nan"))
    with RasterSource(path, value_range=(0.0, 1.0)) as src:
        np.testing.assert_array_equal(src.valid_mask(Window.full(src.image_wh)), valid)
        _batches_both(src, image, valid)


@pytest.mark.parametrize(
    ("crs", "transform"),
    [(LONLAT, LONLAT_TRANSFORM), (UTM, ROTATED_TRANSFORM)],
    ids=["geographic", "rotated"],
)
def test_geographic_and_rotated_rasters_read_with_their_georef(tmp_path, crs, transform):
    image, _ = scene_with_nodata()
    path = write_raster(
        tmp_path / "r.tif", image.transpose(2, 0, 1).copy(), crs=crs, transform=transform
    )
    with RasterSource(path) as src:
        assert src.georef.crs == crs
        np.testing.assert_allclose(src.georef.transform, transform)
        _batches_both(src, image, None)


def test_band_selection(tmp_path):
    image, _ = scene_with_nodata()
    bgr = image[..., ::-1].transpose(2, 0, 1).copy()
    five = np.concatenate([bgr, bgr[:2]])
    path = write_raster(
        tmp_path / "five.tif", five, colorinterp=("blue", "green", "red", "gray", "gray")
    )
    with RasterSource(path) as src:
        assert src.bands == (3, 2, 1)  # RGB by colour interpretation
        np.testing.assert_array_equal(src.read(Window.full(src.image_wh)), image)
    with RasterSource(path, bands=(1, 2, 3)) as src:
        np.testing.assert_array_equal(src.read(Window(0, 0, 5, 5)), image[:5, :5, ::-1])
    grey = write_raster(tmp_path / "grey.tif", image[None, :, :, 0].copy())
    with pytest.raises(TilewiseError, match=r"has 1 band\(s\); tilewise reads 3.*1, 1, 1"):
        RasterSource(grey)
    with RasterSource(grey, bands=(1, 1, 1)) as src:
        out = src.read(Window(0, 0, 8, 8))
        np.testing.assert_array_equal(out, np.repeat(image[:8, :8, :1], 3, axis=2))
    with pytest.raises(TilewiseError, match="three 1-based band numbers"):
        RasterSource(path, bands=(1, 2, 9))


def test_bad_rasters_are_refused_with_the_file_name(tmp_path):
    with pytest.raises(TilewiseError, match="no such raster"):
        RasterSource(tmp_path / "missing.tif")
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"II*\x00 this is not a tiff")
    with pytest.raises(TilewiseError, match=r"junk\.tif is not a raster GDAL can read"):
        RasterSource(junk)
    good = write_raster(tmp_path / "ok.tif", np.zeros((3, 16, 16), np.uint8))
    with pytest.raises(TilewiseError, match="value_range"):
        RasterSource(good, value_range=(5, 5))
    src = RasterSource(good, max_window_pixels=100)
    with pytest.raises(TilewiseError, match="max_window_pixels"):
        src.read(Window(0, 0, 16, 16))
    src.close()


def test_gdal_cache_is_capped_while_open_and_restored(tmp_path):
    import ctypes

    import rasterio

    path = write_raster(tmp_path / "r.tif", np.zeros((3, 16, 16), np.uint8))
    lib = _libgdal()
    if lib is None:
        pytest.skip("libgdal not found beside rasterio")
    lib.GDALGetCacheMax64.restype = ctypes.c_int64
    before = lib.GDALGetCacheMax64()
    with RasterSource(path, cache_mb=32) as src:
        assert lib.GDALGetCacheMax64() == 32 * 2**20
        assert src.describe()["cache_mb"] == 32
    assert lib.GDALGetCacheMax64() == before
    assert rasterio.__gdal_version__


def _libgdal():
    import ctypes
    import glob
    import os

    import rasterio

    here = os.path.dirname(rasterio.__file__)
    found = glob.glob(os.path.join(here, "..", "rasterio.libs", "libgdal*"))
    found += glob.glob(os.path.join(here, ".dylibs", "libgdal*"))
    return ctypes.CDLL(found[0]) if found else None


def test_overview_quick_look(tmp_path):
    image, valid = scene_with_nodata()
    path = write_raster(tmp_path / "r.tif", image.transpose(2, 0, 1).copy(), mask=valid)
    with RasterSource(path) as src:
        view, scale = src.overview(max_side=64)
    assert view.shape == (51, 64, 3)
    assert scale == pytest.approx(5.0)
    assert (view[:, :15] == 0).all()  # nodata black
