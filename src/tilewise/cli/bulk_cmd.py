"""``tilewise predict SOURCE --engine local|ray``: bulk prediction over many images.

``with_bulk(predict)`` adds the bulk options to ``predict`` and applies ``predict``'s one
input rule (``tilewise.cli.input_route``): an image archive (a folder or a glob without
video options, or a ``.txt``/``.lst``/``.list`` file of image paths) goes to
``predict_bulk_cli`` (``--engine local`` unless another is given), a raster with
``--engine`` to ``tilewise.cli.raster_cmd`` (strips across workers); other inputs go
to ``predict`` unchanged. Both engines write the same ``DIR/predictions.parquet``
(``tilewise.bulk``), resumably.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from tilewise.choices import Choice
from tilewise.cli.console import echo
from tilewise.cli.merge_options import MERGE_DEFAULTS, MERGE_KEYS, merge_settings
from tilewise.cli.model_option import build_model, model_digest
from tilewise.cli.option_group import option_defaults, with_option_group
from tilewise.cli.slice_option import refuse_replaced
from tilewise.errors import TilewiseError

__all__ = [
    "BULK_DEFAULTS",
    "Engine",
    "build_model",
    "predict_bulk_cli",
    "predict_raster_strips_cli",
    "with_bulk",
]


class Engine(Choice):
    """Where a bulk run runs: this process, or a Ray cluster."""

    LOCAL = "local"
    RAY = "ray"


def _bulk_options(
    *,
    engine: Annotated[
        str | None,
        typer.Option(
            help="Many images (SOURCE: a folder, a glob or a .txt list of paths; default "
            "local) or a raster in strips: local or ray. Many images write "
            "DIR/predictions.parquet, resumably."
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
        float | None,
        typer.Option(
            "--cpus-per-worker",
            help="Ray: CPUs per actor (default: up to 1, fitted so reading keeps a share).",
        ),
    ] = None,
    chunk: Annotated[
        int, typer.Option(help="Many images: images per part file and per actor call.")
    ] = 8,
    strips: Annotated[
        int | None,
        typer.Option(
            help="A raster with --engine: horizontal strips of slice rows spread over the "
            "workers (default: 4 per worker)."
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Many images, or a raster with --engine: replace a run with other settings.",
        ),
    ] = False,
) -> None:
    """The bulk options (their signature is merged into ``predict``'s)."""


BULK_DEFAULTS = option_defaults(_bulk_options)
"""The bulk options and their defaults."""


BULK_HELP = """

    Many images (SOURCE a folder, a glob or a .txt list; --engine local|ray, local by
    default; a folder or glob with video options such as --track is an image sequence
    instead): DIR/predictions.parquet (one row per detection), DIR/coco_results.json,
    DIR/json/<image>.json, DIR/failures.jsonl and DIR/summary.json. A rerun skips the
    images done; other settings in DIR are refused unless --overwrite. A raster with
    --engine runs in strips of slice rows across --workers (--strips), with the same
    outputs as without; each finished strip is recorded in DIR/<stem>.strips, so a rerun
    runs only the strips not done (other settings refused unless --overwrite).
    """


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
        from tilewise.cli.image_options import read_options
        from tilewise.cli.input_route import InputKind, input_kind
        from tilewise.cli.video_cmd import VIDEO_DEFAULTS

        given = tuple(
            "--" + k.replace("_", "-")
            for k, v in kwargs.items()
            if k in VIDEO_DEFAULTS and v != VIDEO_DEFAULTS[k]
        )
        image = kwargs.get("image")
        limit = None
        if image is not None and image.is_file():
            keys = ("exif", "allow_truncated", "scale", "value_range", "background")
            limit = read_options(*(kwargs[k] for k in keys), kwargs["max_pixels"]).pixel_limit
        kind = input_kind(image, engine=bulk["engine"], sequence_options=given, pixel_limit=limit)
        if kind in (InputKind.ARCHIVE, InputKind.RASTER_STRIPS) and kwargs.get("config"):
            refuse_replaced(kwargs)
        if kind is InputKind.ARCHIVE:
            predict_bulk_cli(**kwargs, **bulk)
            return True
        if kind is InputKind.RASTER_STRIPS:
            predict_raster_strips_cli(kwargs, bulk)
            return True
        return False

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
    cpus_per_worker: float | None,
    chunk: int,
    overwrite: bool,
    strips: int | None = None,
    model: str | None = None,
    slice_size: str = "auto",
    overlap: float = 0.2,
    merge: str = "nms",
    merge_threshold: float = 0.5,
    merge_metric: str = "iou",
    class_agnostic: bool = False,
    full_frame: bool = False,
    out: Path = Path("tilewise-predict"),
    conf: float = 0.25,
    iou: float = 0.7,
    batch: int = 8,
    zoom: float = 1.0,
    config: Path | None = None,
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
    from tilewise.slicing.zoom import check_zoom

    kind = Engine.parse(engine or "local")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise TilewiseError(
            "--engine runs write parquet: pip install 'tilewise[distributed]'"
        ) from None
    _refuse_non_defaults(rest)
    if strips is not None:
        raise TilewiseError("--strips applies to a raster run with --engine, not to many images")
    if chunk < 1:
        raise TilewiseError(f"--chunk must be >= 1, got {chunk}")
    images = list_images(str(image))  # an empty SOURCE fails here, before any model
    size = parse_slice(slice_size)
    read = read_options(exif, allow_truncated, scale, value_range, background, max_pixels)
    merging = merge_settings(merge, merge_threshold, merge_metric, class_agnostic)
    zoom = check_zoom(zoom, "--zoom")
    slicer_options: dict[str, Any] = {
        "slice_size": size,
        "overlap": overlap,
        "full_frame": full_frame,
        "batch_size": batch,
        "zoom": zoom,
        **merging,
    }
    tuned = None
    if config is not None:  # its settings replace the slicer options (none given beside it)
        from tilewise.slicing.config import SlicerConfig

        tuned = SlicerConfig.load(config)
        slicer_options = {**tuned.slicer_kwargs(), "batch_size": batch}
    settings = {
        "source": str(Path(images.source).resolve()) if "*" not in images.source else images.source,
        "model": model or "bundled",
        "model_sha256": model_digest(model),
        "conf": conf,
        "iou": iou,
        "slice": size or "auto",
        "overlap": overlap,
        "merge": merging["merge"],
        "full_frame": full_frame,
        # recorded only where they differ from their defaults, so that a run recorded
        # before these options existed (the defaults then) still resumes
        **{k: v for k, v in merging.items() if k != "merge" and v != MERGE_DEFAULTS[k]},
        **({"zoom": zoom} if zoom != 1.0 else {}),
        **({"slicer_config": dict(tuned.settings)} if tuned is not None else {}),
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
    if tuned is not None:
        tuned.check_model(detector)  # a config made for another model: refused here too
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
        _refuse_ray_options(
            {"address": address, "workers": workers, "gpus_per_worker": gpus_per_worker,
             "cpus_per_worker": cpus_per_worker}
        )  # fmt: skip
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


def _refuse_ray_options(bulk: dict[str, Any]) -> None:
    """Refuse Ray's options (given other values than their defaults) with --engine local."""
    names = ("address", "workers", "gpus_per_worker", "cpus_per_worker")
    changed = ["--" + n.replace("_", "-") for n in names if bulk[n] != BULK_DEFAULTS[n]]
    if changed:
        raise TilewiseError(f"{', '.join(changed)} apply to --engine ray")


def predict_raster_strips_cli(kwargs: dict[str, Any], bulk: dict[str, Any]) -> None:
    """``predict RASTER --engine local|ray``: ``predict``'s arguments and the bulk options.

    Options that do not apply to a raster in strips (video options, ``--chunk``) are
    refused, naming them; so is a ``--config`` with several scales or a full-frame pass.
    """
    from tilewise.cli.image_options import read_options
    from tilewise.cli.raster_cmd import predict_raster_cli
    from tilewise.cli.slice_option import parse_slice
    from tilewise.cli.video_cmd import VIDEO_DEFAULTS
    from tilewise.distributed import RayOptions

    refused = dict(VIDEO_DEFAULTS)
    bulk_only = {"chunk": 8}
    changed = [
        "--" + k.replace("_", "-")
        for k, v in [*kwargs.items(), *bulk.items()]
        if (k in refused and v != refused[k]) or (k in bulk_only and v != bulk_only[k])
    ]
    image = kwargs["image"]
    if changed:
        raise TilewiseError(
            f"{', '.join(changed)} do not apply to a raster run in strips ({image})"
        )
    keys = ("exif", "allow_truncated", "scale", "value_range", "background", "max_pixels")
    engine = Engine.parse(bulk["engine"])
    if engine is Engine.LOCAL:
        _refuse_ray_options(bulk)
    options = RayOptions(
        address=bulk["address"],
        workers=bulk["workers"],
        gpus_per_worker=bulk["gpus_per_worker"],
        cpus_per_worker=bulk["cpus_per_worker"],
    )
    predict_raster_cli(
        image, model=kwargs["model"], read=read_options(*(kwargs[k] for k in keys)),
        size=parse_slice(kwargs["slice_size"]), overlap=kwargs["overlap"],
        merging=merge_settings(*(kwargs[k] for k in MERGE_KEYS)), out=kwargs["out"],
        conf=kwargs["conf"], iou=kwargs["iou"],
        batch=kwargs["batch"], labels=kwargs["labels"], format_=kwargs["format_"],
        bands=kwargs["bands"], nodata=kwargs["nodata"], min_valid=kwargs["min_valid"],
        progress=kwargs["progress"], full_frame=kwargs["full_frame"], engine=engine.value,
        ray_options=options, strips=bulk["strips"], overwrite=bulk["overwrite"],
        zoom=kwargs["zoom"], config=kwargs["config"],
    )  # fmt: skip


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
