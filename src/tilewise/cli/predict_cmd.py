"""``tilewise predict [IMAGE]``: sliced inference with the bundled (or a given) ONNX detector.

Registered by the lead as a single command: ``Command("predict", predict_cmd.predict)``.
Without an image it runs on the bundled sample scene and also writes a full-frame vs
sliced comparison (counts, timings, metrics against the sample's ground truth).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

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

__all__ = ["detections_json", "parse_slice", "predict"]


def parse_slice(text: str) -> int | None:
    """``"auto"`` -> None (the model's training tile size); ``"512"`` -> 512.

    Example:
        >>> parse_slice("auto"), parse_slice("512")
        (None, 512)
    """
    from tilewise.errors import TilewiseError

    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise TilewiseError(f"--slice must be 'auto' or a size in pixels, got {text!r}") from None
    if value < 1:
        raise TilewiseError(f"--slice must be >= 1 px, got {value}")
    return value


def detections_json(det: Any, names: Any, **header: Any) -> dict[str, Any]:
    """Detections as a JSON-ready dict: ``header`` fields plus one entry per detection.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> d = detections_json(Detections(np.array([[1, 2, 3, 4]]), [0.5], [1]), ["a", "b"])
        >>> d["detections"][0]
        {'xyxy': [1.0, 2.0, 3.0, 4.0], 'confidence': 0.5, 'class_id': 1, 'class_name': 'b'}
    """
    rows = []
    for box, conf, cls in zip(
        det.xyxy.tolist(), det.confidence.tolist(), det.class_id.tolist(), strict=True
    ):
        rows.append(
            {
                "xyxy": [round(v, 2) for v in box],
                "confidence": round(conf, 4),
                "class_id": int(cls),
                "class_name": names[cls] if 0 <= cls < len(names) else str(cls),
            }
        )
    return {**header, "count": len(rows), "detections": rows}


def _write_outputs(
    out: Path, stem: str, image: Any, det: Any, names: Any, labels: bool, header: dict
) -> tuple[Path, Path]:
    from tilewise.fileio import atomic_write_json
    from tilewise.viz import draw_detections, save_image

    annotated = draw_detections(image, det, class_names=list(names), show_labels=labels)
    img_path = save_image(out / f"{stem}_pred.jpg", annotated, quality=90)
    json_path = atomic_write_json(out / f"{stem}.json", detections_json(det, names, **header))
    return img_path, json_path


def predict(
    image: Annotated[
        Path | None,
        typer.Argument(help="Image to run on (default: the bundled sample scene, with a report)."),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(help="YOLOv8-layout ONNX detector (default: the bundled model)."),
    ] = None,
    slice_size: Annotated[
        str,
        typer.Option("--slice", help="Slice size in px, or 'auto' (the model's training tile)."),
    ] = "auto",
    overlap: Annotated[float, typer.Option(help="Slice overlap ratio in [0, 1).")] = 0.2,
    merge: Annotated[
        str, typer.Option(help="Duplicate merging: nms, nmm, greedy_nmm, wbf or none.")
    ] = "nms",
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
) -> None:
    """Detect small objects by sliced inference; write the annotated image and a JSON."""
    from tilewise.images import read_image
    from tilewise.models import OnnxDetector, default_detector
    from tilewise.slicing import Slicer

    size = parse_slice(slice_size)
    read = read_options(exif, allow_truncated, scale, value_range, background, max_pixels)
    if image is None:
        _predict_sample(model, size, overlap, merge, out, conf, iou, batch, labels)
        return
    with warnings_to_console():
        loaded = read_image(image, read)  # before the model: a bad file fails fast
    rgb, record = loaded.pixels, loaded.record
    detector = (
        OnnxDetector(model, conf=conf, iou=iou) if model else default_detector(conf=conf, iou=iou)
    )
    slice_wh = (size, size) if size else detector.slice_wh
    slicer = Slicer(
        detector,
        slice_wh=slice_wh,
        overlap=overlap,
        batch_size=batch,
        merge=merge,
        full_frame=full_frame,
    )
    run = slicer.run(rgb)
    report = run.report
    header = {
        "image": str(image),
        "image_wh": list(rgb.shape[1::-1]),
        "truncated": record.truncated,
        "image_read": record.to_dict(),
        "model": str(detector.path),
        "slice_wh": list(slice_wh),
        "overlap": overlap,
        "merge": merge,
        "full_frame": full_frame,
        "slices": report.slices,
        "seconds": round(report.timings.total, 4),
    }
    img_path, json_path = _write_outputs(
        out, image.stem, rgb, run.detections, detector.names, labels, header
    )
    echo(
        f"{len(run.detections)} detection(s) in {report.slices} slice(s) of "
        f"{slice_wh[0]}x{slice_wh[1]} in {report.timings.total:.2f} s"
    )
    echo(f"wrote {img_path} and {json_path}")


def _predict_sample(
    model: Path | None,
    size: int | None,
    overlap: float,
    merge: str,
    out: Path,
    conf: float,
    iou: float,
    batch: int,
    labels: bool,
) -> None:
    from tilewise.fileio import atomic_write_json, atomic_write_text
    from tilewise.images import load_image
    from tilewise.models import OnnxDetector
    from tilewise.models.bundled import SAMPLE_GT_NAME, SAMPLE_IMAGE_NAME, bundled_path
    from tilewise.models.sliced_eval import compare_modes

    image_path = bundled_path(SAMPLE_IMAGE_NAME)
    gt_path = bundled_path(SAMPLE_GT_NAME)
    model_path = model or bundled_path("default_detector.onnx")
    # scored at a low threshold (for AP); drawn and written at --conf
    scorer = OnnxDetector(model_path, conf=min(conf, 0.01), iou=iou, max_det=300)
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
        merge=merge,
    )
    names = scorer.names
    for mode in ("sliced", "full_frame"):
        det = comparison.predictions[mode][image_id]
        det = det[det.confidence >= conf]
        header = {
            "image": SAMPLE_IMAGE_NAME,
            "image_wh": list(rgb.shape[1::-1]),
            "model": str(model_path),
            "mode": mode,
            "slice_wh": list(comparison.slice_wh) if mode == "sliced" else None,
            "overlap": overlap if mode == "sliced" else None,
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
