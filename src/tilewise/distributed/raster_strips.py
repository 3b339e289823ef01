"""One giant raster across workers: strips of slice rows on Ray actors, one merge.

``predict_raster`` (and ``run_strips``, its form for a slicer and source already open,
which ``tilewise predict RASTER --engine ray|local`` uses) cuts the raster's one slice
grid into horizontal strips of whole rows (``tilewise.slicing.strips``): each strip
reads its slices' union, which overlaps the next strip's by one slice overlap (the
halo), and owns its slices alone. With ``engine="ray"`` the strips are the rows of a
``ray.data.Dataset`` mapped by ``map_batches`` with a stateful class on an
``ActorPoolStrategy``: each actor builds the model once (``model_factory``), opens the
raster once (``source_factory``: the path must be readable from every worker, e.g. a
shared file system or a GDAL ``/vsis3/`` URL) and runs ``run_strip`` on the strips it
gets, windows read one batch ahead on the slicer's prefetch thread. With
``engine="local"`` the same strips run one after another in this process.

The driver gathers every strip's per-slice detections and counts and runs the
slicer's merge once on their union in grid order (``merge_strips``), so the result is
``Slicer.run`` on the whole raster: the same boxes, scores, classes and order, the same
windows skipped and detections dropped, whatever the number of strips or workers.

With a ``StripStore`` (``tilewise.distributed.strip_store``) each finished strip is
recorded in the output folder as it reaches the driver, and a rerun with the same
settings runs only the strips not recorded. A strip whose model call (or whose reading)
fails stops the run with a ``TilewiseError`` naming the strip, its rows and the error;
the strips finished before it stay recorded.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from tilewise.bulk.run import Progress
from tilewise.distributed.ray_engine import (
    RayOptions,
    _import_ray,
    actor_cpus,
    cluster_cpus,
    connect,
)
from tilewise.distributed.strip_store import StripStore
from tilewise.errors import TilewiseError
from tilewise.slicing import SlicedPrediction, Slicer
from tilewise.slicing.strips import (
    Strip,
    StripResult,
    merge_strips,
    plan_strips,
    run_strip,
    slicer_settings,
    strips_for,
)
from tilewise.sources import ImageSource

__all__ = ["StripRun", "predict_raster", "run_strips"]

Engine = Literal["local", "ray"]

_STRIP_SCHEMA = pa.schema(
    [("strip", pa.int64()), ("result", pa.large_binary()), ("error", pa.string())]
)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


EXECUTION_SETTINGS = frozenset({"batch_size", "workers", "pipeline", "contiguous"})
"""Slicer settings that change how a strip runs, not its detections: a resumed run may
change them (a smaller batch after running out of memory), and the strip store does not
record them among the settings a rerun must repeat."""


def _strip_failed(
    strip: Strip, reason: str, store: StripStore | None, failed: Sequence[int] = ()
) -> TilewiseError:
    """The error for a strip that failed: the strip, its rows, the error, what is kept.

    ``failed`` lists every strip that failed in the run, when more than this one did.

    Example:
        >>> from tilewise.slicing import SliceGrid
        >>> strip = plan_strips(SliceGrid((100, 300), 100, 0.2), strips=2)[1]
        >>> str(_strip_failed(strip, "ValueError: boom", None))
        'strip 1 (slice rows 2-3, pixel rows 160-299) failed: ValueError: boom'
        >>> str(_strip_failed(strip, "ValueError: boom", None, [1, 3])).split(": ", 1)[1]
        'ValueError: boom; 2 strips failed: 1, 3'
    """
    r0, r1 = strip.rows
    y0, y1 = strip.window.y, strip.window.y + strip.window.h
    if len(failed) > 1:
        reason += f"; {len(failed)} strips failed: {', '.join(map(str, failed))}"
    kept = ""
    if store is not None:
        kept = f"; the strips finished are recorded in {store.folder}: rerun to resume"
    return TilewiseError(
        f"strip {strip.index} (slice rows {r0}-{r1 - 1}, pixel rows {y0}-{y1 - 1}) failed: "
        f"{reason}{kept}"
    )


@dataclass
class StripRun:
    """A raster run over strips: the whole-run prediction and how the run went.

    Attributes:
        prediction: what ``Slicer.run`` on the whole raster gives.
        engine: ``"local"`` or ``"ray"``.
        workers: model actors (1 for local).
        strips: the strips run, top to bottom.
        seconds: wall time, planning to merge.
        progress: the last progress figures (windows done, detections/s...).
        resumed: strips loaded from the ``StripStore`` (finished by an earlier run).
    """

    prediction: SlicedPrediction
    engine: str
    workers: int
    strips: list[Strip]
    seconds: float
    progress: Progress
    resumed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready account for the run's report.

        Example:
            >>> from tilewise.bulk.run import Progress
            >>> run = StripRun(None, "local", 1, [], 2.0, Progress(8, 8, 40, 0, 2.0, unit="window"))
            >>> run.to_dict()["windows_per_second"], run.to_dict()["detections_per_second"]
            (4.0, 20.0)
        """
        p = self.progress
        return {
            "engine": self.engine,
            "workers": self.workers,
            "strips": len(self.strips),
            "strips_resumed": self.resumed,
            "strip_rows": [list(s.rows) for s in self.strips],
            "halo_px": max((s.halo for s in self.strips), default=0),
            "seconds": round(self.seconds, 4),
            **p.figures(),
        }


class _StripPredictor:
    """A Ray actor: the model and the raster, opened once, then strip after strip.

    A failure (building the model, opening the raster, a strip's reading or model call)
    comes back as the strip's ``error`` so the driver can name the strip; Ray's own
    exception would name neither.
    """

    def __init__(
        self,
        model_factory: Callable[[], Any],
        source_factory: Callable[[], ImageSource],
        settings: dict[str, Any],
    ) -> None:
        self.setup_error: str | None = None
        try:
            self.slicer = Slicer(model_factory(), **settings)
            self.source = source_factory()
        except Exception as exc:
            self.setup_error = (
                f"on its worker, building the model or opening the raster: {_reason(exc)}"
            )

    def _run(self, strip: Strip) -> tuple[bytes | None, str | None]:
        if self.setup_error is not None:
            return None, self.setup_error
        try:
            return pickle.dumps(run_strip(self.slicer, self.source, strip)), None
        except Exception as exc:
            return None, _reason(exc)

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.column("strip").to_pylist()
        runs = [self._run(pickle.loads(b)) for b in batch.column("plan").to_pylist()]
        return pa.Table.from_pydict(
            {"strip": rows, "result": [r for r, _ in runs], "error": [e for _, e in runs]},
            schema=_STRIP_SCHEMA,
        )


def _ray_results(
    plan: list[Strip],
    model_factory: Callable[[], Any],
    source_factory: Callable[[], ImageSource],
    settings: dict[str, Any],
    options: RayOptions,
) -> Iterator[StripResult | tuple[int, str]]:
    """The strips' results as the actors finish them (in no set order).

    A strip that failed comes as ``(strip index, error)``.
    """
    ray = _import_ray()
    table = pa.table(
        {"strip": [s.index for s in plan], "plan": [pickle.dumps(s) for s in plan]},
        schema=pa.schema([("strip", pa.int64()), ("plan", pa.large_binary())]),
    )
    ds = ray.data.from_arrow([table.slice(k, 1) for k in range(len(table))])
    ds = ds.map_batches(
        _StripPredictor,
        batch_size=1,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=int(options.workers)),
        fn_constructor_kwargs={
            "model_factory": model_factory,
            "source_factory": source_factory,
            "settings": settings,
        },
        num_cpus=actor_cpus(options, cluster_cpus(ray), reads=False),
        num_gpus=options.gpus_per_worker or None,
    )
    for block in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        cols = (block.column(c).to_pylist() for c in ("strip", "result", "error"))
        for index, blob, error in zip(*cols, strict=True):
            yield pickle.loads(blob) if error is None else (index, error)


def run_strips(
    slicer: Slicer,
    source: ImageSource,
    *,
    source_factory: Callable[[], ImageSource] | None = None,
    model_factory: Callable[[], Any] | None = None,
    engine: Engine = "ray",
    strips: int | None = None,
    options: RayOptions | None = None,
    progress: Callable[[Progress], None] | None = None,
    store: StripStore | None = None,
) -> StripRun:
    """Run ``slicer`` over ``source`` strip by strip; the result equals ``slicer.run(source)``.

    Args:
        slicer: the driver's slicer (its settings go to the workers; its model runs the
            strips with ``engine="local"``).
        source: the raster, open on the driver (its grid, georeferencing and merge).
        source_factory: opens the same raster in a worker (``engine="ray"``; must
            pickle, e.g. ``functools.partial(RasterSource, path, bands=...)``).
        model_factory: builds the model in a worker (``engine="ray"``; must pickle).
        engine: ``"ray"`` (Ray must be installed; a cluster is joined or started as
            ``options`` says) or ``"local"`` (this process, one strip after another).
        strips: how many strips (default: 4 per worker, at most one per slice row).
        options: workers and resources per worker (``RayOptions``).
        progress: called on the driver as each strip finishes (windows done of the
            grid's, detections, detections/s, ETA).
        store: records each finished strip; the strips it holds from an earlier run
            with the same settings are not run again (``StripStore``).

    Raises:
        TilewiseError: an unknown engine, a factory missing for Ray, a slicer with
            scales or a full-frame pass, an unreachable cluster, a store holding a run
            with other settings, or a strip that failed (named, with its rows and error;
            the strips finished are recorded in ``store``). With ``engine="ray"`` the
            other strips run on after a failure and are recorded; the error names the
            first strip that failed and lists them all. ``"local"`` stops at the
            failed strip.
    """
    if engine not in ("local", "ray"):
        raise TilewiseError(f"engine must be 'local' or 'ray', got {engine!r}")
    opts = options or RayOptions()
    settings = slicer_settings(slicer)  # refuses what strips cannot split, before any work
    t0 = time.perf_counter()
    grid = slicer.grid_for(source.image_wh)
    workers = int(opts.workers) if engine == "ray" else 1
    plan = plan_strips(grid, strips=strips or strips_for(grid, workers))
    state = {"done": 0, "detections": 0}

    def finished(result: StripResult) -> Progress:
        state["done"] += result.windows_done
        state["detections"] += result.detections
        figures = Progress(
            state["done"], len(grid), state["detections"], 0, time.perf_counter() - t0,
            unit="window",
        )  # fmt: skip
        if progress is not None:
            progress(figures)
        return figures

    if engine == "ray" and (source_factory is None or model_factory is None):
        raise TilewiseError("engine='ray' needs source_factory and model_factory")
    last = Progress(0, len(grid), 0, 0, 0.0, unit="window")
    identity = {k: v for k, v in settings.items() if k not in EXECUTION_SETTINGS}
    done = store.claim(identity, plan) if store is not None else {}
    results: list[StripResult] = [done[k] for k in sorted(done)]
    for result in results:
        last = finished(result)
    todo = [s for s in plan if s.index not in done]

    def keep(result: StripResult) -> None:
        nonlocal last
        if store is not None:
            store.record(result)
        results.append(result)
        last = finished(result)

    if engine == "local":
        for strip in todo:
            try:
                result = run_strip(slicer, source, strip)
            except Exception as exc:
                raise _strip_failed(strip, _reason(exc), store) from exc
            keep(result)
    elif todo:
        by_index = {s.index: s for s in todo}
        failures: dict[int, str] = {}
        with connect(opts):
            try:  # a failed strip does not stop the others: each one finished is kept
                for got in _ray_results(todo, model_factory, source_factory, settings, opts):  # type: ignore[arg-type]
                    if isinstance(got, tuple):
                        failures[got[0]] = got[1]
                    else:
                        keep(got)
            except TilewiseError:
                raise
            except Exception as exc:
                raise TilewiseError(
                    f"the Ray strip run stopped after {len(results)} of {len(plan)} "
                    f"strip(s): {_reason(exc)}"
                ) from exc
        if failures:
            first = min(failures)
            raise _strip_failed(by_index[first], failures[first], store, sorted(failures))
    prediction = merge_strips(slicer, source, results, t_start=t0)
    seconds = time.perf_counter() - t0
    return StripRun(prediction, engine, workers, plan, seconds, last, resumed=len(done))


def predict_raster(
    path: str,
    model_factory: Callable[[], Any],
    *,
    source_options: dict[str, Any] | None = None,
    slicer_options: dict[str, Any] | None = None,
    engine: Engine = "ray",
    strips: int | None = None,
    options: RayOptions | None = None,
    progress: Callable[[Progress], None] | None = None,
    store: StripStore | None = None,
) -> StripRun:
    """Detect over a raster with its strips spread over workers; equal to the local run.

    Args:
        path: the raster (``tilewise.sources.raster.RasterSource``; every worker must
            be able to open it at this path).
        model_factory: builds the model (once on the driver, once per actor); must pickle.
        source_options: ``RasterSource`` keyword arguments (``bands``, ``value_range``,
            ``percentiles``, ``nodata``).
        slicer_options: ``Slicer`` keyword arguments (``slice_wh``, ``overlap``,
            ``batch_size``, ``merge``, ``min_valid``...).
        engine: ``"ray"`` or ``"local"``.
        strips: how many strips (default: 4 per worker).
        options: the Ray cluster and workers.
        progress: called on the driver as each strip finishes.
        store: records each finished strip and resumes from it (``StripStore``; e.g.
            ``StripStore(out_dir, {"raster": raster_fingerprint(path)})``).

    Returns:
        ``StripRun``: ``.prediction`` is what ``Slicer(model, **slicer_options).run(
        RasterSource(path, **source_options))`` gives.

    Example:
        >>> options = RayOptions(workers=4)
        >>> run = predict_raster("scene.tif", my_factory, options=options)  # doctest: +SKIP
        >>> run.prediction.detections.to_geodataframe().to_file("scene.gpkg")  # doctest: +SKIP
    """
    import functools

    from tilewise.sources.raster import RasterSource

    source_factory = functools.partial(RasterSource, path, **(source_options or {}))
    slicer = Slicer(model_factory(), **(slicer_options or {}))
    with source_factory() as source:
        return run_strips(
            slicer, source, source_factory=source_factory, model_factory=model_factory,
            engine=engine, strips=strips, options=options, progress=progress, store=store,
        )  # fmt: skip
