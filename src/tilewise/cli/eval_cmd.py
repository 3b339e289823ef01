"""Evaluation commands: ``eval``, ``compare`` and ``sweep``.

``eval`` scores a COCO prediction file, ``compare`` runs a model full-frame vs sliced,
``sweep`` evaluates a grid of slicer settings with a per-setting cache.

Wire them into the main CLI as three function commands: ``eval_command``,
``compare_command`` and ``sweep_command`` (``register(app)`` does exactly that).
Heavy dependencies (faster-coco-eval, matplotlib) are imported only when the command runs.
Bad input raises ``TilewiseError``, which the root group reports as ``error: ...`` with
exit code 2.
"""

from __future__ import annotations

import warnings
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
)
from tilewise.cli.model_option import MODEL_HELP, cache_model_id, load_model
from tilewise.errors import TilewiseError, TilewiseWarning
from tilewise.evaluation.coco import IouType

__all__ = ["compare_command", "eval_command", "register", "sweep_command"]


def eval_command(
    ground_truth: Annotated[Path, typer.Argument(help="COCO ground-truth JSON.")],
    predictions: Annotated[Path, typer.Argument(help="COCO results JSON (a list of detections).")],
    iou_type: Annotated[
        IouType, typer.Option("--iou-type", help="Compare boxes or masks.")
    ] = IouType.BBOX,
    max_dets: Annotated[
        str,
        typer.Option(
            "--max-dets",
            help="Detection caps per image, comma-separated; the first is the primary one.",
        ),
    ] = "100,300",
    tiny: Annotated[
        bool, typer.Option("--tiny", help="Add the AI-TOD tiny buckets 2-8, 8-16, 16-32 px.")
    ] = False,
    area_range: Annotated[
        list[str] | None,
        typer.Option(
            "--area-range",
            help="Extra bucket 'name:min_px:max_px' (object side in px; max may be inf). "
            "Repeatable.",
        ),
    ] = None,
    per_class: Annotated[
        bool, typer.Option("--per-class/--no-per-class", help="Print the per-class table.")
    ] = True,
    errors: Annotated[
        bool,
        typer.Option(
            "--errors",
            help="Add a TIDE-style error breakdown per bucket, with the AP each error "
            "type costs (dAP if fixed).",
        ),
    ] = False,
    fix_impact: Annotated[
        bool,
        typer.Option(
            "--fix-impact/--no-fix-impact",
            help="With --errors: also measure the AP each error type costs (dAP if fixed; "
            "8 more COCO evaluations). --no-fix-impact gives the counts alone, faster.",
        ),
    ] = True,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the results as JSON here.")
    ] = None,
    markdown_out: Annotated[
        Path | None, typer.Option("--markdown", help="Write a markdown report here.")
    ] = None,
    plots: Annotated[
        Path | None,
        typer.Option("--plots", help="Write PR-curve, bucket and error PNGs to this folder."),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Fail on any unusable prediction instead of skipping it."),
    ] = False,
) -> None:
    """Evaluate COCO predictions against COCO ground truth.

    Prints AP/AR per detection cap and size bucket and a per-class table; optionally a
    TIDE-style error breakdown, JSON and markdown reports and PNG plots.
    """
    from tilewise.evaluation.buckets import build_area_ranges
    from tilewise.evaluation.coco import load_ground_truth, load_predictions
    from tilewise.evaluation.error_analysis import analyze_errors
    from tilewise.evaluation.metrics import evaluate
    from tilewise.fileio import atomic_write_json, atomic_write_text

    ranges = build_area_ranges(coco=True, tiny=tiny, custom=area_range or ())
    with warnings.catch_warnings():
        # Skips are reported in the table itself; no duplicate warning lines.
        warnings.simplefilter("ignore", TilewiseWarning)
        gt = load_ground_truth(ground_truth, iou_type=iou_type)
        preds = load_predictions(predictions, gt, iou_type=iou_type, strict=strict)
        result = evaluate(
            gt,
            preds,
            iou_type=iou_type,
            max_dets=max_dets,
            area_ranges=ranges,
            strict=strict,
        )
        analysis = (
            analyze_errors(
                gt,
                preds,
                iou_type=iou_type,
                area_ranges=ranges,
                max_dets=result.primary_max_dets,
                strict=strict,
                fixes=fix_impact,
            )
            if errors
            else None
        )
    echo(result.table(per_class=per_class))
    if analysis is not None:
        echo("")
        echo(analysis.table())
    if json_out is not None:
        payload = result.to_dict()
        if analysis is not None:
            payload["errors"] = analysis.to_dict()
        atomic_write_json(json_out, payload)
        echo(f"wrote {json_out}")
    if markdown_out is not None:
        text = result.to_markdown(per_class=per_class)
        if analysis is not None:
            text += "\n\n" + analysis.to_markdown()
        atomic_write_text(markdown_out, text + "\n")
        echo(f"wrote {markdown_out}")
    if plots is not None:
        from tilewise.evaluation.plots import (
            plot_bucket_metrics,
            plot_delta_ap,
            plot_errors,
            plot_pr_curves,
        )

        written = [
            plot_pr_curves(result, plots / "pr_curve.png"),
            plot_bucket_metrics(result, plots / "ap_per_bucket.png"),
        ]
        if analysis is not None:
            written.append(plot_errors(analysis, plots / "errors_per_bucket.png"))
            written.append(plot_delta_ap(analysis, plots / "delta_ap_per_bucket.png"))
        echo("wrote " + ", ".join(str(p) for p in written))


def _parse_class_map(text: str | None) -> dict[int, int] | None:
    """``"0:1,1:2"`` to ``{0: 1, 1: 2}``."""
    if not text:
        return None
    out: dict[int, int] = {}
    for item in text.split(","):
        src, _, dst = item.partition(":")
        try:
            out[int(src)] = int(dst)
        except ValueError:
            raise TilewiseError(
                f"--class-map must look like '0:1,1:2' (class id:category id), got {text!r}"
            ) from None
    return out


def _parse_values(text: str, kind: type, option: str) -> list[Any]:
    """Comma-separated values of one type (``bool`` accepts true/false/yes/no/1/0)."""
    values: list[Any] = []
    for raw in (v.strip() for v in text.split(",")):
        if not raw:
            continue
        if kind is bool:
            low = raw.lower()
            if low not in ("true", "false", "yes", "no", "1", "0"):
                raise TilewiseError(f"{option} takes true/false values, got {raw!r}")
            values.append(low in ("true", "yes", "1"))
            continue
        try:
            values.append(kind(raw))
        except ValueError:
            raise TilewiseError(f"{option}: {raw!r} is not a valid {kind.__name__}") from None
    if not values:
        raise TilewiseError(f"{option} needs at least one value")
    return values


ConfOption = Annotated[
    float | None,
    typer.Option(
        "--conf",
        help="Confidence threshold, for every model kind (default: the model's own). "
        "AP is measured over the detections kept, so a low value (e.g. 0.01) suits it.",
    ),
]


def compare_command(
    ground_truth: Annotated[Path, typer.Argument(help="COCO ground-truth JSON.")],
    images: Annotated[Path, typer.Argument(help="Folder of the images named in the GT.")],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help=MODEL_HELP,
        ),
    ],
    class_map: Annotated[
        str | None,
        typer.Option("--class-map", help="Model class id to category id, e.g. '0:1,1:2'."),
    ] = None,
    slice_wh: Annotated[int, typer.Option("--slice-wh", help="Slice size in pixels.")] = 640,
    overlap: Annotated[float, typer.Option("--overlap", help="Slice overlap ratio.")] = 0.2,
    merge: Annotated[
        list[str] | None,
        typer.Option(
            "--merge",
            help="Merge strategy, optionally with its metric ('nms', 'greedy_nmm:ios'). "
            "Repeatable; each gives a sliced and a sliced+full-frame run.",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Slices per model call.")] = 1,
    conf: ConfOption = None,
    max_dets: Annotated[
        str, typer.Option("--max-dets", help="Detection caps, comma-separated.")
    ] = "100,300",
    tiny: Annotated[
        bool, typer.Option("--tiny/--no-tiny", help="Report the tiny size buckets.")
    ] = True,
    errors: Annotated[
        bool, typer.Option("--errors/--no-errors", help="Count TIDE-style errors.")
    ] = True,
    fix_impact: Annotated[
        bool,
        typer.Option(
            "--fix-impact/--no-fix-impact",
            help="Also measure the AP each error type costs (dAP if fixed; 8 more COCO "
            "evaluations per run). --no-fix-impact gives the error counts alone.",
        ),
    ] = True,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the report (markdown, HTML, JSON, PNGs) here."),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = False,
    exif: ExifOption = "follow",
    allow_truncated: AllowTruncatedOption = False,
    scale: ScaleOption = "full",
    value_range: RangeOption = None,
    background: BackgroundOption = "0,0,0",
    max_pixels: MaxPixelsOption = None,
) -> None:
    """Compare full-frame, sliced and sliced+full-frame inference (per merge strategy).

    Runs the model on every image each way, times it, and prints COCO metrics per run,
    detections per image and a TIDE-style error breakdown per size bucket.
    """
    from tilewise.evaluation.compare import compare_runs, standard_runs
    from tilewise.evaluation.dataset import EvalDataset

    batch_model = load_model(model, conf=conf)
    read = read_options(exif, allow_truncated, scale, value_range, background, max_pixels)
    dataset = EvalDataset.from_coco(ground_truth, images, read=read)
    runs = standard_runs(
        slice_wh=slice_wh, overlap=overlap, merges=merge or ["nms"], batch_size=batch_size
    )
    comparison = compare_runs(
        dataset,
        batch_model,
        runs,
        class_to_category=_parse_class_map(class_map),
        max_dets=max_dets,
        tiny=tiny,
        errors=errors,
        fix_impact=fix_impact,
        progress=progress,
    )
    echo(comparison.table())
    if out is not None:
        paths = comparison.write_report(out)
        echo("wrote " + ", ".join(str(p) for p in paths.values()))


def sweep_command(
    ground_truth: Annotated[Path, typer.Argument(help="COCO ground-truth JSON.")],
    images: Annotated[Path, typer.Argument(help="Folder of the images named in the GT.")],
    model: Annotated[
        str,
        typer.Option("--model", help=MODEL_HELP),
    ],
    cache: Annotated[
        Path, typer.Option("--cache", help="Folder of per-setting cached results.")
    ] = Path(".tilewise-sweep"),
    model_id: Annotated[
        str | None,
        typer.Option(
            "--model-id",
            help="Identifies the model in the cache (default: the --model value, its "
            "file's SHA-256 and --conf when given); change it when an import-path "
            "model changes.",
        ),
    ] = None,
    class_map: Annotated[
        str | None,
        typer.Option("--class-map", help="Model class id to category id, e.g. '0:1,1:2'."),
    ] = None,
    slice_wh: Annotated[
        str, typer.Option("--slice-wh", help="Slice sizes, e.g. '320,640'.")
    ] = "640",
    overlap: Annotated[str, typer.Option("--overlap", help="Overlaps, e.g. '0.1,0.25'.")] = "0.2",
    merge: Annotated[str, typer.Option("--merge", help="Merge methods, e.g. 'nms,wbf'.")] = "nms",
    metric: Annotated[str, typer.Option("--metric", help="Merge metrics: 'iou,ios'.")] = "iou",
    threshold: Annotated[
        str, typer.Option("--threshold", help="Merge thresholds, e.g. '0.5,0.7'.")
    ] = "0.5",
    full_frame: Annotated[
        str, typer.Option("--full-frame", help="Full-frame pass: 'false', 'true' or both.")
    ] = "false",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Slices per model call.")] = 1,
    conf: ConfOption = None,
    max_dets: Annotated[
        str, typer.Option("--max-dets", help="Detection caps, comma-separated.")
    ] = "100,300",
    tiny: Annotated[bool, typer.Option("--tiny/--no-tiny")] = True,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write sweep.md and sweep.json here.")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    exif: ExifOption = "follow",
    allow_truncated: AllowTruncatedOption = False,
    scale: ScaleOption = "full",
    value_range: RangeOption = None,
    background: BackgroundOption = "0,0,0",
    max_pixels: MaxPixelsOption = None,
) -> None:
    """Evaluate a grid of slicer settings; print the best setting per metric and its time.

    Each setting's result is cached in --cache under a hash of the dataset, the model id,
    the setting and the evaluation parameters, so a rerun computes only new settings.
    """
    from tilewise.evaluation.dataset import EvalDataset
    from tilewise.evaluation.sweep import sweep

    grid = {
        "slice_wh": _parse_values(slice_wh, int, "--slice-wh"),
        "overlap": _parse_values(overlap, float, "--overlap"),
        "merge": _parse_values(merge, str, "--merge"),
        "metric": _parse_values(metric, str, "--metric"),
        "threshold": _parse_values(threshold, float, "--threshold"),
        "full_frame": _parse_values(full_frame, bool, "--full-frame"),
    }
    read = read_options(exif, allow_truncated, scale, value_range, background, max_pixels)
    result = sweep(
        EvalDataset.from_coco(ground_truth, images, read=read),
        load_model(model, conf=conf),
        grid,
        model_id=model_id or cache_model_id(model, conf),
        cache_dir=cache,
        base_settings={"batch_size": batch_size},
        class_to_category=_parse_class_map(class_map),
        max_dets=max_dets,
        tiny=tiny,
        progress=progress,
    )
    echo(result.table())
    if out is not None:
        md = result.write_markdown(out / "sweep.md")
        js = result.write_json(out / "sweep.json")
        echo(f"wrote {md}, {js}")


def register(app: typer.Typer) -> None:
    """Add ``eval``, ``compare`` and ``sweep`` to a Typer app.

    Example:
        >>> import typer
        >>> app = typer.Typer()
        >>> register(app)
        >>> [c.name for c in app.registered_commands]
        ['eval', 'compare', 'sweep']
    """
    app.command("eval")(eval_command)
    app.command("compare")(compare_command)
    app.command("sweep")(sweep_command)
