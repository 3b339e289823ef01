"""Bulk prediction on a Ray cluster: reading tasks, then one model per actor.

``predict_images`` builds a lazy ``ray.data.Dataset`` of one row per image
(``tilewise.bulk.table.IMAGE_SCHEMA``):

1. the image names and paths, in blocks of ``chunk`` images;
2. ``map_batches(_read_chunk)``: Ray *tasks* decode the images (raw RGB bytes with their
   size, or the read error), so decoding never waits on, nor starves, the model;
3. ``map_batches(_Predictor, compute=ActorPoolStrategy(size=workers))``: each actor loads
   the model once (``model_factory()``) and runs ``tilewise.bulk.predict_chunk`` on the
   chunks it gets, so the slices of several images fill one model batch.

``run_ray`` drives it for ``tilewise predict SOURCE --engine ray``: it skips the images
the output folder records as done, writes each finished block as a part file on the
driver (so only the driver needs the output folder) and finalizes the same
``predictions.parquet`` as ``--engine local``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa

from tilewise.bulk.engine import ImageItem, build_slicer, predict_chunk
from tilewise.bulk.inputs import ImageList, file_stat
from tilewise.bulk.run import Progress, resume_summary
from tilewise.bulk.store import RunStore, RunSummary
from tilewise.bulk.table import IMAGE_SCHEMA, image_table
from tilewise.errors import TilewiseError
from tilewise.images import ReadOptions

__all__ = ["RayOptions", "actor_cpus", "cluster_cpus", "connect", "predict_images", "run_ray"]

_READ_SCHEMA = pa.schema(
    [
        ("image", pa.string()),
        ("pixels", pa.large_binary()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("error", pa.string()),
        ("source_bytes", pa.int64()),
        ("source_mtime_ns", pa.int64()),
    ]
)


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise TilewiseError(
            "--engine ray needs Ray Data: pip install 'tilewise[distributed]'"
        ) from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """How a bulk run uses the cluster.

    Attributes:
        address: ``None`` starts a local cluster for the run (``num_cpus`` CPUs);
            ``"auto"`` joins the running one; ``"ray://host:10001"`` a remote one.
        workers: model actors (one model each).
        gpus_per_worker: GPUs reserved per actor (0: CPU models).
        cpus_per_worker: CPUs reserved per actor; ``None`` fits it to the cluster (up to
            1 per actor, leaving the reading tasks their share: see ``actor_cpus``).
        read_cpus: CPUs reserved per reading task (keep it small, so reads fit beside
            the actors on a small machine).
        num_cpus: CPUs of a local cluster started for the run (None: all).

    Example:
        >>> RayOptions(workers=4, gpus_per_worker=1).workers
        4
    """

    address: str | None = None
    workers: int = 2
    gpus_per_worker: float = 0.0
    cpus_per_worker: float | None = None
    read_cpus: float = 0.25
    num_cpus: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or int(self.workers) < 1:
            raise TilewiseError(f"--workers must be >= 1, got {self.workers!r}")
        for name in ("gpus_per_worker", "cpus_per_worker", "read_cpus"):
            value = getattr(self, name)
            if value is not None and not float(value) >= 0:
                flag = "--" + name.replace("_", "-")
                raise TilewiseError(f"{flag} must be >= 0, got {getattr(self, name)!r}")


def actor_cpus(options: RayOptions, cluster_cpus: float, *, reads: bool = True) -> float:
    """CPUs to reserve per model actor, so that every actor and a reading task fit.

    Actors hold their CPUs for the whole run; a reading task that finds no free CPU waits
    for one forever. So ``workers x cpus_per_worker`` plus one reading task's share
    (``read_cpus``, when the run has reading tasks) must fit in the cluster's CPUs.
    ``cpus_per_worker=None`` picks up to 1 CPU per actor within that; a given value that
    does not fit is refused rather than left to hang.

    Args:
        options: the run's Ray options.
        cluster_cpus: the cluster's CPUs (``ray.cluster_resources()["CPU"]``).
        reads: whether reading tasks run beside the actors.

    Raises:
        TilewiseError: the actors and a reading task cannot fit.

    Example:
        >>> actor_cpus(RayOptions(workers=2), cluster_cpus=2)
        0.875
        >>> actor_cpus(RayOptions(workers=2), cluster_cpus=8)
        1.0
        >>> actor_cpus(RayOptions(workers=2, cpus_per_worker=0.5), cluster_cpus=2)
        0.5
    """
    read = float(options.read_cpus) if reads else 0.0
    free = float(cluster_cpus) - read
    workers = int(options.workers)
    if options.cpus_per_worker is not None:
        want = float(options.cpus_per_worker)
        if want * workers <= free + 1e-9:
            return want
        need = f"--workers {workers} x --cpus-per-worker {want:g}" + (
            f" + a reading task's {read:g}" if reads else ""
        )
        raise TilewiseError(
            f"{need} need {want * workers + read:g} CPUs; the cluster has {cluster_cpus:g}: "
            "the actors would hold every CPU and the run would wait forever. Lower "
            "--cpus-per-worker or --workers, or leave --cpus-per-worker out to fit it"
        )
    if free <= 0:
        raise TilewiseError(
            f"the cluster has {cluster_cpus:g} CPUs: not enough for a reading task "
            f"({read:g}) and {workers} model actor(s)"
        )
    return min(1.0, free / workers)


def cluster_cpus(ray: Any) -> float:
    """The connected cluster's CPUs (0 when it reports none)."""
    return float(ray.cluster_resources().get("CPU", 0.0))


@contextmanager
def connect(options: RayOptions) -> Iterator[Any]:
    """Ray, connected as ``options.address`` says; disconnected after (unless it already was).

    Raises:
        TilewiseError: Ray is not installed, or no cluster answers at the address.
    """
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if options.address is None:
        kwargs["num_cpus"] = options.num_cpus
    try:
        ray.init(address=options.address, **kwargs)
    except (ConnectionError, RuntimeError, TimeoutError, ValueError) as exc:
        raise TilewiseError(
            f"cannot reach a Ray cluster at --address {options.address}: {exc}"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _read_chunk(batch: pa.Table, read: ReadOptions | None) -> pa.Table:
    """Decode a block of images (a Ray task): RGB bytes and size, or the read error."""
    import warnings

    from tilewise.images import read_image

    cols: dict[str, list[Any]] = {name: [] for name in _READ_SCHEMA.names}
    for name, path in zip(
        batch.column("image").to_pylist(), batch.column("path").to_pylist(), strict=True
    ):
        pixels, error = None, None
        stat = file_stat(path)  # before reading: a file changed after it is seen as changed
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pixels = np.ascontiguousarray(read_image(path, read).pixels)
        except Exception as exc:  # recorded for this image; the others go on
            error = f"{type(exc).__name__}: {exc}"
        cols["image"].append(name)
        cols["pixels"].append(None if pixels is None else pixels.tobytes())
        cols["width"].append(0 if pixels is None else int(pixels.shape[1]))
        cols["height"].append(0 if pixels is None else int(pixels.shape[0]))
        cols["error"].append(error)
        cols["source_bytes"].append(None if stat is None else stat[0])
        cols["source_mtime_ns"].append(None if stat is None else stat[1])
    return pa.Table.from_pydict(cols, schema=_READ_SCHEMA)


def _item(row: dict[str, Any]) -> ImageItem:
    pixels, error = row["pixels"], row["error"]
    h, w = row["height"], row["width"]

    def load() -> np.ndarray:
        if error is not None or pixels is None:
            raise _ReadFailedError(error or "no pixels")
        return np.frombuffer(pixels, np.uint8).reshape(h, w, 3)

    size, mtime = row.get("source_bytes"), row.get("source_mtime_ns")
    stat = None if size is None or mtime is None else (int(size), int(mtime))
    return ImageItem(row["image"], load, stat)


class _ReadFailedError(Exception):
    """A read error recorded by the reading task (its text is the reason)."""

    def __str__(self) -> str:
        return str(self.args[0])


class _Predictor:
    """A Ray actor's model: loaded once, then run on chunk after chunk."""

    def __init__(self, model_factory: Callable[[], Any], slicer_options: dict[str, Any]) -> None:
        self.model = model_factory()
        self.slicer = build_slicer(self.model, **slicer_options)
        self.names = list(getattr(self.model, "names", ()) or ())

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        items = [_item(r) for r in rows]
        results = predict_chunk(self.slicer, items)
        results = [  # a read failure keeps the reading task's reason, not the wrapper's
            r if r.stage != "read" else replace(r, reason=r.reason.split(": ", 1)[1])
            for r in results
        ]
        return image_table(results, self.names)


def predict_images(
    images: ImageList | Sequence[tuple[str, str]],
    model_factory: Callable[[], Any],
    *,
    slicer_options: dict[str, Any] | None = None,
    read: ReadOptions | None = None,
    options: RayOptions | None = None,
    chunk: int = 8,
) -> Any:
    """A lazy ``ray.data.Dataset`` of one row per image (``IMAGE_SCHEMA``) with its detections.

    Ray must be initialised (``ray.init`` or ``connect``). Nothing runs until the dataset
    is consumed (``iter_batches``, ``write_parquet``, ``take_all``...).

    Args:
        images: ``tilewise.bulk.list_images(...)`` or ``(name, path)`` pairs.
        model_factory: builds the batch model, once per actor; must pickle (a module
            function, a ``functools.partial`` of one, a class).
        slicer_options: ``build_slicer`` options (``slice_size``, ``overlap``,
            ``batch_size``, ``merge``, ``full_frame``...).
        read: how the reading tasks decode the files.
        options: workers, GPUs and CPUs per worker.
        chunk: images per block (per reading task and per actor call).

    Example:
        >>> import ray, tempfile, pathlib, numpy as np, cv2  # doctest: +SKIP
        >>> ray.init(num_cpus=2)  # doctest: +SKIP
        >>> ds = predict_images(list_images("scenes/"), my_model_factory)  # doctest: +SKIP
        >>> ds.take(1)[0]["status"]  # doctest: +SKIP
        'done'
    """
    ray = _import_ray()
    opts = options or RayOptions()
    if isinstance(images, ImageList):
        pairs = [(n, str(p)) for n, p in zip(images.names, images.paths, strict=True)]
    else:
        pairs = [(str(n), str(p)) for n, p in images]
    chunk = max(1, int(chunk))
    if not pairs:
        return ray.data.from_arrow(IMAGE_SCHEMA.empty_table())
    table = pa.table({"image": [n for n, _ in pairs], "path": [p for _, p in pairs]})
    blocks = [table.slice(k, chunk) for k in range(0, len(table), chunk)]
    ds = ray.data.from_arrow(blocks)
    ds = ds.map_batches(
        _read_chunk,
        batch_size=chunk,
        batch_format="pyarrow",
        fn_kwargs={"read": read},
        num_cpus=opts.read_cpus,
    )
    return ds.map_batches(
        _Predictor,
        batch_size=chunk,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=int(opts.workers)),
        fn_constructor_kwargs={
            "model_factory": model_factory,
            "slicer_options": dict(slicer_options or {}),
        },
        num_cpus=actor_cpus(opts, cluster_cpus(ray)),
        num_gpus=opts.gpus_per_worker or None,
    )


def run_ray(
    images: ImageList,
    model_factory: Callable[[], Any],
    store: RunStore,
    *,
    slicer_options: dict[str, Any] | None = None,
    read: ReadOptions | None = None,
    options: RayOptions | None = None,
    chunk: int = 8,
    progress: Callable[[Progress], None] | None = None,
) -> RunSummary:
    """``--engine ray``: predict the images not yet done in ``store``; finalize the outputs.

    Each block the actors finish is recorded as a part file on the driver as it arrives,
    so an interrupted run keeps every finished block and the next run skips them.

    Raises:
        TilewiseError: Ray is missing or the cluster is unreachable.
    """
    opts = options or RayOptions()
    t0 = time.perf_counter()
    summary, done = resume_summary(images, store, engine="ray")
    todo = [(n, str(p)) for n, p in zip(images.names, images.paths, strict=True) if n not in done]
    finished, detections, failed = summary.skipped, 0, 0
    last = Progress(finished, len(images), 0, 0, 0.0, summary.skipped)
    if todo:
        with connect(opts):
            ds = predict_images(
                todo,
                model_factory,
                slicer_options=slicer_options,
                read=read,
                options=opts,
                chunk=chunk,
            )
            for block in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                if len(block) == 0:
                    continue
                store.write_part(block)
                summary.predicted_now += len(block)
                finished += len(block)
                failed += block.column("status").to_pylist().count("failed")
                detections += sum(len(d) for d in block.column("detections").to_pylist())
                elapsed = time.perf_counter() - t0
                last = Progress(finished, len(images), detections, failed, elapsed, summary.skipped)
                if progress is not None:
                    progress(last)
    summary.seconds = round(time.perf_counter() - t0, 4)
    summary.progress = last.figures()
    return store.finalize(summary)
