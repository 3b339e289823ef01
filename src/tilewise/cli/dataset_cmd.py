"""``tilewise dataset ...``: tile, convert, classes, health and anchors.

Wired into the root CLI as ``Command("dataset", dataset_cmd.app)``. Heavy imports happen
inside the commands; ``TilewiseError`` propagates to the root group (``error: ...``, exit
code 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tilewise.cli import synth_cmd, synth_video_cmd
from tilewise.cli.console import echo, warn
from tilewise.cli.image_options import (
    AllowTruncatedOption,
    BackgroundOption,
    ExifOption,
    MaxPixelsOption,
    RangeOption,
    ScaleOption,
    read_options,
)
from tilewise.errors import TilewiseError

__all__ = ["app", "parse_overlap", "parse_size"]

app = typer.Typer(
    help="Dataset toolkit: tile for training, convert formats, manage classes, check health, "
    "compute anchors.",
    no_args_is_help=True,
)

_FORMAT_HELP = "Dataset format: coco, yolo or voc (default: detected)."


def parse_size(text: str) -> int | tuple[int, int]:
    """``"640"`` -> 640, ``"640x480"`` -> (640, 480).

    Example:
        >>> parse_size("640x480")
        (640, 480)
    """
    try:
        if "x" in text.lower():
            w, h = text.lower().split("x")
            return int(w), int(h)
        return int(text)
    except ValueError:
        raise TilewiseError(f"slice size must be like 640 or 640x480, got {text!r}") from None


def parse_overlap(text: str) -> float | int | tuple[float, float] | tuple[int, int]:
    """``"0.2"`` -> ratio 0.2; ``"128"`` -> 128 px; ``"0.2,0.1"`` -> an (x, y) pair.

    Example:
        >>> parse_overlap("0.2"), parse_overlap("128"), parse_overlap("0.25,0.1")
        (0.2, 128, (0.25, 0.1))
    """

    def one(t: str) -> float | int:
        t = t.strip()
        try:
            return float(t) if "." in t else int(t)
        except ValueError:
            msg = f"overlap must be a ratio like 0.2 or pixels like 128, got {t!r}"
            raise TilewiseError(msg) from None

    parts = text.split(",")
    if len(parts) == 2:
        return (one(parts[0]), one(parts[1]))  # type: ignore[return-value]
    return one(text)


def _ratios(text: str | None) -> tuple[float, float, float] | None:
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        msg = f"--split must be three fractions like 0.8,0.1,0.1, got {text!r}"
        raise TilewiseError(msg) from None
    if len(values) == 2:
        values.append(max(0.0, 1.0 - sum(values)))
    if len(values) != 3:
        raise TilewiseError(f"--split must be three fractions like 0.8,0.1,0.1, got {text!r}")
    return (values[0], values[1], values[2])


@app.command()
def tile(
    src: Annotated[
        Path,
        typer.Argument(
            help="Source dataset (COCO JSON, YOLO dir/yaml, VOC dir), or a raster with --labels."
        ),
    ],
    dst: Annotated[Path, typer.Argument(help="Output directory (empty, or a run to resume).")],
    slice_: Annotated[str, typer.Option("--slice", help="Tile size: 640 or 640x480.")] = "640",
    overlap: Annotated[
        str, typer.Option(help="Overlap: ratio (0.2), pixels (128) or an x,y pair.")
    ] = "0.2",
    min_visibility: Annotated[
        float, typer.Option(help="Keep a box in a tile when this fraction of it is inside.")
    ] = 0.3,
    min_size: Annotated[
        float, typer.Option(help="... and its clipped width and height are >= this (px).")
    ] = 2.0,
    empty_ratio: Annotated[
        float, typer.Option(help="Empty tiles kept per split, as a fraction of non-empty tiles.")
    ] = 0.1,
    split: Annotated[
        str | None,
        typer.Option(
            help="Assign train,val,test per source image, e.g. 0.8,0.1,0.1 "
            "(default: keep the source's splits)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for empty-tile sampling and splits.")] = 0,
    format_: Annotated[
        str | None, typer.Option("--format", help="Output format (default: the source's).")
    ] = None,
    ext: Annotated[
        str | None, typer.Option(help="Tile image suffix, e.g. .png (default: the source's).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Image writer threads.")] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an earlier tiling in DST made with another config.")
    ] = False,
    on_error: Annotated[
        str, typer.Option(help="Unreadable source image: skip (reported) or raise.")
    ] = "skip",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    exif: ExifOption = "follow",
    allow_truncated: AllowTruncatedOption = False,
    scale: ScaleOption = "full",
    value_range: RangeOption = None,
    background: BackgroundOption = "0,0,0",
    max_pixels: MaxPixelsOption = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            help="Vector labels (GeoPackage, GeoJSON, shapefile; polygons or boxes, any CRS) "
            "of the raster SRC: tiles are read window by window, annotations written as COCO."
        ),
    ] = None,
    class_column: Annotated[
        str | None,
        typer.Option(
            "--class-column",
            help="With --labels: the attribute holding the class (default: class_name, "
            "class, label, category, name or type; else one class 'object').",
        ),
    ] = None,
    layer: Annotated[
        str | None, typer.Option(help="With --labels: the layer of a multi-layer file.")
    ] = None,
    bands: Annotated[
        str | None,
        typer.Option(help="With --labels: the raster's bands as R,G,B (e.g. 4,3,2) or one band."),
    ] = None,
    nodata: Annotated[
        str, typer.Option(help="With --labels: auto, ignore or the raster's nodata value.")
    ] = "auto",
    min_valid: Annotated[
        float,
        typer.Option(
            "--min-valid",
            help="With --labels: empty tiles with less valid (not nodata) data than this "
            "fraction are not sampled; all-nodata ones never are.",
        ),
    ] = 0.0,
) -> None:
    """Cut a dataset into training tiles with the same slice grid as sliced inference.

    Source images are read as inference reads them (EXIF orientation followed unless
    --exif ignore); truncated or unreadable ones are skipped and counted
    (image_truncated, image_unreadable) unless --on-error raise. With --labels, SRC is a
    raster (GeoTIFF...) and the labels are reprojected to its CRS and placed on its
    pixels; labels partly outside it are clipped, wholly outside ones dropped (counted),
    and none on it at all is an error. Its 16-bit/float bands get a 2-98 percentile
    stretch unless --scale pLO,pHI or --range lo,hi is given; empty tiles over nodata are
    never sampled (counted).
    """
    from tilewise.datasets.tiling import TilingConfig, tile_dataset, tile_raster

    cfg = TilingConfig(
        slice_wh=parse_size(slice_),
        overlap=parse_overlap(overlap),
        min_visibility=min_visibility,
        min_size=min_size,
        empty_ratio=empty_ratio,
        seed=seed,
        split_ratios=_ratios(split),
        image_ext=ext,
    )
    read = read_options(exif, allow_truncated, scale, value_range, background, max_pixels)
    if labels is not None:
        from tilewise.cli.predict_raster import parse_bands, parse_nodata

        res, placed = tile_raster(
            src,
            labels,
            dst,
            cfg,
            class_column=class_column,
            layer=layer,
            bands=parse_bands(bands),
            value_range=read.scaling.value_range,
            percentiles=read.scaling.percentiles,
            nodata=parse_nodata(nodata),
            min_valid=min_valid,
            format=format_,
            workers=workers,
            progress=progress,
            overwrite=overwrite,
        )
        c = placed.counts
        echo(
            f"labels: {c['features']} read from {labels} ({c['boxes']} boxes, "
            f"{c['polygons']} polygons, {c['no_geometry']} without geometry, "
            f"{c['outside_raster']} outside the raster), CRS {placed.crs[:40]}"
        )
    else:
        if bands is not None or class_column is not None or layer is not None or min_valid:
            raise TilewiseError("--bands, --class-column, --layer and --min-valid go with --labels")
        res = tile_dataset(
            src,
            dst,
            cfg,
            format=format_,
            workers=workers,
            progress=progress,
            overwrite=overwrite,
            on_error=on_error,
            read=read,
        )
    if res.already_complete:
        echo(f"{dst}: already complete (same config); nothing to do")
    tiles = res.report.tiles
    echo(res.report.table())
    echo(
        f"tiles: {tiles.get('selected', 0)} written to {dst} "
        f"({tiles.get('with_objects', 0)} with objects, {tiles.get('empty_kept', 0)} of "
        f"{tiles.get('empty', 0)} empty kept); this run wrote {res.tiles_written}, "
        f"reused {res.tiles_reused}"
    )
    if "empty_nodata" in tiles:
        echo(
            f"empty tiles not sampled: {tiles['empty_nodata']} all nodata, "
            f"{tiles['empty_sparse']} under --min-valid {min_valid:g}"
        )
    echo(
        f"instances: {res.report.instances} ({res.report.instances_clipped} clipped); "
        f"boxes clipped to their image: {res.report.boxes_clipped_to_image}; polygons "
        f"repaired: {res.report.polygons_repaired}"
    )
    for name, why in res.report.images_skipped.items():
        warn(f"skipped image {name}: {why}")
    for name in res.report.images_truncated:
        warn(f"{name} is truncated: tiled anyway (--allow-truncated), rows past its data are black")
    for note in res.notes:
        warn(note)


@app.command()
def convert(
    src: Annotated[Path, typer.Argument(help="Source dataset.")],
    dst: Annotated[Path, typer.Argument(help="Output directory.")],
    to: Annotated[str, typer.Option("--to", help="Output format: coco, yolo or voc.")],
    from_: Annotated[str | None, typer.Option("--from", help=_FORMAT_HELP)] = None,
    images: Annotated[
        str, typer.Option(help="Place images by copy, link (hard link) or none.")
    ] = "copy",
    on_error: Annotated[str, typer.Option(help="Bad records: raise or skip (reported).")] = "raise",
) -> None:
    """Convert a dataset between COCO, YOLO and VOC."""
    import warnings

    from tilewise.datasets import convert as convert_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds, summary = convert_dataset(
            src, dst, to, src_format=from_, images=images, on_error=on_error
        )
    _report_issues(ds)
    echo(
        f"converted {ds.num_images} images, {ds.num_annotations} annotations, "
        f"{ds.num_classes} classes to {to} in {dst} ({len(summary.files)} files)"
    )
    for note in summary.notes:
        warn(note)


def _report_issues(ds: object, limit: int = 20) -> None:
    issues = getattr(ds, "issues", ())
    for issue in issues[:limit]:
        warn(str(issue))
    if len(issues) > limit:
        warn(f"... and {len(issues) - limit} more issues")


@app.command()
def classes(
    src: Annotated[Path, typer.Argument(help="Source dataset.")],
    dst: Annotated[
        Path | None, typer.Argument(help="Output directory (omit for a dry run).")
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="old=new: rename, or merge when several map to one."),
    ] = None,
    drop: Annotated[list[str] | None, typer.Option(help="Drop a class (repeatable).")] = None,
    keep: Annotated[
        list[str] | None, typer.Option(help="Keep only these classes (repeatable).")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="JSON/YAML file of old: new (null drops).")
    ] = None,
    format_: Annotated[str | None, typer.Option("--format", help="Output format.")] = None,
    images: Annotated[str, typer.Option(help="Place images by copy, link or none.")] = "copy",
) -> None:
    """Keep, drop, rename or merge classes; prints counts before and after."""
    from tilewise.datasets import detect_format, read_dataset, write_dataset
    from tilewise.datasets.classes import Unmapped, load_class_mapping, remap_classes

    table: dict[str, str | None] = dict(load_class_mapping(mapping)) if mapping else {}
    for item in map_ or []:
        if "=" not in item:
            raise TilewiseError(f"--map needs old=new, got {item!r}")
        old, new = item.split("=", 1)
        table[old.strip()] = new.strip() or None
    for name in drop or []:
        table[name] = None
    unmapped = Unmapped.KEEP
    if keep:
        unmapped = Unmapped.DROP
        for name in keep:
            table.setdefault(name, name)
    ds = read_dataset(src)
    new, change = remap_classes(ds, table, unmapped=unmapped)
    echo(change.table())
    if dst is None:
        echo("dry run: nothing written (give DST to write the result)")
        return
    fmt = format_ or detect_format(src).value
    summary = write_dataset(new, dst, fmt, images=images)
    echo(f"wrote {new.num_images} images, {new.num_annotations} annotations to {dst} ({fmt})")
    for note in summary.notes:
        warn(note)


@app.command()
def health(
    data: Annotated[Path, typer.Argument(help="Dataset to check.")],
    model_input: Annotated[int, typer.Option(help="Detector input size in px.")] = 640,
    out: Annotated[Path, typer.Option(help="Directory for health.json and health.html.")] = Path(
        "health"
    ),
    format_: Annotated[str | None, typer.Option("--format", help=_FORMAT_HELP)] = None,
    on_error: Annotated[str, typer.Option(help="Bad records: raise or skip (reported).")] = "raise",
    exif: ExifOption = "follow",
) -> None:
    """Dataset health: statistics, problems, plots and a slice/overlap recommendation.

    Image headers are read too: EXIF-rotated images are counted and listed.
    """
    import warnings

    from tilewise.datasets import read_dataset
    from tilewise.datasets.health import health_check, health_text

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read_dataset(data, format_, on_error=on_error, exif=exif)
    _report_issues(ds)
    stats, files = health_check(ds, model_input=model_input, out_dir=out, title=f"{data}")
    echo(health_text(stats))
    echo(f"\nwrote {files.json} and {files.html}")


@app.command()
def anchors(
    data: Annotated[Path, typer.Argument(help="Dataset (e.g. the tiled one).")],
    n: Annotated[int, typer.Option("--n", help="Number of anchors.")] = 9,
    img_size: Annotated[int, typer.Option(help="Model input size in px.")] = 640,
    thr: Annotated[float, typer.Option(help="Width/height ratio threshold.")] = 4.0,
    generations: Annotated[int, typer.Option(help="Evolution generations.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    format_: Annotated[str | None, typer.Option("--format", help=_FORMAT_HELP)] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """YOLOv5-style anchors: BPR and anchors/target, k-means, then evolution."""
    import numpy as np

    from tilewise.datasets import read_dataset
    from tilewise.datasets.anchors import YOLOV5_ANCHORS, evolve_anchors, label_sizes
    from tilewise.fileio import atomic_write_json

    ds = read_dataset(data, format_)
    wh = label_sizes(ds, img_size)
    reference = YOLOV5_ANCHORS * (img_size / 640) if n == 9 else None
    result = evolve_anchors(
        wh,
        n=n,
        img_size=img_size,
        thr=thr,
        generations=generations,
        reference=reference,
        seed=seed,
        progress=progress,
    )
    echo(result.report)
    rounded = np.round(result.anchors).astype(int).tolist()
    echo("anchors (w,h, sorted by area): " + json.dumps(rounded))
    if json_out is not None:
        atomic_write_json(json_out, result.to_dict())
        echo(f"wrote {json_out}")


# ``tilewise dataset synth``: the synthetic small-object benchmark (its own module, lazy too).
app.command("synth")(synth_cmd.synth)
# ``tilewise dataset synth-video``: tiny movers with MOT ground truth (tilewise.synth.video).
app.command("synth-video")(synth_video_cmd.synth_video)
