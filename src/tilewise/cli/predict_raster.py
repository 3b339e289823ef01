"""``tilewise predict RASTER``: a raster window by window, results in map coordinates.

``predict`` hands a file here when ``is_raster`` says so: GDAL reads it and it is
georeferenced, or it is larger than the image reader's pixel limit. The raster is read
through ``tilewise.sources.raster.RasterSource`` (never held whole) and three files are
written, each atomically, only after the run has finished:

* ``DIR/<stem>.<ext>``: the detections, GeoPackage / GeoParquet in the raster's CRS or
  GeoJSON in EPSG:4326 (``<stem>.json`` in pixels for a raster without a CRS);
* ``DIR/<stem>.quicklook.png``: the boxes drawn on a downsampled view read from the
  raster's overviews;
* ``DIR/<stem>.report.json``: windows read and skipped, detections and merge counts,
  seconds per stage and peak memory.

Everything that can be refused (unreadable raster, band choice, no CRS for a map format,
a CRS with no lon/lat for GeoJSON) is refused before the model runs.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.cli.merge_options import merge_settings, slicer_merge
from tilewise.errors import TilewiseError

__all__ = [
    "RasterRun",
    "is_raster",
    "parse_bands",
    "parse_nodata",
    "peak_rss_mb",
    "predict_raster",
]

QUICKLOOK_SIDE = 1024
"""Long side (px) of the quick-look PNG."""


def parse_bands(text: str | None) -> tuple[int, int, int] | None:
    """``"4,3,2"`` -> (4, 3, 2); a single ``"1"`` repeats a grey band as (1, 1, 1).

    Example:
        >>> parse_bands("4,3,2"), parse_bands("1"), parse_bands(None)
        ((4, 3, 2), (1, 1, 1), None)
    """
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise TilewiseError(f"--bands must be band numbers like 4,3,2 or 1, got {text!r}") from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3:
        raise TilewiseError(f"--bands must be three band numbers (R,G,B) or one, got {text!r}")
    return (values[0], values[1], values[2])


def parse_nodata(text: str) -> float | str:
    """``--nodata``: ``auto`` (the raster's nodata/mask/alpha), ``ignore``, or a value.

    Example:
        >>> parse_nodata("auto"), parse_nodata("-9999")
        ('auto', -9999.0)
    """
    value = text.strip().lower()
    if value in ("auto", "ignore"):
        return value
    try:
        return float(value)
    except ValueError:
        raise TilewiseError(f"--nodata must be auto, ignore or a number, got {text!r}") from None


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far, in MB (None where unknown).

    Example:
        >>> peak_rss_mb() is None or peak_rss_mb() > 0
        True
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


WHOLE_IMAGE_DRIVERS = frozenset({"PNG", "JPEG", "GIF", "BMP", "WEBP"})
"""GDAL drivers that decode from the start of the file: no window reads, no raster path."""


def is_raster(path: str | os.PathLike[str], pixel_limit: int) -> bool:
    """Whether ``predict`` reads ``path`` as a raster, window by window.

    True when GDAL (the ``geo`` extra) opens it and it has a CRS, or when its pixel count
    is over ``pixel_limit`` (the image reader would refuse it) and its format can be read
    window by window. Whole-image formats (PNG, JPEG, GIF, BMP, WebP) over the limit are
    left to the image reader, which refuses them from the header: they cannot be read by
    windows, and a small file whose header claims a huge size is a decompression bomb.
    Files GDAL cannot open are left to the image reader too, which names what is wrong.

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = cv2.imwrite(str(d / "a.tif"), np.zeros((8, 8, 3), np.uint8))
        >>> _ = cv2.imwrite(str(d / "a.png"), np.zeros((8, 8, 3), np.uint8))
        >>> is_raster(d / "a.tif", 10**6), is_raster(d / "a.tif", 10), is_raster(d / "a.png", 10)
        (False, True, False)
    """
    p = Path(path)
    if not p.is_file():
        return False
    try:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioError
    except ImportError:  # pragma: no cover - depends on the environment
        rasterio = None
    if rasterio is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(p) as ds:
                    over = ds.width * ds.height > pixel_limit
                    if over and ds.driver in WHOLE_IMAGE_DRIVERS:
                        return False
                    return ds.crs is not None or over
        except RasterioError:
            pass
    from tilewise.images import read_header

    try:
        return read_header(p).pixels > pixel_limit
    except TilewiseError:
        return False


@dataclass
class RasterRun:
    """What ``predict_raster`` wrote and its report."""

    detections: Any
    outputs: dict[str, Path]
    report: dict[str, Any]


def _check_lonlat(src: Any) -> None:
    """Refuse a CRS that cannot be placed in lon/lat before anything runs."""
    from tilewise.geo import to_lonlat

    w, h = src.image_wh
    corners = src.georef.pixel_to_map([[0, 0], [w, 0], [w, h], [0, h]])
    to_lonlat(corners, src.georef.crs, name=src.name)


def _quicklook(src: Any, det: Any, names: Any, labels: bool) -> np.ndarray:
    from tilewise.detections import Detections
    from tilewise.viz import draw_detections

    view, _ = src.overview(QUICKLOOK_SIDE)
    w, h = src.image_wh
    sx, sy = view.shape[1] / w, view.shape[0] / h
    small = Detections(
        det.xyxy * np.array([sx, sy, sx, sy], dtype=np.float32), det.confidence, det.class_id
    )
    return draw_detections(view, small, class_names=list(names), show_labels=labels, thickness=1)


def _report_dict(
    path: Path,
    src: Any,
    run: Any,
    settings: dict[str, Any],
    merging: dict[str, Any],
    seconds: dict[str, float],
) -> dict[str, Any]:
    report = run.report
    windows = report.windows
    return {
        "raster": str(path),
        "source": src.describe(),
        **settings,
        "windows": {
            "total": report.slices,
            "read": windows.read,
            "skipped": windows.skipped,
            "skipped_nodata": windows.skipped_nodata,
            "skipped_sparse": windows.skipped_sparse,
        },
        "detections": {
            "model": report.model_detections,
            "dropped_nodata": report.dropped_nodata,
            "dropped_nonfinite": report.dropped_nonfinite,
            "dropped_edge": report.dropped_edge,
            "raw": report.raw,
            "merged_away": report.merged_away,
            "output": report.output,
        },
        "merge": {
            "method": report.merge_method,
            **{k: v for k, v in merging.items() if k != "merge"},
            "raw": report.raw,
            "merged_or_suppressed": report.merged_away,
            "output": report.output,
            "skipped_reason": report.merge_skipped_reason,
        },
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "peak_rss_mb": peak_rss_mb(),
    }


def predict_raster(
    path: Path,
    model: Any,
    *,
    out: Path,
    fmt: str | None = None,
    bands: tuple[int, int, int] | None = None,
    value_range: tuple[float, float] | None = None,
    percentiles: tuple[float, float] | None = None,
    nodata: float | str = "auto",
    min_valid: float = 0.0,
    slice_wh: tuple[int, int] | None = None,
    overlap: float = 0.2,
    batch: int = 8,
    merging: dict[str, Any] | None = None,
    zoom: float = 1.0,
    config: Any = None,
    labels: bool = False,
    progress: bool = True,
    model_name: str = "",
    runner: Any = None,
) -> RasterRun:
    """Run ``model`` over a raster window by window and write the three outputs.

    Args:
        path: the raster (anything GDAL reads).
        model: a batch model (``OnnxDetector`` or any callable on a list of images).
        out: output directory.
        fmt: ``gpkg``, ``geojson`` or ``parquet``; default GeoPackage, or pixel JSON when
            the raster has no CRS (then a map format is refused).
        bands: three 1-based bands as R, G, B (``RasterSource``'s default otherwise).
        value_range: band values mapped to 0..255 (16-bit and float rasters).
        percentiles: the percentile stretch used without ``value_range``.
        nodata: ``"auto"``, ``"ignore"`` or a nodata value (``RasterSource``).
        min_valid: skip windows whose valid fraction is under this.
        slice_wh: slice size (default: the model's ``slice_wh``, else 640).
        overlap: slice overlap ratio.
        batch: slices per model call.
        merging: the merge's ``Slicer`` keyword arguments (``merge``, ``threshold``,
            ``metric``, ``class_agnostic``; ``tilewise.cli.merge_options.merge_settings``);
            default NMS at IoU 0.5 within each class.
        zoom: factor every slice is resized by before the model (``Slicer(zoom=)``).
        config: a ``SlicerConfig`` or its file (``tilewise tune``): its settings replace
            ``slice_wh``, ``overlap``, ``merging`` and ``zoom``. A config's full-frame
            pass is refused (it would read the raster whole).
        labels: write class labels on the quick-look boxes.
        progress: show a progress bar counting windows, with an ETA.
        model_name: what the report calls the model.
        runner: ``runner(slicer, source) -> (SlicedPrediction, dict)`` in place of
            ``slicer.run(source)``, whose prediction must equal it (the raster in strips
            across workers: ``tilewise.cli.raster_cmd``); the dict goes into the
            report as ``"engine"``.

    Raises:
        TilewiseError: the raster is unreadable or corrupt, the band choice impossible,
            a map format asked of a raster without a CRS, or a GeoJSON asked of a CRS
            with no lon/lat; nothing is written then.
    """
    from tilewise.cli.pixel_json import detections_json
    from tilewise.fileio import atomic_write_json
    from tilewise.geo import GeoFormat, write_detections
    from tilewise.slicing import Slicer
    from tilewise.sources.raster import RasterSource
    from tilewise.viz import save_image

    t_start = time.perf_counter()
    seconds: dict[str, float] = {}
    options: dict[str, Any] = {"bands": bands, "value_range": value_range, "nodata": nodata}
    if percentiles is not None:
        options["percentiles"] = percentiles
    with RasterSource(path, **options) as src:
        georef = src.georef
        if fmt is not None and georef is None:
            raise TilewiseError(
                f"{path} has no CRS, so its detections cannot be written as {fmt}; "
                "leave out --format to write pixel coordinates as JSON"
            )
        chosen = GeoFormat.parse(fmt or "gpkg") if georef is not None else None
        if chosen is GeoFormat.GEOJSON:
            _check_lonlat(src)
        seconds["open"] = time.perf_counter() - t_start
        if config is not None:
            slicer = Slicer.from_config(
                model, config, batch_size=batch, min_valid=min_valid, progress=progress
            )
            if slicer.full_frame:
                raise TilewiseError(
                    f"{path} is read as a raster, window by window; the config's full-frame "
                    "pass would read it whole"
                )
        else:
            slicer = Slicer(
                model,
                slice_wh=slice_wh or tuple(getattr(model, "slice_wh", (640, 640))),
                overlap=overlap,
                batch_size=batch,
                zoom=zoom,
                min_valid=min_valid,
                progress=progress,
                **merge_settings(**(merging or {})),
            )
        merging = slicer_merge(slicer)
        run, engine = runner(slicer, src) if runner is not None else (slicer.run(src), None)
        seconds.update(run.report.timings.as_dict())
        seconds["slicer_total"] = seconds.pop("total")
        names = list(getattr(model, "names", ()) or ())
        t0 = time.perf_counter()
        quicklook = _quicklook(src, run.detections, names, labels)
        seconds["quicklook"] = time.perf_counter() - t0
        settings = {
            "model": model_name,
            "slice_wh": list(np.broadcast_to(slicer.slice_wh, 2).tolist()),
            "overlap": slicer.overlap,
            "zoom": slicer.zoom,
            "scales": [s.to_dict() for s in run.report.scales] or None,
            "config": None if config is None else str(config),
            "batch": batch,
            "min_valid": min_valid,
            "format": chosen.value if chosen is not None else "json",
        }
        stem = path.stem
        t0 = time.perf_counter()
        outputs: dict[str, Path] = {}
        try:
            if chosen is not None:
                target = out / f"{stem}{chosen.suffix}"
                outputs["detections"] = write_detections(
                    target, run.detections, chosen, class_names=names or None
                )
            else:
                header = {"image": str(path), "image_wh": list(src.image_wh), "crs": None}
                outputs["detections"] = atomic_write_json(
                    out / f"{stem}.json", detections_json(run.detections, names, **header)
                )
            outputs["quicklook"] = save_image(out / f"{stem}.quicklook.png", quicklook)
            seconds["write"] = time.perf_counter() - t0
            seconds["total"] = time.perf_counter() - t_start
            report = _report_dict(path, src, run, settings, merging, seconds)
            if engine is not None:
                report["engine"] = engine
            report["outputs"] = {k: str(v) for k, v in outputs.items()}
            outputs["report"] = atomic_write_json(out / f"{stem}.report.json", report)
        except BaseException:
            for written in outputs.values():  # all three or none
                written.unlink(missing_ok=True)
            raise
    return RasterRun(run.detections, outputs, report)
