"""``tilewise predict [IMAGE]``: sliced inference with the bundled (or a given) model.

Registered by the lead as a single command: ``Command("predict", predict_cmd.predict)``.
Without an image it runs on the bundled sample scene and also writes a full-frame vs
sliced comparison (counts, timings, metrics against the sample's ground truth). Rasters
(GDAL-readable and georeferenced, or over the pixel limit) are read window by window and
give map output (``tilewise.cli.predict_raster``). ``--model`` is an ONNX file or
``package.module:name`` for every input (``tilewise.cli.model_option``). Videos, image
sequences and streams go to ``tilewise.cli.video_cmd`` (``with_video``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tilewise.cli.bulk_cmd import with_bulk
from tilewise.cli.console import echo
from tilewise.cli.image_options import (
    AllowTruncatedOption,
    BackgroundOption,
    ExifOption,
    MaxPixelsOption,
    RangeOption,
    ScaleOption,
    read_options,
    warnings_to_console,
)
from tilewise.cli.merge_options import (
    ClassAgnosticOption,
    MergeMetricOption,
    MergeThresholdOption,
    merge_settings,
    slicer_merge,
)
from tilewise.cli.model_option import MODEL_HELP, describe_model, load_model
from tilewise.cli.pixel_json import detections_json
from tilewise.cli.slice_option import parse_slice, refuse_replaced
from tilewise.cli.video_cmd import with_video
from tilewise.errors import TilewiseError

if TYPE_CHECKING:
    from tilewise.slicing.config import SlicerConfig

__all__ = ["detections_json", "parse_slice", "predict"]


def _write_outputs(
    out: Path, stem: str, image: Any, det: Any, names: Any, labels: bool, header: dict
) -> tuple[Path, Path]:
    from tilewise.fileio import atomic_write_json
    from tilewise.viz import draw_detections, save_image

    annotated = draw_detections(image, det, class_names=list(names), show_labels=labels)
    img_path = save_image(out / f"{stem}_pred.jpg", annotated, quality=90)
    json_path = atomic_write_json(out / f"{stem}.json", detections_json(det, names, **header))
    return img_path, json_path


@with_bulk  # many images with --engine local|ray: tilewise.cli.bulk_cmd
@with_video  # video files, image sequences, streams: tilewise.cli.video_cmd
def predict(
    image: Annotated[
        Path | None,
        typer.Argument(help="Image to run on (default: the bundled sample scene, with a report)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help=MODEL_HELP + " Default: the bundled detector."),
    ] = None,
    slice_size: Annotated[
        str,
        typer.Option("--slice", help="Slice size in px, or 'auto' (the model's training tile)."),
    ] = "auto",
    overlap: Annotated[float, typer.Option(help="Slice overlap ratio in [0, 1).")] = 0.2,
    merge: Annotated[
        str, typer.Option(help="Duplicate merging: nms, nmm, greedy_nmm, wbf or none.")
    ] = "nms",
    merge_threshold: MergeThresholdOption = 0.5,
    merge_metric: MergeMetricOption = "iou",
    class_agnostic: ClassAgnosticOption = False,
    full_frame: Annotated[
        bool,
        typer.Option("--full-frame", help="Also run on the whole frame and merge (large objects)."),
    ] = False,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("tilewise-predict"),
    conf: Annotated[float, typer.Option(help="Confidence threshold.")] = 0.25,
    iou: Annotated[float, typer.Option(help="IoU threshold of the model's NMS.")] = 0.7,
    batch: Annotated[int, typer.Option(help="Slices per model call.")] = 8,
    labels: Annotated[bool, typer.Option("--labels", help="Write class labels on boxes.")] = False,
    exif: ExifOption = "follow",
    allow_truncated: AllowTruncatedOption = False,
    scale: ScaleOption = "full",
    value_range: RangeOption = None,
    background: BackgroundOption = "0,0,0",
    max_pixels: MaxPixelsOption = None,
    format_: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Rasters: gpkg (default) or parquet in the raster's CRS, or geojson "
            "(EPSG:4326). A raster without a CRS gives pixel JSON.",
        ),
    ] = None,
    bands: Annotated[
        str | None,
        typer.Option(
            help="Rasters: bands read as R,G,B, e.g. 4,3,2, or one band repeated, e.g. 1 "
            "(default: the RGB colour bands, else the first three)."
        ),
    ] = None,
    nodata: Annotated[
        str,
        typer.Option(
            help="Rasters: auto (the nodata value, mask or alpha band), ignore, or a value."
        ),
    ] = "auto",
    min_valid: Annotated[
        float,
        typer.Option(
            "--min-valid", help="Rasters: skip windows whose valid-data fraction is under this."
        ),
    ] = 0.0,
    progress: Annotated[
        bool, typer.Option(help="Show a progress bar counting windows, with an ETA.")
    ] = True,
    zoom: Annotated[
        float,
        typer.Option(
            help="Resize every slice by this factor before the model (> 0). With an ONNX "
            "model the slice size already sets the scale its graph sees: the report's "
            "model scale says it."
        ),
    ] = 1.0,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Slicer settings file (written by tilewise tune); replaces --slice, "
            "--overlap, the --merge options, --full-frame and --zoom."
        ),
    ] = None,
) -> None:
    """Detect small objects by sliced inference; write the annotated image and a JSON.

    A raster (GDAL-readable and georeferenced, or larger than --max-pixels) is read
    window by window and gives DIR/<stem>.<format> in map coordinates, a quick-look
    DIR/<stem>.quicklook.png and DIR/<stem>.report.json. 16-bit and float rasters get a
    2-98 percentile stretch unless --scale pLO,pHI or --range lo,hi is given.
    """
    from tilewise.images import read_image
    from tilewise.slicing import Slicer

    size = parse_slice(slice_size)
    merging = merge_settings(merge, merge_threshold, merge_metric, class_agnostic)
    if config is not None:
        refuse_replaced(
            {"slice_size": slice_size, "overlap": overlap, "merge": merge,
             "merge_threshold": merge_threshold, "merge_metric": merge_metric,
             "class_agnostic": class_agnostic, "full_frame": full_frame, "zoom": zoom}
        )  # fmt: skip
    read = read_options(exif, allow_truncated, scale, value_range, background, max_pixels)
    if (zoom != 1.0 or config is not None) and image is None:
        raise TilewiseError("--zoom and --config apply to a given IMAGE, not the sample scene")
    if image is None:
        _predict_sample(model, size, overlap, merging, out, conf, iou, batch, labels)
        return
    from tilewise.cli.predict_raster import is_raster

    if is_raster(image, read.pixel_limit):
        from tilewise.cli.raster_cmd import predict_raster_cli

        predict_raster_cli(
            image, model=model, read=read, size=size, overlap=overlap, merging=merging, out=out,
            conf=conf, iou=iou, batch=batch, labels=labels, format_=format_, bands=bands,
            nodata=nodata, min_valid=min_valid, progress=progress, full_frame=full_frame,
            zoom=zoom, config=config,
        )  # fmt: skip
        return
    if format_ is not None or bands is not None:
        raise TilewiseError(
            f"--format and --bands apply to rasters (GDAL-readable and georeferenced, or "
            f"over --max-pixels); {image} is read as an image"
        )
    with warnings_to_console():
        loaded = read_image(image, read)  # before the model: a bad file fails fast
    rgb, record = loaded.pixels, loaded.record
    detector = _model(model, conf, iou)
    slice_wh = (size, size) if size else tuple(getattr(detector, "slice_wh", (640, 640)))
    if config is not None:
        from tilewise.slicing.config import SlicerConfig

        settings = SlicerConfig.load(config)  # read once: the Slicer and the note
        slicer = Slicer.from_config(detector, settings, batch_size=batch, progress=progress)
        _note_tuned_conf(config, settings, conf)
        sw = slicer.slice_wh
        slice_wh = tuple(sw) if isinstance(sw, (tuple, list)) else (sw, sw)
        overlap, full_frame = slicer.overlap, slicer.full_frame
        merging = slicer_merge(slicer)
    else:
        slicer = Slicer(
            detector,
            slice_wh=slice_wh,
            overlap=overlap,
            batch_size=batch,
            full_frame=full_frame,
            progress=progress,
            zoom=zoom,
            **merging,
        )
    run = slicer.run(rgb)
    report = run.report
    header = {
        "image": str(image),
        "image_wh": list(rgb.shape[1::-1]),
        "truncated": record.truncated,
        "image_read": record.to_dict(),
        "model": describe_model(detector, model),
        "slice_wh": list(slice_wh),
        "overlap": overlap,
        **merging,
        "full_frame": full_frame,
        "zoom": slicer.zoom,
        "model_scale": report.model_scale,
        "scales": [s.to_dict() for s in report.scales] or None,
        "config": None if config is None else str(config),
        "slices": report.slices,
        "seconds": round(report.timings.total, 4),
    }
    names = list(getattr(detector, "names", ()) or ())
    img_path, json_path = _write_outputs(
        out, image.stem, rgb, run.detections, names, labels, header
    )
    echo(
        f"{len(run.detections)} detection(s) in {report.slices} slice(s) of "
        f"{slice_wh[0]}x{slice_wh[1]} in {report.timings.total:.2f} s"
    )
    for line in report.summary().splitlines():
        if line.startswith("scale"):  # zoom, model scale, per-scale counts
            echo(line)
    echo(f"wrote {img_path} and {json_path}")


def _model(spec: str | None, conf: float, iou: float) -> Any:
    """The bundled detector, or the ONNX file / import path ``spec`` names."""
    if spec is None:
        from tilewise.models import default_detector

        return default_detector(conf=conf, iou=iou)
    return load_model(spec, conf=conf, iou=iou)


def _predict_sample(
    model: str | None,
    size: int | None,
    overlap: float,
    merging: dict[str, Any],
    out: Path,
    conf: float,
    iou: float,
    batch: int,
    labels: bool,
) -> None:
    from tilewise.fileio import atomic_write_json, atomic_write_text
    from tilewise.images import load_image
    from tilewise.models.bundled import SAMPLE_GT_NAME, SAMPLE_IMAGE_NAME, bundled_path
    from tilewise.models.sliced_eval import compare_modes

    image_path = bundled_path(SAMPLE_IMAGE_NAME)
    gt_path = bundled_path(SAMPLE_GT_NAME)
    # scored at a low threshold (for AP); drawn and written at --conf
    scorer = _model(model or str(bundled_path("default_detector.onnx")), min(conf, 0.01), iou)
    gt = json.loads(gt_path.read_text(encoding="utf-8"))
    rgb = load_image(image_path)
    image_id = gt["images"][0]["id"]
    comparison = compare_modes(
        scorer,
        gt,
        {image_id: rgb},
        slice_wh=size,
        overlap=overlap,
        batch_size=batch,
        **merging,
    )
    names = list(getattr(scorer, "names", ()) or ())
    model_path = describe_model(scorer, model)
    for mode in ("sliced", "full_frame"):
        det = comparison.predictions[mode][image_id]
        det = det[det.confidence >= conf]
        header = {
            "image": SAMPLE_IMAGE_NAME,
            "image_wh": list(rgb.shape[1::-1]),
            "model": model_path,
            "mode": mode,
            "slice_wh": list(comparison.slice_wh) if mode == "sliced" else None,
            "overlap": overlap if mode == "sliced" else None,
            **(merging if mode == "sliced" else {}),
            "conf": conf,
        }
        stem = "sample_scene" if mode == "sliced" else "sample_scene_full_frame"
        img_path, json_path = _write_outputs(out, stem, rgb, det, names, labels, header)
        echo(f"{mode}: {len(det)} detection(s) at conf >= {conf}: {img_path}, {json_path}")
    report = comparison.to_dict()
    report["note"] = (
        "metrics are COCO box AP/AR against the sample's ground truth, scored with "
        f"detections at conf >= {min(conf, 0.01)}; counts in the files above use --conf"
    )
    atomic_write_json(out / "comparison.json", report)
    atomic_write_text(out / "comparison.txt", comparison.text() + "\n")
    echo(comparison.text())
    echo(f"wrote {out / 'comparison.json'}")


def _note_tuned_conf(config: Path, settings: SlicerConfig, conf: float) -> None:
    """Say so when a tuned config's settings were scored at another confidence threshold.

    ``tilewise tune`` records the ``--conf`` it scored with; the settings still apply at
    any threshold, but the metric it reported holds at that one only.
    """
    tuned = settings.tuning.get("conf")
    if isinstance(tuned, (int, float)) and float(tuned) != conf:
        echo(
            f"note: {config} was tuned at --conf {tuned:g}; this run filters at --conf "
            f"{conf:g} (pass --conf {tuned:g} for the threshold its metric was measured at)"
        )
