"""Rasters read window by window through GDAL (rasterio): GeoTIFF, COG, anything GDAL reads.

Needs the ``geo`` extra (``pip install tilewise[geo]``: rasterio, whose wheels bundle
GDAL). The raster is never held: each slice is one windowed read.

Memory and speed:

* Windows are requested in the slice grid's row-major order, one batch ahead of the model
  on the slicer's prefetch thread, so reading overlaps inference.
* GDAL decodes whole internal blocks (the tiles of a tiled GeoTIFF, the strips of a
  striped one) and keeps them in its block cache, so the overlap between neighbouring
  windows is decoded once as long as the cache holds one strip of blocks under a row of
  slices. GDAL's default cache is 5 % of RAM; while a ``RasterSource`` is open the cache
  is capped at ``cache_mb`` (default ``DEFAULT_CACHE_MB`` = 256 MB, enough for one row of
  512-px tiles of an 8-bit RGB raster 170,000 px wide) and restored when it is closed.
  Peak memory is this cap plus a few batches of slices, whatever the raster's size.
* Striped (untiled) GeoTIFFs are read too: every window decodes the full-width strips it
  crosses, so each strip is decoded once per slice *row* when it stays in the cache
  (otherwise once per window): expect them to be slower than tiled ones (see
  ``describe()["tiled"]``); ``gdal_translate -co TILED=YES`` fixes it once for all runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tilewise.detections import GeoReference
from tilewise.errors import TilewiseError
from tilewise.images.pixels import scale_to_uint8
from tilewise.sources.protocol import BaseSource
from tilewise.sources.window import Window

__all__ = ["DEFAULT_CACHE_MB", "DEFAULT_PERCENTILES", "RasterSource", "import_rasterio"]

DEFAULT_CACHE_MB = 256
"""GDAL block-cache cap (MB) while a ``RasterSource`` is open."""

DEFAULT_PERCENTILES = (2.0, 98.0)
"""Percentile stretch of 16-bit and float rasters when no value range is given."""

DEFAULT_MAX_WINDOW_PIXELS = 100_000_000
"""Largest window one ``read`` may ask for (a full-frame pass over a huge raster is refused)."""

_STRETCH_SIDE = 1024
"""Long side of the overview the percentile stretch is computed from."""

NodataLike = float | Literal["auto", "ignore"]


def import_rasterio() -> Any:
    """Import rasterio, or raise ``TilewiseError`` saying how to install it."""
    try:
        import rasterio
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise TilewiseError(
            "reading rasters window by window needs the geo extra: pip install 'tilewise[geo]'"
        ) from exc
    return rasterio


def _pick_bands(dataset: Any, bands: Sequence[int] | None, name: str) -> tuple[int, ...]:
    count = int(dataset.count)
    if bands is not None:
        picked = tuple(int(b) for b in bands)
        if len(picked) != 3 or any(not 1 <= b <= count for b in picked):
            raise TilewiseError(
                f"{name}: bands must be three 1-based band numbers among its {count} band(s), "
                f"got {tuple(bands)!r}"
            )
        return picked
    if count < 3:
        raise TilewiseError(
            f"{name} has {count} band(s); tilewise reads 3 (RGB). Choose them with "
            "bands=(1, 1, 1) (or --bands 1,1,1) to repeat a grey band"
        )
    interp = [c.name for c in dataset.colorinterp]
    if all(c in interp for c in ("red", "green", "blue")):
        return tuple(interp.index(c) + 1 for c in ("red", "green", "blue"))
    colour = [i + 1 for i, c in enumerate(interp) if c != "alpha"]
    if len(colour) < 3:
        raise TilewiseError(
            f"{name} has {len(colour)} colour band(s) besides alpha; choose three with bands="
        )
    return tuple(colour[:3])


class RasterSource(BaseSource):
    """A raster read window by window through GDAL, as H x W x 3 uint8 RGB.

    Args:
        path: a GeoTIFF, COG or any raster GDAL opens.
        bands: three 1-based band numbers to use as R, G, B. Default: the bands whose
            colour interpretation is red, green and blue, else the first three (alpha
            excluded). A raster with fewer than three bands needs a choice such as
            ``(1, 1, 1)``.
        value_range: ``(low, high)`` mapped linearly to 0..255 for every band. Default:
            8-bit data is used as is; wider data (16-bit, float) gets a per-band
            percentile stretch (``percentiles``) computed once, over valid pixels, from an
            overview (a decimated read of about 1024 px; GDAL uses the raster's overviews
            when it has them).
        percentiles: the stretch's low and high percentiles.
        nodata: ``"auto"`` (default) takes invalid pixels from the raster: its nodata
            value (a pixel is invalid when every chosen band holds it; NaN for NaN), its
            mask band, or its alpha band; ``"ignore"`` treats every pixel as valid; a
            number overrides the nodata value.
        cache_mb: GDAL block-cache cap while the source is open (see the module notes).
        max_window_pixels: largest window one ``read`` may return.

    Raises:
        TilewiseError: the file is missing or not a raster GDAL can read, the band choice
            is impossible, or the value range is empty.

    Example:
        >>> import pytest; rasterio = pytest.importorskip("rasterio")
        >>> import tempfile, pathlib, numpy as np
        >>> from rasterio.transform import Affine
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "scene.tif"
        >>> with rasterio.open(path, "w", driver="GTiff", width=64, height=48, count=3,
        ...                    dtype="uint8", crs="EPSG:32633", nodata=0,
        ...                    transform=Affine(0.5, 0, 500000, 0, -0.5, 4000000)) as ds:
        ...     ds.write(np.full((3, 48, 64), 7, np.uint8))
        >>> with RasterSource(path) as src:
        ...     win = Window(0, 0, 32, 16)
        ...     src.image_wh, src.read(win).shape, src.georef.crs, bool(src.valid_mask(win).all())
        ((64, 48), (16, 32, 3), 'EPSG:32633', True)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        bands: Sequence[int] | None = None,
        value_range: tuple[float, float] | None = None,
        percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
        nodata: NodataLike = "auto",
        cache_mb: int = DEFAULT_CACHE_MB,
        max_window_pixels: int = DEFAULT_MAX_WINDOW_PIXELS,
    ) -> None:
        rasterio = import_rasterio()
        self.path = Path(path)
        self.name = str(path)
        if not self.path.exists():
            raise TilewiseError(f"{self.name}: no such raster file")
        if isinstance(cache_mb, bool) or not isinstance(cache_mb, int) or cache_mb < 1:
            raise TilewiseError(f"cache_mb must be a positive int (MB), got {cache_mb!r}")
        self.cache_mb = cache_mb
        self.max_window_pixels = int(max_window_pixels)
        self._env = rasterio.Env(GDAL_CACHEMAX=cache_mb * 2**20)
        self._env.__enter__()
        try:
            try:
                self._dataset = rasterio.open(self.path)
            except rasterio.errors.RasterioError as exc:
                raise TilewiseError(
                    f"{self.name} is not a raster GDAL can read (corrupt, truncated or not an "
                    f"image): {exc}"
                ) from exc
            self._setup(bands, value_range, percentiles, nodata)
        except BaseException:
            self.close()
            raise
        self._cached: tuple[Window, np.ndarray, np.ndarray | None] | None = None

    # ------------------------------------------------------------------ set-up
    def _setup(
        self,
        bands: Sequence[int] | None,
        value_range: tuple[float, float] | None,
        percentiles: tuple[float, float],
        nodata: NodataLike,
    ) -> None:
        ds = self._dataset
        self.image_wh = (int(ds.width), int(ds.height))
        self.bands = _pick_bands(ds, bands, self.name)
        self.dtype = np.dtype(ds.dtypes[self.bands[0] - 1])
        if any(np.dtype(ds.dtypes[b - 1]) != self.dtype for b in self.bands):
            self.dtype = np.dtype(np.float64)  # mixed band types: read in a common type
        crs = ds.crs.to_string() if ds.crs else ""
        self.georef = GeoReference(crs, tuple(ds.transform)[:6]) if crs else None
        self.block_wh = (int(ds.block_shapes[0][1]), int(ds.block_shapes[0][0]))
        self.tiled = bool(ds.profile.get("tiled", self.block_wh[0] < self.image_wh[0]))
        self._nodata_mode, self._nodata_values = self._nodata_policy(nodata)
        self.value_range: list[tuple[float, float]] | None = None
        self.scaling: dict[str, Any] | None = None
        if value_range is not None:
            lo, hi = (float(v) for v in value_range)
            if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
                raise TilewiseError(
                    f"value_range must be (low, high) with high > low, got {value_range!r}"
                )
            self.value_range = [(lo, hi)] * 3
            self.scaling = {"rule": "range", "range": [lo, hi]}
        elif self.dtype != np.uint8:
            self.value_range = self._percentile_ranges(percentiles)
            self.scaling = {
                "rule": "percentile",
                "percentiles": list(percentiles),
                "ranges": [list(r) for r in self.value_range],
            }

    def _nodata_policy(self, nodata: NodataLike) -> tuple[str, list[float] | None]:
        ds = self._dataset
        if nodata == "ignore":
            return "ignore", None
        if nodata != "auto":
            if isinstance(nodata, bool) or not isinstance(nodata, (int, float)):
                raise TilewiseError(f"nodata must be 'auto', 'ignore' or a number, got {nodata!r}")
            return "value", [float(nodata)] * 3
        flags = [ds.mask_flag_enums[b - 1] for b in self.bands]
        names = [{f.name for f in band} for band in flags]
        if any("nodata" in n for n in names):
            values = [ds.nodatavals[b - 1] for b in self.bands]
            return "value", [float("nan") if v is None else float(v) for v in values]
        if any("per_dataset" in n or "alpha" in n for n in names):
            return ("alpha" if any("alpha" in n for n in names) else "mask"), None
        return "none", None

    def _valid_from_values(self, data: np.ndarray) -> np.ndarray:
        assert self._nodata_values is not None
        valid = np.zeros(data.shape[1:], dtype=bool)
        for band, value in zip(data, self._nodata_values, strict=True):
            valid |= ~np.isnan(band) if math.isnan(value) else band != value
        if data.dtype.kind == "f":
            valid &= np.isfinite(data).all(axis=0)
        return valid

    def _percentile_ranges(self, percentiles: tuple[float, float]) -> list[tuple[float, float]]:
        lo_p, hi_p = (float(p) for p in percentiles)
        if not 0.0 <= lo_p < hi_p <= 100.0:
            raise TilewiseError(f"percentiles must be 0 <= low < high <= 100, got {percentiles!r}")
        data, valid = self._overview(_STRETCH_SIDE)
        ranges = []
        for band in data:
            values = band[valid] if valid is not None else band.ravel()
            values = values[np.isfinite(values)] if values.dtype.kind == "f" else values
            if not values.size:
                ranges.append((0.0, 1.0))
                continue
            lo, hi = (float(v) for v in np.percentile(values, [lo_p, hi_p]))
            ranges.append((lo, hi if hi > lo else lo + 1.0))
        return ranges

    def _overview(self, max_side: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The chosen bands decimated to ``max_side`` (GDAL picks overviews), and validity."""
        from rasterio.enums import Resampling

        w, h = self.image_wh
        factor = max(1.0, max(w, h) / max_side)
        shape = (max(1, round(h / factor)), max(1, round(w / factor)))
        with self._reading("an overview"):
            data = self._dataset.read(
                self.bands,
                out_shape=(3, *shape),
                resampling=Resampling.nearest,
                out_dtype=self.dtype,
            )
            return data, self._valid(data, None, shape)

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """Turn GDAL read failures (corrupt or truncated data) into a TilewiseError."""
        from rasterio.errors import RasterioError

        try:
            yield
        except RasterioError as exc:
            raise TilewiseError(
                f"{self.name}: reading {what} failed; the raster is corrupt or truncated ({exc})"
            ) from exc

    # ------------------------------------------------------------------ reading
    def _valid(
        self, data: np.ndarray, window: Window | None, shape: tuple[int, int] | None = None
    ) -> np.ndarray | None:
        mode = self._nodata_mode
        if mode in ("none", "ignore"):
            return None
        if mode == "value":
            return self._valid_from_values(data)
        from rasterio.windows import Window as RioWindow

        kw: dict[str, Any] = {}
        if window is not None:
            kw["window"] = RioWindow(window.x, window.y, window.w, window.h)
        if shape is not None:
            kw["out_shape"] = shape
        return self._dataset.read_masks(self.bands[0], **kw) > 0

    def _fetch(self, window: Window) -> tuple[np.ndarray, np.ndarray | None]:
        if self._cached is not None and self._cached[0] == window:
            return self._cached[1], self._cached[2]
        window.check_inside(self.image_wh, self.name)
        if window.w * window.h > self.max_window_pixels:
            raise TilewiseError(
                f"{self.name}: a {window.w}x{window.h} window is over max_window_pixels="
                f"{self.max_window_pixels:,}; read huge rasters in slices (full_frame=False)"
            )
        from rasterio.windows import Window as RioWindow

        rio_window = RioWindow(window.x, window.y, window.w, window.h)
        with self._reading(f"window {tuple(window)}"):
            if self.value_range is None:
                # 8-bit bands used as they are: GDAL writes them pixel-interleaved straight
                # into the h x w x 3 array (no band-sequential copy to transpose after).
                rgb = np.empty((window.h, window.w, 3), dtype=np.uint8)
                data = self._dataset.read(self.bands, window=rio_window, out=rgb.transpose(2, 0, 1))
            else:
                data = self._dataset.read(self.bands, window=rio_window, out_dtype=self.dtype)
            valid = self._valid(data, window)
        if self.value_range is not None:
            rgb = self._to_rgb(data)
        self._cached = (window, rgb, valid)
        return rgb, valid

    def _to_rgb(self, data: np.ndarray) -> np.ndarray:
        if self.value_range is None:
            return np.ascontiguousarray(data.transpose(1, 2, 0))
        out = np.empty((*data.shape[1:], 3), dtype=np.uint8)
        for i, (band, (lo, hi)) in enumerate(zip(data, self.value_range, strict=True)):
            out[..., i] = scale_to_uint8(band, lo, hi)
        return out

    def to_rgb(self, data: np.ndarray) -> np.ndarray:
        """Convert (3, h, w) band values of the chosen bands to h x w x 3 uint8 as ``read`` does.

        Handy to build the in-memory equivalent of a raster (tests, comparisons).
        """
        return self._to_rgb(np.asarray(data, dtype=self.dtype))

    def read(self, window: Window) -> np.ndarray:
        """The window's pixels: the chosen bands, scaled to uint8, h x w x 3."""
        return self._fetch(window)[0]

    def valid_mask(self, window: Window) -> np.ndarray | None:
        """Valid pixels of the window (nodata value / mask band / alpha), or None."""
        if self._nodata_mode in ("none", "ignore"):
            return None
        return self._fetch(window)[1]

    @property
    def has_nodata(self) -> bool:
        """Whether invalid pixels are taken from the raster (or an override)."""
        return self._nodata_mode not in ("none", "ignore")

    def overview(self, max_side: int = 1024) -> tuple[np.ndarray, float]:
        """A downsampled RGB view (long side ``max_side``) and its scale (image px per view px).

        Read from the raster's overviews when it has them; invalid pixels are black.
        """
        data, valid = self._overview(max_side)
        rgb = self._to_rgb(data)
        if valid is not None:
            rgb[~valid] = 0
        return rgb, self.image_wh[0] / rgb.shape[1]

    def describe(self) -> dict[str, Any]:
        """Kind, path, size, bands, dtype, blocks, scaling, nodata and the cache cap."""
        ds = self._dataset
        return {
            **super().describe(),
            "driver": ds.driver,
            "band_count": int(ds.count),
            "bands": list(self.bands),
            "dtype": str(self.dtype),
            "block_wh": list(self.block_wh),
            "tiled": self.tiled,
            "overviews": len(ds.overviews(self.bands[0])),
            "scaling": self.scaling,
            "nodata": self._nodata_mode,
            "nodata_values": self._nodata_values,
            "cache_mb": self.cache_mb,
        }

    def close(self) -> None:
        """Close the dataset and restore GDAL's block-cache size."""
        dataset = getattr(self, "_dataset", None)
        if dataset is not None:
            dataset.close()
            self._dataset = None
        env = getattr(self, "_env", None)
        if env is not None:
            self._env = None
            env.__exit__(None, None, None)

    def __del__(self) -> None:
        dataset = getattr(self, "_dataset", None)
        if dataset is not None:
            dataset.close()
