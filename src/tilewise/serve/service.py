"""The detection service without HTTP: a ``Slicer`` per request over one shared batcher.

A request is run by the library's own ``Slicer`` with the request's settings, so slicing,
the shift to image coordinates, the drops and the merge are exactly ``Slicer.run``'s (and
so ``tilewise predict``'s). Only its model is different: a per-request stand-in that puts
the slices of each batch into the shared ``DynamicBatcher`` queue and waits for their
outputs, which the batcher computes in model calls shared with other requests. The
stand-in then applies the request's ``conf`` and ``classes`` to each slice's detections
before the Slicer merges them. The answer is the JSON document ``tilewise predict IMAGE``
writes (``tilewise.detections.pixel_json``), plus the grid, the timings and the batches.
"""

from __future__ import annotations

import copy
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from tilewise.detections import Detections
from tilewise.detections.pixel_json import detections_json
from tilewise.errors import TilewiseError
from tilewise.images import as_rgb
from tilewise.serve.batcher import DynamicBatcher, Submission
from tilewise.serve.config import ServeConfig
from tilewise.serve.errors import Refusal, ServeError
from tilewise.serve.metrics import ServeMetrics
from tilewise.serve.params import DetectParams, params_from_config, parse_params
from tilewise.serve.upload import clean_filename, read_upload, record_dict, save_upload
from tilewise.serve.zoom_batchers import ZoomBatchers
from tilewise.slicing import BatchModel, SliceGrid, Slicer
from tilewise.slicing.confidence import keep_confident
from tilewise.slicing.config import SlicerConfig
from tilewise.slicing.zoom import zoomed_wh, zooms_input

__all__ = ["DetectionService", "Ticket"]


class Ticket:
    """One admitted request: its deadline and the submissions to drop if it gives up.

    Args:
        timeout_s: seconds from now until the deadline.
    """

    def __init__(self, timeout_s: float) -> None:
        self.admitted = time.perf_counter()
        self.deadline = self.admitted + float(timeout_s)
        self.cancelled = False
        self.submissions: list[Submission] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        """Seconds left until the deadline (may be negative)."""
        return self.deadline - time.perf_counter()

    def cancel(self) -> None:
        """Give up: queued slices of this request are dropped, waiting calls end."""
        with self._lock:
            self.cancelled = True
            for sub in self.submissions:
                sub.cancel()

    def track(self, sub: Submission) -> None:
        """Remember a submission (dropped at once if the request already gave up)."""
        with self._lock:
            self.submissions.append(sub)
            if self.cancelled:
                sub.cancel()


def _deadline_error(timeout_s: float) -> ServeError:
    return ServeError(
        Refusal.DEADLINE_EXCEEDED,
        f"the request did not finish within this server's deadline of {timeout_s:g} s; "
        "try a larger slice, a smaller overlap or a smaller image, or retry later",
    )


class _RequestModel:
    """The model a request's Slicer calls: the shared batcher, then conf/classes filters.

    Over a model that zooms its own input (``zooms``), ``with_input_zoom`` gives the
    stand-in of that zoom's batcher, as ``zoomed`` gives the real model's zoomed copy; the
    request holds each zoom's batcher until ``release``.
    """

    def __init__(
        self,
        batcher: DynamicBatcher,
        params: DetectParams,
        ticket: Ticket,
        timeout_s: float,
        imgsz: Any = None,
        zooms: ZoomBatchers | None = None,
    ) -> None:
        self.batcher = batcher
        self.imgsz = imgsz  # the real model's input size, for the report's model scale
        self.conf = params.conf
        self.classes = None if params.classes is None else np.asarray(params.classes)
        self.ticket = ticket
        self.timeout_s = timeout_s
        self.submissions: list[Submission] = []
        self.zooms = zooms
        self.zooms_input = zooms is not None
        self.held_zooms: list[float] = []

    def with_input_zoom(self, zoom: float) -> _RequestModel:
        """This request's stand-in on ``zoom``'s batcher (submissions and holds shared)."""
        if self.zooms is None:
            raise TilewiseError("this server's model does not zoom its own input")
        batcher = self.zooms.acquire(zoom)
        self.held_zooms.append(zoom)
        child = copy.copy(self)  # shares the submissions and held_zooms lists
        child.batcher = batcher
        return child

    def release(self) -> None:
        """Give back every zoom batcher this request held."""
        if self.zooms is not None:
            for zoom in self.held_zooms:
                self.zooms.release(zoom)
        self.held_zooms.clear()

    def _keep(self, det: Detections) -> Detections:
        det = keep_confident(det, self.conf)  # predict's rule for every model kind
        if self.classes is None or not len(det):
            return det
        keep = np.isin(det.class_id, self.classes)
        return det if keep.all() else det[keep]

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        if self.ticket.cancelled or self.ticket.remaining() <= 0:
            raise _deadline_error(self.timeout_s)
        sub = self.batcher.submit(images)
        self.ticket.track(sub)
        self.submissions.append(sub)
        try:
            outputs = sub.wait(max(self.ticket.remaining(), 0.0))
        except TimeoutError:
            sub.cancel()
            raise _deadline_error(self.timeout_s) from None
        return [self._keep(det) for det in outputs]


class DetectionService:
    """Sliced detection for many concurrent requests, batched across requests.

    Args:
        model: a batch model (``OnnxDetector``, or any callable on a list of RGB images
            returning one ``Detections`` per image). An ONNX model should be loaded with
            ``conf=config.min_conf``: requests filter at their own ``conf``.
        config: batching and limits.
        model_name: what answers record as the model (default: the model's type).
        preset: a slicer config (``tilewise.slicing.SlicerConfig``, or its file, e.g.
            written by ``tilewise tune``): every request runs its settings, as
            ``tilewise predict --config`` does, and may set only ``conf`` and
            ``classes``. Refused at start when made for another model or when requests
            cannot express it (``params_from_config``).

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> def model(images):  # one 10x10 box in the middle of every slice
        ...     return [Detections(np.array([[27, 27, 37, 37]]), [0.9]) for _ in images]
        >>> service = DetectionService(model, ServeConfig(max_batch=4))
        >>> image = np.zeros((64, 128, 3), np.uint8)
        >>> with service:
        ...     doc = service.detect(image, {"slice": "64", "overlap": "0"})
        >>> doc["slices"], doc["count"], doc["detections"][1]["xyxy"]
        (2, 2, [91.0, 27.0, 101.0, 37.0])
    """

    def __init__(
        self,
        model: BatchModel,
        config: ServeConfig | None = None,
        *,
        model_name: str | None = None,
        preset: SlicerConfig | str | os.PathLike[str] | None = None,
    ) -> None:
        if not callable(model):
            raise TilewiseError(f"model must be callable, got {type(model).__name__}")
        self.model = model
        self.config = config or ServeConfig()
        self.preset: SlicerConfig | None = None
        self.preset_params: DetectParams | None = None
        self._preset_kwargs: dict[str, Any] = {}  # the config's Slicer arguments, execution aside
        if preset is not None:
            self.preset = preset if isinstance(preset, SlicerConfig) else SlicerConfig.load(preset)
            self.preset.check_model(model)
            self.preset_params = params_from_config(self.preset.settings, self.config)
            self._preset_kwargs = {
                k: v
                for k, v in self.preset.slicer_kwargs().items()
                if k not in ("batch_size", "workers", "pipeline")
            }
        self.model_name = model_name or type(model).__name__
        self.names: tuple[str, ...] = tuple(getattr(model, "names", ()) or ())
        wh = getattr(model, "slice_wh", None)
        self.default_slice: tuple[int, int] = (int(wh[0]), int(wh[1])) if wh else (640, 640)
        cfg = self.config
        self._inflight = 0
        self._lock = threading.Lock()
        self._draining = False
        self.metrics = ServeMetrics(
            cfg.max_batch,
            gauges={
                "tilewise_serve_queue_depth": (
                    "Slices waiting for a model batch.",
                    self.queue_depth,
                ),
                "tilewise_serve_in_flight": ("Requests admitted and not answered.", self.inflight),
                "tilewise_serve_ready": (
                    "1 when the model is loaded and taking requests.",
                    self.ready,
                ),
                "tilewise_serve_max_batch": ("The batcher's max_batch.", lambda: cfg.max_batch),
                "tilewise_serve_input_zoom_evictions": (
                    "Idle input-zoom batchers closed to make way for a new zoom.",
                    lambda: self.zooms.evicted if self.zooms is not None else 0,
                ),
            },
        )
        self.batcher = self._batcher(model)
        self.zooms = (
            ZoomBatchers(model, self._batcher, cfg.max_input_zooms, retry_after_s=cfg.retry_after_s)
            if zooms_input(model)
            else None
        )
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def _batcher(self, model: BatchModel) -> DynamicBatcher:
        cfg = self.config
        return DynamicBatcher(
            model,
            max_batch=cfg.max_batch,
            max_delay_s=cfg.max_delay_ms / 1000.0,
            workers=cfg.workers,
            cross_request=cfg.cross_request,
            observer=self.metrics.batch,
        )

    def queue_depth(self) -> int:
        """Slices waiting for a model batch (every input zoom's batcher included)."""
        zoomed = self.zooms.queue_depth if self.zooms is not None else 0
        return self.batcher.queue_depth + zoomed

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> DetectionService:
        """Start the batcher; the service is ready."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tilewise-serve-")
        self._draining = False
        self.batcher.start()
        return self

    def drain(self) -> None:
        """Stop admitting requests (503 ``shutting_down``); admitted ones still finish."""
        self._draining = True

    def close(self) -> None:
        """Drain, run what is queued, stop the batcher and remove temporary files."""
        self.drain()
        self.batcher.close()
        if self.zooms is not None:
            self.zooms.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> DetectionService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ready(self) -> bool:
        """Whether requests are taken (model loaded, batcher running, not draining)."""
        return self.batcher.running and not self._draining

    def inflight(self) -> int:
        """Requests admitted and not yet answered."""
        return self._inflight

    # ------------------------------------------------------------------ admission
    def admit(self) -> Ticket:
        """Admit a request, or refuse it: 503 when ``max_inflight`` are in flight or draining.

        Every admitted ticket must be given back with ``release``.
        """
        cfg = self.config
        with self._lock:
            if self._draining or not self.batcher.running:
                raise ServeError(
                    Refusal.SHUTTING_DOWN,
                    "the server is shutting down; retry on another instance or later",
                    retry_after=cfg.retry_after_s,
                )
            if self._inflight >= cfg.max_inflight:
                raise ServeError(
                    Refusal.OVERLOADED,
                    f"the server is at its limit of {cfg.max_inflight} requests in flight; "
                    f"retry after {cfg.retry_after_s} s",
                    retry_after=cfg.retry_after_s,
                )
            self._inflight += 1
        return Ticket(cfg.timeout_s)

    def release(self, ticket: Ticket) -> None:
        """Give back an admitted request's slot (after its answer); drops leftover slices."""
        ticket.cancel()
        with self._lock:
            self._inflight -= 1

    # ------------------------------------------------------------------ detection
    def params(self, form: Mapping[str, str | None]) -> DetectParams:
        """Parse a request's form fields (422 ``invalid_parameter`` when wrong)."""
        return parse_params(form, self.config, self.names, self.preset_params)

    def detect_upload(
        self,
        upload: IO[bytes],
        filename: str | None,
        params: DetectParams | Mapping[str, str | None],
        ticket: Ticket | None = None,
    ) -> dict[str, Any]:
        """Detect in an uploaded file: saved under the size limit, read by the one reader.

        Raises:
            ServeError: the upload is too large, not an accepted image, over the pixel
                limit, truncated or corrupt; or the parameters are invalid.
        """
        if not isinstance(params, DetectParams):
            params = self.params(params)
        name = clean_filename(filename)
        if self._tmp is None:
            raise ServeError(Refusal.SHUTTING_DOWN, "the service is not started", retry_after=1)
        t0 = time.perf_counter()
        with tempfile.NamedTemporaryFile(dir=self._tmp.name, suffix=".upload") as tmp:
            path = Path(tmp.name)
            save_upload(upload, path, self.config.max_upload_bytes)
            loaded = read_upload(path, name, self.config.read_options)
        read_seconds = time.perf_counter() - t0
        return self.detect(
            loaded.pixels,
            params,
            image=name,
            image_read=record_dict(loaded, name),
            truncated=loaded.record.truncated,
            ticket=ticket,
            read_seconds=read_seconds,
        )

    def slicer(self, params: DetectParams, model: BatchModel | None = None) -> Slicer:
        """The ``Slicer`` a request with these settings runs (on ``model``, default the real one).

        ``tilewise predict`` builds the same one from the same settings (with a
        ``preset``: from the same config).
        """
        if self.preset is not None:  # the config's slicer, run on this service's batches
            batch = self.config.max_batch
            return Slicer(model or self.model, batch_size=batch, **self._preset_kwargs)
        size = params.slice
        slice_wh = (size, size) if size else self.default_slice
        return Slicer(
            model or self.model,
            slice_wh=slice_wh,
            overlap=params.overlap,
            batch_size=self.config.max_batch,
            merge=params.merge,
            threshold=params.threshold,
            metric=params.metric,
            class_agnostic=params.class_agnostic,
            full_frame=params.full_frame,
            zoom=params.zoom,
            scales=params.scales,
        )

    def _check_inputs(self, slicer: Slicer, params: DetectParams, w: int, h: int) -> SliceGrid:
        """Refuse a request whose model inputs exceed the limits, before running it.

        Returns:
            The grid of the single-scale run, or of the first scale.
        """
        cfg = self.config
        if params.scales is None:
            passes = [(slicer.grid_for((w, h)), params.zoom, False)]
        else:
            passes = [
                (scale.grid((w, h), params.overlap), scale.zoom, scale.slice_wh is None)
                for scale in params.scales
            ]
        wanted = sum(len(grid) for grid, _, _ in passes) + int(params.full_frame)
        if wanted > cfg.max_slices:
            grid = passes[0][0]
            setting = (
                f"slice {grid.slice_wh[0]} px and overlap {params.overlap:g}"
                if params.scales is None
                else f"{len(passes)} scales"
            )
            raise ServeError(
                Refusal.TOO_MANY_SLICES,
                f"a {w}x{h} image at {setting} needs {wanted} model inputs, over this "
                f"server's limit of {cfg.max_slices}; use a larger slice or a smaller overlap",
            )
        for grid, zoom, whole in passes:
            side_w, side_h = min(grid.slice_wh[0], w), min(grid.slice_wh[1], h)
            zw, zh = zoomed_wh((side_w, side_h), zoom)
            if whole and zw * zh > cfg.max_pixels:
                raise ServeError(
                    Refusal.INVALID_PARAMETER,
                    f"zoom {zoom:g} makes the {w}x{h} frame {zw}x{zh} px, over this server's "
                    f"limit of {cfg.max_pixels} pixels",
                )
            if not whole and max(zw, zh) > cfg.max_slice:
                raise ServeError(
                    Refusal.INVALID_PARAMETER,
                    f"zoom {zoom:g} makes {side_w}x{side_h} px slices "
                    f"{zw}x{zh} px, over this server's max_slice of {cfg.max_slice} px",
                )
        return passes[0][0]

    def detect(
        self,
        rgb: np.ndarray,
        params: DetectParams | Mapping[str, str | None],
        *,
        image: str = "image",
        image_read: dict[str, Any] | None = None,
        truncated: bool = False,
        ticket: Ticket | None = None,
        read_seconds: float = 0.0,
    ) -> dict[str, Any]:
        """Detect in an RGB array; the JSON document ``tilewise predict IMAGE`` writes.

        Args:
            rgb: H x W x 3 uint8 RGB pixels.
            params: the settings, or form fields to parse.
            image: the name recorded as ``image``.
            image_read: the read record (``image_read``), when read from a file.
            truncated: whether the file was truncated (read anyway).
            ticket: the admitted request (default: a fresh one with the config's deadline).
            read_seconds: time spent saving and reading the upload (for ``timings``).

        Raises:
            ServeError: invalid parameters, too many slices, deadline exceeded, the model
                failed, or the service is shutting down.
        """
        if not isinstance(params, DetectParams):
            params = self.params(params)
        cfg = self.config
        ticket = ticket or Ticket(cfg.timeout_s)
        pixels = as_rgb(rgb)
        h, w = pixels.shape[:2]
        imgsz = getattr(self.model, "imgsz", None)
        proxy = _RequestModel(self.batcher, params, ticket, cfg.timeout_s, imgsz, self.zooms)
        slicer = self.slicer(params, proxy)
        grid = self._check_inputs(slicer, params, w, h)
        try:
            run = slicer.run(pixels)
        finally:
            proxy.release()
        report = run.report
        t = report.timings
        subs = proxy.submissions
        sizes = [s for sub in subs for s in sub.batch_sizes]
        header: dict[str, Any] = {
            "image": image,
            "image_wh": [w, h],
            "truncated": truncated,
            "image_read": image_read,
            "model": self.model_name,
            "slice_wh": list(grid.slice_wh),
            "overlap": params.overlap,
            "merge": params.merge.value,
            "full_frame": params.full_frame,
            "zoom": slicer.zoom,
            "model_scale": report.model_scale,
            "scales": [s.to_dict() for s in report.scales] or None,
            "slices": report.slices,
            "seconds": round(t.total, 4),
            "metric": params.metric.value,
            "threshold": params.threshold,
            "class_agnostic": params.class_agnostic,
            "conf": params.conf,
            "classes": None if params.classes is None else list(params.classes),
            "grid": grid.boxes.tolist(),
            "batching": {
                "max_batch": cfg.max_batch,
                "cross_request": cfg.cross_request,
                "model_calls": len(sizes),
                "batch_sizes": sizes,
                "shared_batches": sum(sub.shared_batches for sub in subs),
            },
            "timings": {
                "read": round(read_seconds, 4),
                "slicing": round(t.slicing, 4),
                "queue": round(sum(sub.queue_seconds for sub in subs), 4),
                "model": round(sum(sub.model_seconds for sub in subs), 4),
                "postprocess": round(t.postprocess, 4),
                "merge": round(t.merge, 4),
                "sliced_total": round(t.total, 4),
                "total": round(time.perf_counter() - ticket.admitted, 4),
            },
        }
        return detections_json(run.detections, self.names, **header)
