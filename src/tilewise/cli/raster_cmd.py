"""``tilewise predict RASTER [--engine local|ray --workers N --strips K]``.

``predict_raster_cli`` is the console side of ``tilewise.cli.predict_raster.
predict_raster`` for both ways a raster runs:

* without ``--engine``: the slicer runs over the whole raster in this process;
* with ``--engine local|ray``: the raster's slice grid is cut into strips of rows run
  one after another here (``local``) or on Ray actors (``ray``), and merged once on
  this machine (``tilewise.distributed.run_strips``). The outputs are the same files
  with the same detections; the report adds an ``engine`` section (strips, workers,
  windows and detections per second). Each finished strip is recorded in
  ``DIR/<stem>.strips`` (``tilewise.distributed.StripStore``): a rerun of the same
  command runs only the strips not recorded; a folder recorded with other settings is
  refused, naming them, unless ``--overwrite``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from tilewise.cli.console import echo
from tilewise.cli.image_options import warnings_to_console
from tilewise.cli.model_option import build_model, describe_model, model_digest
from tilewise.errors import TilewiseError

__all__ = ["predict_raster_cli"]


def _strip_runner(
    image: Path,
    factory: Any,
    source_options: dict[str, Any],
    engine: str,
    ray_options: Any,
    strips: int | None,
    progress: bool,
    store: Any = None,
) -> Any:
    """``runner(slicer, source)`` for ``predict_raster``: the raster in strips."""
    from tilewise.distributed import run_strips
    from tilewise.sources.raster import RasterSource

    # absolute: Ray workers need not share the driver's working directory
    source_factory = functools.partial(RasterSource, str(image.resolve()), **source_options)

    def runner(slicer: Any, source: Any) -> tuple[Any, dict[str, Any]]:
        report = (lambda p: echo(p.text())) if progress else None
        run = run_strips(
            slicer, source, source_factory=source_factory, model_factory=factory,
            engine=engine, strips=strips, options=ray_options, progress=report, store=store,
        )  # fmt: skip
        if run.resumed:
            echo(f"resumed: {run.resumed} of {len(run.strips)} strip(s) recorded by an earlier run")
        return run.prediction, run.to_dict()

    return runner


def predict_raster_cli(
    image: Path,
    *,
    model: str | None,
    read: Any,
    size: int | None,
    overlap: float,
    merging: dict[str, Any],
    out: Path,
    conf: float,
    iou: float,
    batch: int,
    labels: bool,
    format_: str | None,
    bands: str | None,
    nodata: str,
    min_valid: float,
    progress: bool,
    full_frame: bool,
    engine: str | None = None,
    ray_options: Any = None,
    strips: int | None = None,
    overwrite: bool = False,
    zoom: float = 1.0,
    config: Path | None = None,
) -> None:
    """Run a raster window by window (in strips with ``engine``) and write its outputs.

    With ``engine`` the finished strips are recorded in ``out/<stem>.strips`` and a
    rerun resumes (``overwrite`` replaces a record made with other settings).
    """
    from tilewise.cli.predict_raster import parse_bands, parse_nodata, predict_raster
    from tilewise.sources.raster import import_rasterio

    import_rasterio()  # a huge plain image without the geo extra: say how to install it
    if full_frame:
        raise TilewiseError(
            f"{image} is read as a raster, window by window; --full-frame would read it whole"
        )
    if strips is not None and engine is None:
        raise TilewiseError("--strips applies to a raster run with --engine local|ray")
    scaling = read.scaling
    source_options: dict[str, Any] = {
        "bands": parse_bands(bands),
        "value_range": scaling.value_range,
        "nodata": parse_nodata(nodata),
    }
    if scaling.percentiles is not None:
        source_options["percentiles"] = scaling.percentiles
    factory = functools.partial(build_model, model, conf, iou)
    runner = None
    if engine is not None:
        from tilewise.distributed import StripStore, raster_fingerprint

        settings = {
            "raster": raster_fingerprint(image),
            "source": source_options,
            "model": model,
            "model_sha256": model_digest(model),
            "conf": conf,
            "iou": iou,
        }
        store = StripStore(out / f"{image.stem}.strips", settings, overwrite=overwrite)
        runner = _strip_runner(
            image, factory, source_options, engine, ray_options, strips, progress, store
        )
    with warnings_to_console():
        detector = factory()
        result = predict_raster(
            image,
            detector,
            out=out,
            fmt=format_,
            bands=source_options["bands"],
            value_range=scaling.value_range,
            percentiles=scaling.percentiles,
            nodata=source_options["nodata"],
            min_valid=min_valid,
            slice_wh=(size, size) if size else None,
            overlap=overlap,
            batch=batch,
            merging=merging,
            zoom=zoom,
            config=config,
            labels=labels,
            progress=progress and engine is None,
            model_name=describe_model(detector, model),
            runner=runner,
        )
    rep = result.report
    win = rep["windows"]
    echo(
        f"{rep['detections']['output']} detection(s); windows: {win['read']} read, "
        f"{win['skipped']} skipped of {win['total']}; {rep['seconds']['total']:.2f} s, "
        f"peak {rep['peak_rss_mb']} MB"
    )
    if "engine" in rep:
        eng = rep["engine"]
        echo(
            f"engine {eng['engine']}: {eng['strips']} strip(s) on {eng['workers']} worker(s), "
            f"{eng['windows_per_second']} windows/s, {eng['detections_per_second']} det/s"
        )
    echo("wrote " + ", ".join(str(p) for p in result.outputs.values()))
