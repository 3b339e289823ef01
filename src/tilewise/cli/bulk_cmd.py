"""``tilewise predict SOURCE --engine local|ray``: bulk prediction over many images.

``with_bulk(predict)`` adds the bulk options to ``predict`` and sends a SOURCE given with
``--engine`` (a folder, a glob or a list file), or any ``.txt``/``.lst``/``.list`` file
of image paths, to ``predict_bulk_cli``; other inputs go to ``predict`` unchanged (a
folder without ``--engine`` stays an image sequence). Both engines write the same
``DIR/predictions.parquet`` (``tilewise.bulk``), resumably.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from tilewise.choices import Choice
from tilewise.cli.console import echo
from tilewise.cli.option_group import option_defaults, with_option_group
from tilewise.errors import TilewiseError

__all__ = ["BULK_DEFAULTS", "Engine", "build_model", "predict_bulk_cli", "with_bulk"]


class Engine(Choice):
    """Where a bulk run runs: this process, or a Ray cluster."""

    LOCAL = "local"
    RAY = "ray"


def _bulk_options(
    *,
    engine: Annotated[
        str | None,
        typer.Option(
            help="Many images (SOURCE: a folder, a glob or a .txt list of paths): local or "
            "ray. Writes DIR/predictions.parquet, resumably."
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray: auto (the running cluster) or ray://host:10001 (default: a "
            "local cluster for the run)."
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Ray: model actors (one model each).")] = 2,
    gpus_per_worker: Annotated[
        float, typer.Option("--gpus-per-worker", help="Ray: GPUs per actor.")
    ] = 0.0,
    cpus_per_worker: Annotated[
        float, typer.Option("--cpus-per-worker", help="Ray: CPUs per actor.")
    ] = 1.0,
    chunk: Annotated[
        int, typer.Option(help="Many images: images per part file and per actor call.")
    ] = 8,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Many images: replace a run with other settings.")
    ] = False,
) -> None:
    """The bulk options (their signature is merged into ``predict``'s)."""


BULK_DEFAULTS = option_defaults(_bulk_options)
"""The bulk options and their defaults."""


BULK_HELP = """

    Many images (SOURCE a folder, a glob or a .txt list, with --engine local|ray):
    DIR/predictions.parquet (one row per detection), DIR/coco_results.json,
    DIR/json/<image>.json, DIR/failures.jsonl and DIR/summary.json. A rerun skips the
    images done; other settings in DIR are refused unless --overwrite.
    """


def build_model(spec: str | None, conf: float, iou: float) -> Any:
    """The bundled detector, or the model ``spec`` names (picklable for Ray actors).

    Example:
        >>> type(build_model(None, 0.25, 0.7)).__name__
        'OnnxDetector'
    """
    if spec is None:
        from tilewise.models import default_detector

        return default_detector(conf=conf, iou=iou)
    from tilewise.cli.model_option import load_model

    return load_model(spec, conf=conf, iou=iou)


def with_bulk(predict: Callable[..., None]) -> Callable[..., None]:
    """``predict`` with the bulk options; bulk sources go to ``predict_bulk_cli``.

    Example:
        >>> import inspect
        >>> def predict(image: Path | None = None, out: Path = Path("o")) -> None:
        ...     print("image", image)
        >>> both = with_bulk(predict)
        >>> list(inspect.signature(both).parameters)[:3]
        ['image', 'out', 'engine']
        >>> both(image=Path("a.jpg"), out=Path("o"), **BULK_DEFAULTS)
        image a.jpg
    """

    def route(kwargs: dict[str, Any], bulk: dict[str, Any]) -> bool:
        from tilewise.bulk.inputs import is_image_list

        image = kwargs.get("image")
        if image is None or (bulk["engine"] is None and not is_image_list(image)):
            return False
        predict_bulk_cli(**kwargs, **bulk)
        return True

    return with_option_group(
        predict,
        _bulk_options,
        route=route,
        help_text=BULK_HELP,
        misuse=(
            "apply to many images: give SOURCE (a folder, a glob or a .txt list of paths) "
            "with --engine local|ray"
        ),
    )


def _refuse_non_defaults(kwargs: dict[str, Any]) -> None:
    from tilewise.cli.video_cmd import VIDEO_DEFAULTS

    image_only = {"labels": False, "format_": None, "bands": None, "nodata": "auto",
                  "min_valid": 0.0}  # fmt: skip
    changed = [
        "--" + k.rstrip("_").replace("_", "-")
        for k, v in kwargs.items()
        if (k in VIDEO_DEFAULTS and v != VIDEO_DEFAULTS[k])
        or (k in image_only and v != image_only[k])
    ]
    if changed:
        raise TilewiseError(f"{', '.join(changed)} do not apply to --engine runs")


def predict_bulk_cli(
    image: Path,
    *,
    engine: str | None,
    address: str | None,
    workers: int,
    gpus_per_worker: float,
    cpus_per_worker: float,
    chunk: int,
    overwrite: bool,
    model: str | None = None,
    slice_size: str = "auto",
    overlap: float = 0.2,
    merge: str = "nms",
    full_frame: bool = False,
    out: Path = Path("tilewise-predict"),
    conf: float = 0.25,
    iou: float = 0.7,
    batch: int = 8,
    exif: str = "follow",
    allow_truncated: bool = False,
    scale: str = "full",
    value_range: str | None = None,
    background: str = "0,0,0",
    max_pixels: int | None = None,
    progress: bool = True,
    **rest: Any,
) -> None:
    """Run the bulk engine named by ``engine`` (local by default) over ``image``'s images."""
    from tilewise.bulk.inputs import list_images
    from tilewise.bulk.run import run_local
    from tilewise.bulk.store import RunStore
    from tilewise.cli.image_options import read_options
    from tilewise.cli.slice_option import parse_slice

    kind = Engine.parse(engine or "local")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise TilewiseError(
            "--engine runs write parquet: pip install 'tilewise[distributed]'"
        ) from None
    _refuse_non_defaults(rest)
    if chunk < 1:
        raise TilewiseError(f"--chunk must be >= 1, got {chunk}")
    images = list_images(str(image))  # an empty SOURCE fails here, before any model
    size = parse_slice(slice_size)
    read = read_options(exif, allow_truncated, scale, value_range, background, max_pixels)
    slicer_options = {
        "slice_size": size,
        "overlap": overlap,
        "merge": merge,
        "full_frame": full_frame,
        "batch_size": batch,
    }
    settings = {
        "source": str(Path(images.source).resolve()) if "*" not in images.source else images.source,
        "model": model or "bundled",
        "conf": conf,
        "iou": iou,
        "slice": size or "auto",
        "overlap": overlap,
        "merge": merge,
        "full_frame": full_frame,
        "read": {
            "exif": exif,
            "allow_truncated": allow_truncated,
            "scale": scale,
            "range": value_range,
            "background": background,
        },
    }
    factory = functools.partial(build_model, model, conf, iou)
    detector = factory()  # a bad --model fails here, before anything is written
    names = list(getattr(detector, "names", ()) or ())
    store = RunStore(out, settings, overwrite=overwrite)
    report = (lambda p: echo(p.text())) if progress else None
    if kind is Engine.RAY:
        from tilewise.distributed import RayOptions, run_ray

        options = RayOptions(
            address=address,
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            cpus_per_worker=cpus_per_worker,
        )
        summary = run_ray(
            images, factory, store, slicer_options=slicer_options, read=read,
            options=options, chunk=chunk, progress=report,
        )  # fmt: skip
    else:
        changed = [
            f for f, v in (("--address", address), ("--workers", workers),
                           ("--gpus-per-worker", gpus_per_worker),
                           ("--cpus-per-worker", cpus_per_worker))
            if v != BULK_DEFAULTS[f[2:].replace("-", "_")]
        ]  # fmt: skip
        if changed:
            raise TilewiseError(f"{', '.join(changed)} apply to --engine ray")
        from tilewise.bulk.engine import build_slicer

        slicer = build_slicer(detector, **slicer_options)
        summary = run_local(
            images, slicer, store, chunk=chunk, read=read,
            class_names=names, progress=report,
        )  # fmt: skip
    _per_image_json(store, settings)
    echo(summary.text())
    echo(f"wrote {out / 'predictions.parquet'}, {out / 'coco_results.json'}, {out / 'json'}/")
    if summary.failed:
        echo(f"{summary.failed} failure(s) with their reasons in {out / 'failures.jsonl'}")


def _per_image_json(store: Any, settings: dict[str, Any]) -> None:
    """``DIR/json/<image>.json`` for every image done, through the one pixel-JSON writer."""
    import pyarrow.parquet as pq

    from tilewise.bulk.exports import per_image
    from tilewise.cli.pixel_json import detections_json
    from tilewise.detections import Detections
    from tilewise.fileio import atomic_write_json

    images = store.images()
    table = pq.read_table(store.out / "predictions.parquet")
    by_name = dict(per_image(table))
    names_of = {}
    if len(table):
        for cid, cname in zip(
            table.column("class_id").to_pylist(),
            table.column("class_name").to_pylist(),
            strict=True,
        ):
            names_of[cid] = cname
    top = max(names_of, default=-1) + 1
    class_names = [names_of.get(i, str(i)) for i in range(top)]
    for row in images.select(["image", "status", "width", "height"]).to_pylist():
        if row["status"] != "done":
            continue
        det = by_name.get(row["image"], Detections.empty())
        header = {"image": row["image"], "image_wh": [row["width"], row["height"]],
                  "model": settings["model"]}  # fmt: skip
        atomic_write_json(
            store.out / "json" / f"{row['image']}.json", detections_json(det, class_names, **header)
        )
