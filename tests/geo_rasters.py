"""Small generated GeoTIFFs for the raster and geo-output tests (needs the geo extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.conftest import make_scene

UTM = "EPSG:32633"
UTM_TRANSFORM = (0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0)
LONLAT = "EPSG:4326"
LONLAT_TRANSFORM = (1e-5, 0.0, 13.4, 0.0, -1e-5, 52.5)
ROTATED_TRANSFORM = (0.4, 0.3, 500000.0, 0.3, -0.4, 4000000.0)
BACKGROUND = (20, 30, 40)


def scene_with_nodata(
    wh: tuple[int, int] = (320, 256), seed: int = 7, nodata_cols: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """An RGB scene of bright blobs on a non-black background, and its valid-data mask.

    The left ``nodata_cols`` columns and a square notch are nodata (black, invalid).
    """
    image, _ = make_scene(wh, 40, seed=seed, size=(4, 24))
    image[(image == 0).all(axis=2)] = BACKGROUND
    valid = np.ones(image.shape[:2], bool)
    valid[:, :nodata_cols] = False
    valid[200:, 250:300] = False
    image[~valid] = 0
    return image, valid


def write_raster(
    path: Path,
    bands: np.ndarray,
    *,
    tiled: bool = True,
    crs: str | None = UTM,
    transform: tuple[float, ...] = UTM_TRANSFORM,
    nodata: float | None = None,
    mask: np.ndarray | None = None,
    alpha: np.ndarray | None = None,
    colorinterp: tuple[str, ...] | None = None,
    overviews: bool = False,
) -> Path:
    """Write (count, h, w) band values as a GeoTIFF: tiled (64 px) or striped, DEFLATE."""
    import rasterio
    from affine import Affine
    from rasterio.enums import ColorInterp, Resampling

    count, h, w = bands.shape
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": count + (alpha is not None),
        "dtype": str(bands.dtype),
        "compress": "deflate",
        "transform": Affine(*transform),
    }
    if crs is not None:
        profile["crs"] = crs
    if tiled:
        profile.update(tiled=True, blockxsize=64, blockysize=64)
    else:
        profile.update(tiled=False, blockysize=8)
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as ds:
        ds.write(bands, indexes=list(range(1, count + 1)))
        if alpha is not None:
            ds.write(alpha.astype(bands.dtype), count + 1)
            interp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue][:count]
            ds.colorinterp = [*interp, ColorInterp.alpha]
        if colorinterp is not None:
            ds.colorinterp = [getattr(ColorInterp, c) for c in colorinterp]
        if mask is not None:
            ds.write_mask(mask.astype(np.uint8) * 255)
        if overviews:
            ds.build_overviews([2, 4], Resampling.nearest)
    return path


NODATA_KINDS = ("value", "mask", "alpha", "none")


def nodata_raster(
    directory: Path, *, tiled: bool, nodata: str, bits: int
) -> tuple[Path, np.ndarray, np.ndarray | None, tuple[float, float] | None]:
    """A scene GeoTIFF whose nodata is a value, a mask band, an alpha band or absent.

    Returns (path, the RGB pixels a reader must give, the valid mask or None, the value
    range that maps the stored samples back to those pixels exactly).
    """
    image, valid = scene_with_nodata()
    bands = image.transpose(2, 0, 1).copy()
    if bits == 16:
        bands = bands.astype(np.uint16) * 257
    kw: dict = {}
    if nodata == "value":
        kw["nodata"] = 0
    elif nodata == "mask":
        kw["mask"] = valid
    elif nodata == "alpha":
        kw["alpha"] = valid * (255 if bits == 8 else 65535)
    name = f"{'tiled' if tiled else 'striped'}-{nodata}-{bits}.tif"
    path = write_raster(directory / name, bands, tiled=tiled, **kw)
    value_range = (0.0, 65535.0) if bits == 16 else None
    return path, image, (None if nodata == "none" else valid), value_range


def blob_model_factory():
    """A model factory for ``--model tests.geo_rasters:blob_model_factory`` (no arguments)."""
    from tests.conftest import blob_model

    return blob_model


def failing_model_factory():
    """A model factory that fails on the worker (a strip run must name the strip)."""
    raise RuntimeError("no weights on this worker")


def raster_failing_rows(path: str, y0: int, y1: int):
    """A ``RasterSource`` factory whose reads of windows starting at rows ``[y0, y1)`` fail
    (one strip of a Ray strip run fails; the factory pickles, the class is built there)."""
    from tilewise.sources.raster import RasterSource

    class FailingRows(RasterSource):
        def read(self, window):
            if y0 <= window.y < y1:
                raise OSError(f"bad block at row {window.y}")
            return super().read(window)

    return FailingRows(path)
