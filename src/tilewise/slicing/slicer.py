"""The batched sliced-inference engine."""

from __future__ import annotations

import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np

from tilewise.boxes import Metric, MetricLike
from tilewise.detections import Detections
from tilewise.errors import ModelOutputError, TilewiseError, TilewiseWarning
from tilewise.images import ImageLike, ReadOptions
from tilewise.masks import CompactMasks
from tilewise.masks.store import pixel_rects
from tilewise.merge import (
    MaskOverlap,
    MaskOverlapLike,
    MergeMethod,
    MergeResult,
    merge_detections,
)
from tilewise.slicing.batches import SliceBatch, iter_batches, prefetch
from tilewise.slicing.grid import OverlapLike, SizeLike, SliceGrid, positive_int
from tilewise.slicing.model import BatchModel, check_model_outputs, is_staged
from tilewise.slicing.report import SlicedPrediction, SliceReport
from tilewise.slicing.scales import Scale, ScaleLike, ScaleStats, parse_scales
from tilewise.slicing.zoom import check_zoom, model_scale, zoomed
from tilewise.sources import Frame, FrameSource, ImageSource, Window, as_source

if TYPE_CHECKING:
    from os import PathLike

    from tilewise.slicing.config import SlicerConfig
    from tilewise.slicing.stream import StreamedFrame

__all__ = ["Slicer"]

FULL_FRAME = -1
"""``raw_slice_index`` of detections from the full-frame pass."""

_BatchOutput: TypeAlias = tuple[SliceBatch, list[Detections], float, float]
"""A batch, its Detections, seconds in the model (or its forward) and in its finish stage."""


def _slice_wh(grid: SliceGrid) -> tuple[int, int]:
    """The size of a grid's slices (the image's, along an axis where it is smaller)."""
    x1, y1, x2, y2 = (int(v) for v in grid.boxes[0])
    return x2 - x1, y2 - y1


def _outside_slice(xyxy: np.ndarray, w: int, h: int) -> np.ndarray:
    """Boxes reaching beyond their slice by more than 5 % of its size (plus 1 px)."""
    tol_x, tol_y = 0.05 * w + 1.0, 0.05 * h + 1.0
    return (
        (xyxy[:, 0] < -tol_x)
        | (xyxy[:, 1] < -tol_y)
        | (xyxy[:, 2] > w + tol_x)
        | (xyxy[:, 3] > h + tol_y)
    )


def _centre_on_nodata(xyxy: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Boxes whose centre pixel is invalid in ``valid`` (h x w bool, the slice's mask)."""
    h, w = valid.shape
    cx = np.clip(np.floor((xyxy[:, 0] + xyxy[:, 2]) * 0.5), 0, w - 1).astype(np.int64)
    cy = np.clip(np.floor((xyxy[:, 1] + xyxy[:, 3]) * 0.5), 0, h - 1).astype(np.int64)
    return ~valid[cy, cx]


def _touches_inner_edge(
    xyxy: np.ndarray, w: int, h: int, inner: np.ndarray, margin: float
) -> np.ndarray:
    """Boxes within ``margin`` px of a slice side that lies inside the image."""
    left, top, right, bottom = (bool(v) for v in inner)
    hit = np.zeros(len(xyxy), dtype=bool)
    if left:
        hit |= xyxy[:, 0] <= margin
    if top:
        hit |= xyxy[:, 1] <= margin
    if right:
        hit |= xyxy[:, 2] >= w - margin
    if bottom:
        hit |= xyxy[:, 3] >= h - margin
    return hit


class Slicer:
    """Sliced inference: cut, detect in batches, shift back, merge duplicates.

    The image is cut by a ``SliceGrid``; slices are read-only *views* of the image (no
    copies), grouped into batches of ``batch_size``, and the model is called once per
    batch while the next batch is prepared. Detections are shifted into image
    coordinates, non-finite ones are dropped (counted, warned), optional inner-edge
    truncations are dropped (counted), and the rest are merged. The result is the same
    whatever ``batch_size`` or ``workers``: outputs are gathered in slice order.

    Args:
        model: a callable taking a *list* of H x W x 3 uint8 RGB images and returning a
            list with one ``Detections`` per image, in that image's pixel coordinates
            (see ``tilewise.slicing.batched`` to wrap a one-image callable).
        slice_wh: slice size in pixels, int or (w, h).
        overlap: float in [0, 1) as a ratio of the slice size, or int pixels; or a pair.
        batch_size: slices per model call.
        workers: threads calling the model concurrently (for CPU-bound models that
            release the GIL); outputs are merged in slice order regardless.
        merge: ``"nms"``, ``"nmm"``, ``"greedy_nmm"``, ``"wbf"`` or ``"none"``.
        threshold: overlap threshold of the merge.
        metric: ``"iou"`` or ``"ios"`` (intersection over the smaller box).
        class_agnostic: merge across classes.
        full_frame: also run the model once on the whole image and merge its detections
            with the slices', so large objects that slices cut apart are found whole.
        edge_margin: when set (pixels), drop slice detections within this margin of a
            slice side that lies inside the image: truncated pieces of objects that a
            neighbouring slice (if the overlap exceeds the object) or the full frame sees
            whole. Use it with ``full_frame=True`` or an overlap larger than your objects.
        progress: show a progress bar over slices.
        contiguous: give the model C-contiguous copies of the slices instead of views
            (for models that need contiguous memory); copies are made one batch ahead.
        mask_overlap: with masks, merge on ``"mask"`` overlap (exact: mask IoU/IoS over
            crop intersections) or on ``"box"`` overlap then union the masks (faster).
        pipeline: when the model is a ``StagedModel`` (``prepare`` / ``forward`` /
            ``finish``, like ``OnnxDetector``), overlap the stages across batches: batch
            k+1 is prepared on the prefetch thread and batch k-1 decoded while batch k
            runs. Results are the same either way. ``"auto"`` (default) pipelines unless
            the model reports ``on_cpu`` (its forward already keeps every core busy, and
            the extra threads only compete: on 2 cores, pipelining an ONNX Runtime CPU
            model measured -6 % to +3 %, i.e. no gain); True always, False never.
        read: how image *files* are read (``tilewise.images.ReadOptions``: EXIF
            orientation, truncated files, 16-bit/float scaling, alpha, pixel limit);
            default: as viewers show them. ``last_report.image`` records each read.
        min_valid: with a source that has a valid-data mask (a raster's nodata, or
            ``ArraySource(valid=...)``), windows whose valid fraction is under this are
            skipped; windows with no valid pixel are always skipped. Both are counted in
            ``last_report.windows`` and never sent to the model; detections whose centre
            lies on invalid pixels are dropped (``last_report.dropped_nodata``).
        zoom: resize every slice by this factor before the model (> 0; e.g. 1.5 to help a
            model with objects too small for it at native scale); boxes and masks are
            scaled back exactly (``tilewise.slicing.zoom``). Works with any model; a staged
            model's ``prepare`` sees the zoomed slices. A model that resizes its input
            itself composes with it: ``OnnxDetector`` letterboxes every image to its input
            size, so there the slice size alone sets the scale the network sees (a 320 px
            slice into a 640 px graph is 2x already); ``last_report.model_scale`` says it.
            The full-frame pass is not zoomed. 1.0 (default) runs exactly as without it.
        scales: multi-scale slicing: a list of ``tilewise.slicing.Scale`` or
            ``(slice_wh, zoom)`` / ``(slice_wh, zoom, min_size, max_size)`` tuples (a
            ``slice_wh`` of None is one image-sized slice). Every scale's grid is cut and
            run, each keeping only detections whose size (sqrt of box area, image px) is
            in ``[min_size, max_size)``, and all are fused by one merge (with the
            full-frame pass if ``full_frame``). Replaces ``slice_wh`` and ``zoom``. Raw
            detections carry ``data["scale"]`` (the scale's index, -1 for the full
            frame), ``raw_slice_index`` numbers the slices of all scales in order, and
            ``last_report.scales`` counts each scale's slices, detections and survivors.

    Sources: ``run`` takes an RGB array, an image path or any ``tilewise.sources.
    ImageSource`` (e.g. ``RasterSource`` for GeoTIFFs), whose windows are read one batch
    ahead on the prefetch thread; a georeferenced source's ``georef`` is set on the
    detections.

    Masks: a model may return masks with its Detections, as a dense (N, h, w) bool array
    of the image it was given or as ``tilewise.masks.CompactMasks``. Dense masks are
    compacted per slice and moved into image coordinates as crops, never as image-sized
    arrays. Masks at another size than the image the model saw (e.g. a full-frame pass
    returning masks at the model's input size) are scaled to it, nearest neighbour,
    crop by crop; their aspect ratio must match within a pixel. Mask pixels outside
    their detection's box are cut off and detections left without mask pixels are
    dropped, both counted in the report. Merging then uses
    ``tilewise.merge.masks_masked_detections`` (``"wbf"`` is refused with masks).

    With a single slice and no full-frame pass, merging is skipped and the model's own
    output is returned unchanged (within one slice, deduplication is the model's job).

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections, Slicer
        >>> def model(images):  # one 10x10 box in the middle of every slice
        ...     out = []
        ...     for im in images:
        ...         h, w = im.shape[:2]
        ...         out.append(Detections(np.array([[w / 2 - 5, h / 2 - 5, w / 2 + 5, h / 2 + 5]])))
        ...     return out
        >>> slicer = Slicer(model, slice_wh=64, overlap=0.25, batch_size=4)
        >>> det = slicer(np.zeros((100, 160, 3), np.uint8))
        >>> len(det), slicer.last_report.slices
        (6, 6)
    """

    def __init__(
        self,
        model: BatchModel,
        slice_wh: SizeLike = 640,
        overlap: OverlapLike = 0.2,
        batch_size: int = 1,
        workers: int = 1,
        merge: MergeMethod | str = "nms",
        threshold: float = 0.5,
        metric: MetricLike = "iou",
        class_agnostic: bool = False,
        full_frame: bool = False,
        edge_margin: float | None = None,
        progress: bool = False,
        contiguous: bool = False,
        mask_overlap: MaskOverlapLike = "mask",
        pipeline: bool | Literal["auto"] = "auto",
        read: ReadOptions | None = None,
        min_valid: float = 0.0,
        zoom: float = 1.0,
        scales: Sequence[ScaleLike] | None = None,
    ) -> None:
        if not callable(model):
            raise TilewiseError(f"model must be callable, got {type(model).__name__}")
        self.model = model
        self.slice_wh = slice_wh
        self.overlap = overlap
        probe = slice_wh if isinstance(slice_wh, (tuple, list)) else (slice_wh, slice_wh)
        SliceGrid(probe, slice_wh, overlap)  # validates sizes and overlap now, not per call
        self.batch_size = positive_int(batch_size, "batch_size")
        self.workers = positive_int(workers, "workers")
        self.merge = MergeMethod.parse(merge)
        if not 0.0 <= float(threshold) <= 1.0:
            raise TilewiseError(f"threshold must be in [0, 1], got {threshold}")
        self.threshold = float(threshold)
        self.metric = Metric.parse(metric)
        self.class_agnostic = bool(class_agnostic)
        self.full_frame = bool(full_frame)
        if edge_margin is not None and (
            isinstance(edge_margin, bool) or not np.isfinite(edge_margin) or edge_margin < 0
        ):
            raise TilewiseError(f"edge_margin must be None or a number >= 0, got {edge_margin!r}")
        self.edge_margin = None if edge_margin is None else float(edge_margin)
        self.progress = bool(progress)
        self.contiguous = bool(contiguous)
        self.mask_overlap = MaskOverlap.parse(mask_overlap)
        if pipeline != "auto" and not isinstance(pipeline, bool):
            raise TilewiseError(f"pipeline must be True, False or 'auto', got {pipeline!r}")
        self.pipeline: bool | Literal["auto"] = pipeline
        if read is not None and not isinstance(read, ReadOptions):
            raise TilewiseError(f"read must be ReadOptions or None, got {type(read).__name__}")
        self.read = read or ReadOptions()
        if isinstance(min_valid, bool) or not 0.0 <= float(min_valid) <= 1.0:
            raise TilewiseError(f"min_valid must be a fraction in [0, 1], got {min_valid!r}")
        self.min_valid = float(min_valid)
        self.zoom = check_zoom(zoom)
        self.scales: tuple[Scale, ...] | None = parse_scales(scales)
        if self.scales is not None and self.zoom != 1.0:
            raise TilewiseError("give the zoom of each scale in scales, not zoom=, with scales")
        self.last_report: SliceReport | None = None
        self._warned_outside = False

    def __repr__(self) -> str:
        return (
            f"Slicer(slice_wh={self.slice_wh}, overlap={self.overlap}, "
            f"batch_size={self.batch_size}, workers={self.workers}, merge={self.merge.value}, "
            f"threshold={self.threshold}, metric={self.metric.value}, "
            f"class_agnostic={self.class_agnostic}, full_frame={self.full_frame}, "
            f"edge_margin={self.edge_margin}, mask_overlap={self.mask_overlap.value}, "
            f"pipeline={self.pipeline}"
            + (f", zoom={self.zoom:g}" if self.zoom != 1.0 else "")
            + (f", scales=[{'; '.join(s.describe() for s in self.scales)}]" if self.scales else "")
            + ")"
        )

    def __call__(self, image: ImageLike | ImageSource) -> Detections:
        """Run sliced inference on an RGB array, an image path or a source; merged Detections."""
        return self.run(image).detections

    def grid_for(self, image_wh: tuple[int, int]) -> SliceGrid:
        """The slice grid this slicer uses for an image of the given size.

        Example:
            >>> from tilewise import Slicer
            >>> len(Slicer(lambda ims: [], slice_wh=640, overlap=0.2).grid_for((3840, 2160)))
            32
        """
        return SliceGrid(image_wh, self.slice_wh, self.overlap)

    def _passes(self, image_wh: tuple[int, int]) -> list[tuple[Scale | None, SliceGrid]]:
        """The slice grids of one image: the slicer's own, or one per scale."""
        if self.scales is None:
            return [(None, self.grid_for(image_wh))]
        return [(scale, scale.grid(image_wh, self.overlap)) for scale in self.scales]

    @classmethod
    def from_config(
        cls,
        model: BatchModel,
        config: SlicerConfig | Mapping[str, Any] | str | PathLike[str],
        **overrides: Any,
    ) -> Slicer:
        """A Slicer with the settings of a config file (e.g. written by ``tilewise tune``).

        The config's model signature (class names, input size), when it has one, must
        match ``model``'s; ``overrides`` replace settings (e.g. ``batch_size``).

        Raises:
            TilewiseError: unreadable file, unknown settings, or a config made for a model
                whose classes or input size differ (the difference is named).

        Example:
            >>> s = Slicer.from_config(lambda ims: [], {"settings": {"slice_wh": 256, "zoom": 1.5}})
            >>> s.slice_wh, s.zoom
            (256, 1.5)
        """
        from tilewise.slicing.config import SlicerConfig

        cfg = config if isinstance(config, SlicerConfig) else SlicerConfig.load(config)
        cfg.check_model(model)
        return cls(model, **{**cfg.slicer_kwargs(), **overrides})

    # ------------------------------------------------------------------ pipeline
    def _call_model(
        self, images: list[np.ndarray], model: BatchModel | None = None
    ) -> tuple[list[Detections], float]:
        t0 = time.perf_counter()
        outputs = (model or self.model)(images)
        seconds = time.perf_counter() - t0
        return check_model_outputs(outputs, len(images)), seconds

    @property
    def staged(self) -> bool:
        """Whether the model's stages are pipelined (see ``pipeline``).

        Example:
            >>> import tempfile, pathlib
            >>> from tilewise.models import OnnxDetector
            >>> from tilewise.models.testing import constant_detector_onnx
            >>> path = constant_detector_onnx(pathlib.Path(tempfile.mkdtemp()) / "m.onnx")
            >>> model = OnnxDetector(path)
            >>> Slicer(model).staged, Slicer(model, pipeline=True).staged, model.on_cpu
            (False, True, True)
        """
        if self.pipeline == "auto":
            return is_staged(self.model) and not getattr(self.model, "on_cpu", False)
        return bool(self.pipeline) and is_staged(self.model)

    def _inference_stream(
        self, batches: Iterator[SliceBatch], model: BatchModel | None = None
    ) -> Iterator[_BatchOutput]:
        """Model outputs per batch, in batch order, whatever the completion order.

        ``model``: the slice model (the slicer's, zoomed); default the slicer's model.
        """
        model = model or self.model
        if self.staged:
            yield from self._staged_stream(batches, model)
            return
        if self.workers == 1:
            for batch in prefetch(batches):
                outputs, seconds = self._call_model(batch.images, batch.model or model)
                yield batch, outputs, seconds, 0.0
            return
        window: deque[tuple[SliceBatch, Future[tuple[list[Detections], float]]]] = deque()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="tilewise-model")
        try:
            # reading on the prefetch thread, as with one worker: the calling thread is left
            # to submit batches and post-process outputs while the next ones are read
            for batch in prefetch(batches, depth=self.workers):
                call = pool.submit(self._call_model, batch.images, batch.model or model)
                window.append((batch, call))
                if len(window) >= 2 * self.workers:
                    done, future = window.popleft()
                    yield (done, *future.result(), 0.0)
            while window:
                done, future = window.popleft()
                yield (done, *future.result(), 0.0)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _staged_stream(
        self, batches: Iterator[SliceBatch], model: BatchModel
    ) -> Iterator[_BatchOutput]:
        """Pipelined stages: prepare (prefetch thread) | forward (model threads) | finish.

        ``workers`` forwards are in flight while the calling thread decodes the oldest
        finished batch; batches are finished in order.
        """

        def forward(batch: SliceBatch) -> tuple[object, float]:
            t0 = time.perf_counter()
            raw = (batch.model or model).forward(batch.prepared)  # type: ignore[attr-defined]
            return raw, time.perf_counter() - t0

        window: deque[tuple[SliceBatch, Future[tuple[object, float]]]] = deque()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="tilewise-model")

        def finish_oldest() -> _BatchOutput:
            batch, future = window.popleft()
            raw, seconds = future.result()
            t0 = time.perf_counter()
            outputs = (batch.model or model).finish(batch.prepared, raw)  # type: ignore[attr-defined]
            outputs = check_model_outputs(outputs, len(batch.images))
            batch.prepared = None  # release the input tensor before the next batch
            return batch, outputs, seconds, time.perf_counter() - t0

        try:
            for batch in prefetch(batches, depth=self.workers):
                window.append((batch, pool.submit(forward, batch)))
                if len(window) > self.workers:
                    yield finish_oldest()
            while window:
                yield finish_oldest()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _fit_masks(self, det: Detections, w: int, h: int, report: SliceReport) -> Detections:
        """Scale masks to the w x h image the model saw, clip them to their boxes, drop empties."""
        masks = det.masks
        if masks is None or not len(det):
            return det
        if not isinstance(masks, CompactMasks):
            raise ModelOutputError(
                f"the model's masks are a {type(masks).__name__}; give a dense (N, H, W) bool "
                "array or tilewise.masks.CompactMasks"
            )
        if masks.image_wh is not None and masks.image_wh != (w, h):
            mw, mh = masks.image_wh
            if not mw or not mh or abs(mw * h / w - mh) > 1.0:
                raise ModelOutputError(
                    f"the model returned {mw}x{mh} masks for a {w}x{h} image; masks must be "
                    "at the image's size or a uniformly scaled version of it (undo any "
                    "letterbox padding first)"
                )
            masks = masks.resized((w, h))
            report.masks_resized += len(det)
        rects = pixel_rects(det.xyxy)
        rects[:, 0::2] = np.clip(rects[:, 0::2], 0, w)
        rects[:, 1::2] = np.clip(rects[:, 1::2], 0, h)
        masks, counts = masks.clipped(rects)
        report.masks_clipped += counts.masks
        report.mask_pixels_clipped += counts.pixels
        det = Detections(det.xyxy, det.confidence, det.class_id, masks=masks, data=det.data)
        empty = masks.area == 0
        if empty.any():
            report.dropped_empty_mask += int(empty.sum())
            det = det[~empty]
        return det

    def _postprocess(
        self,
        det: Detections,
        box: np.ndarray,
        inner: np.ndarray,
        report: SliceReport,
        valid: np.ndarray | None = None,
    ) -> Detections:
        """Drop non-finite boxes, inner-edge truncations and nodata centres; shift to the image."""
        x1, y1, x2, y2 = (int(v) for v in box)
        w, h = x2 - x1, y2 - y1
        report.model_detections += len(det)
        if not len(det):
            return det
        finite = det.finite_mask()
        if not finite.all():
            report.dropped_nonfinite += int((~finite).sum())
            det = det[finite]
        outside = _outside_slice(det.xyxy, w, h)
        if outside.any():
            report.outside_slice += int(outside.sum())
            if not self._warned_outside:
                self._warned_outside = True
                warnings.warn(
                    f"the model returned {int(outside.sum())} box(es) outside its {w}x{h} "
                    "slice; boxes must be in the coordinates of the image the model was "
                    "given (is the callback running on the full image?). Warned once.",
                    TilewiseWarning,
                    stacklevel=4,
                )
        if self.edge_margin is not None and inner.any():
            cut = _touches_inner_edge(det.xyxy, w, h, inner, self.edge_margin)
            if cut.any():
                report.dropped_edge += int(cut.sum())
                det = det[~cut]
        if valid is not None and len(det):
            on_nodata = _centre_on_nodata(det.xyxy, valid)
            if on_nodata.any():
                report.dropped_nodata += int(on_nodata.sum())
                det = det[~on_nodata]
        det = self._fit_masks(det, w, h, report)
        return det.shifted(x1, y1) if (x1 or y1) else det

    def run(self, image: ImageLike | ImageSource) -> SlicedPrediction:
        """Run sliced inference and return detections with the raw rows and the report.

        Example:
            >>> import numpy as np
            >>> from tilewise import Detections, Slicer
            >>> model = lambda ims: [Detections(np.array([[0, 0, 8, 8]]), [0.9]) for _ in ims]
            >>> result = Slicer(model, slice_wh=32, overlap=0).run(np.zeros((32, 64, 3), np.uint8))
            >>> len(result.raw), len(result.detections), result.raw_slice_index.tolist()
            (2, 2, [0, 1])
        """
        t_start = time.perf_counter()
        source, _ = as_source(image, self.read)
        w, h = source.image_wh
        passes = self._passes((w, h))
        grid = passes[0][1]
        report = SliceReport(
            image_wh=(w, h),
            grid=grid,
            merge_method=self.merge.value,
            image=getattr(source, "record", None),
            source=source.name,
            zoom=self.zoom,
        )
        if self.scales is None:
            report.model_scale = model_scale(self.model, _slice_wh(grid), self.zoom)
        parts: list[Detections] = []
        part_slices: list[int] = []
        total = sum(len(g) for _, g in passes)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="window", desc="tilewise", leave=False)
        try:
            first = 0
            for scale, pass_grid in passes:
                self._slice_pass(source, pass_grid, scale, first, report, parts, part_slices, bar)
                first += len(pass_grid)
        finally:
            if bar is not None:
                bar.update(total - bar.n)  # windows skipped after the last batch
                bar.close()
        prediction = self._finish_frame(source, report, parts, part_slices, t_start)
        self.last_report = report
        return prediction

    def _slice_pass(
        self,
        source: ImageSource,
        grid: SliceGrid,
        scale: Scale | None,
        first: int,
        report: SliceReport,
        parts: list[Detections],
        part_slices: list[int],
        bar: Any,
    ) -> None:
        """Run the model on one grid's slices; kept detections go to ``parts``.

        ``scale`` (multi-scale) gives the zoom and size filter and is counted in
        ``report.scales``; else the slicer's zoom applies. Slice ``i`` of this grid is
        ``first + i`` in ``part_slices``.
        """
        zoom = self.zoom if scale is None else scale.zoom
        model = zoomed(self.model, zoom)
        stats = None
        if scale is not None:
            stats = ScaleStats(
                scale, len(grid), first, model_scale=model_scale(self.model, _slice_wh(grid), zoom)
            )
            report.scales.append(stats)
        detections_before = report.model_detections
        timings = report.timings
        inner = grid.inner_edges()
        batches = iter_batches(
            source,
            grid.boxes,
            self.batch_size,
            contiguous=self.contiguous,
            prepare=model.prepare if self.staged else None,  # type: ignore[attr-defined]
            min_valid=self.min_valid,
            stats=report.windows,
        )
        for batch, outputs, seconds, finish_seconds in self._inference_stream(batches, model):
            report.batches += 1
            report.model_calls += 1
            timings.slicing += batch.seconds
            timings.preprocess += batch.prepare_seconds
            timings.inference += seconds
            timings.decode += finish_seconds
            t0 = time.perf_counter()
            rows = zip(batch.slice_indices.tolist(), outputs, batch.valid, strict=False)
            for slice_index, det, valid in rows:
                kept = self._postprocess(
                    det, grid.boxes[slice_index], inner[slice_index], report, valid
                )
                if stats is not None and len(kept):
                    kept = self._size_filter(kept, stats, report)
                if len(kept):
                    parts.append(kept)
                    part_slices.append(first + slice_index)
            timings.postprocess += time.perf_counter() - t0
            if bar is not None:
                bar.update(len(batch.slice_indices) + batch.skipped)
        if stats is not None:
            stats.model_detections = report.model_detections - detections_before

    @staticmethod
    def _size_filter(det: Detections, stats: ScaleStats, report: SliceReport) -> Detections:
        """Keep a scale's detections within its size filter (counted); count what it gives."""
        if stats.scale.filtered:
            keep = stats.scale.keep(det.xyxy)
            if not keep.all():
                dropped = int((~keep).sum())
                stats.dropped_size += dropped
                report.dropped_size += dropped
                det = det[keep]
        stats.raw += len(det)
        return det

    def _finish_frame(
        self,
        source: ImageSource,
        report: SliceReport,
        parts: list[Detections],
        part_slices: list[int],
        t_start: float,
        full: Detections | None = None,
    ) -> SlicedPrediction:
        """After the slices: the full-frame pass, then concatenating and merging.

        Shared by ``run`` and ``stream``, so a frame of a stream gives what ``run`` gives.
        ``full``: the model's output on the whole image when the caller already has it
        (``stream`` batches the full-frame pass across frames); else the model is called.
        """
        w, h = source.image_wh
        timings = report.timings
        if self.full_frame:
            whole = Window.full((w, h))
            if full is None:
                image = source.read(whole).view()
                image.flags.writeable = False
                outputs, seconds = self._call_model([image])
                report.model_calls += 1
                timings.inference += seconds
                full = outputs[0]
            t0 = time.perf_counter()
            det = full
            report.full_frame_detections = len(det)
            finite = det.finite_mask()
            if not finite.all():
                report.dropped_nonfinite += int((~finite).sum())
                det = det[finite]
            full_valid = source.valid_mask(whole)
            if full_valid is not None and len(det):
                on_nodata = _centre_on_nodata(det.xyxy, full_valid)
                report.dropped_nodata += int(on_nodata.sum())
                det = det[~on_nodata]
            det = self._fit_masks(det, w, h, report)
            if len(det):
                parts.append(det)
                part_slices.append(FULL_FRAME)
            timings.postprocess += time.perf_counter() - t0
        if report.dropped_nonfinite:
            warnings.warn(
                f"dropped {report.dropped_nonfinite} detection(s) with NaN or infinite "
                "boxes/confidences returned by the model",
                TilewiseWarning,
                stacklevel=2,
            )
        t0 = time.perf_counter()
        raw = Detections.concatenate(parts) if parts else Detections.empty()
        counts = [len(p) for p in parts]
        raw_slice_index = np.repeat(np.asarray(part_slices, dtype=np.int64), counts)
        if report.scales:
            firsts = np.asarray([s.first_slice for s in report.scales], dtype=np.int64)
            of_scale = np.searchsorted(firsts, raw_slice_index, side="right") - 1
            of_scale[raw_slice_index < 0] = FULL_FRAME
            raw = Detections(
                raw.xyxy,
                raw.confidence,
                raw.class_id,
                masks=raw.masks,
                data={**raw.data, "scale": of_scale.astype(np.int64)},
            )
        report.raw = len(raw)
        if isinstance(raw.masks, CompactMasks):
            raw.masks = raw.masks.with_image_wh((w, h))
        if report.slices == 1 and not self.full_frame:
            report.merge_skipped_reason = "single slice: the model's own output is returned"
            merged, result = raw, MergeResult.identity(len(raw))
        else:
            if raw.masks is not None:
                report.mask_overlap = self.mask_overlap.value
            merged, result = merge_detections(
                raw,
                self.merge,
                threshold=self.threshold,
                metric=self.metric,
                class_agnostic=self.class_agnostic,
                mask_overlap=self.mask_overlap,
            )
        if source.georef is not None:
            raw.georef = merged.georef = source.georef
        report.merge = result
        report.output = len(merged)
        if report.scales and len(merged):
            of_scale = np.asarray(merged.data["scale"])
            outputs = np.bincount(of_scale[of_scale >= 0], minlength=len(report.scales))
            for stats, count in zip(report.scales, outputs.tolist(), strict=False):
                stats.output = int(count)
        timings.merge = time.perf_counter() - t0
        timings.total = time.perf_counter() - t_start
        return SlicedPrediction(merged, raw, raw_slice_index, report)

    def stream(
        self, frames: Iterable[Frame | np.ndarray] | FrameSource, *, fps: float = 30.0
    ) -> Iterator[StreamedFrame]:
        """Sliced inference over a sequence of frames, slices of consecutive frames batched.

        Yields ``StreamedFrame(index, time, detections)`` in frame order, each frame's
        detections equal to ``run(frame)``'s whatever ``batch_size`` and ``workers``: a
        batch may hold the last slices of one frame and the first of the next, so the
        model sees full batches even when a frame has fewer slices than a batch; with
        ``full_frame``, the whole frames of consecutive frames share batches of their own.
        ``last_report`` is the report of the frame just yielded. See
        ``tilewise.slicing.stream.stream_frames``.

        Args:
            frames: a frame source (``tilewise.sources.VideoFileSource``...), or any
                iterable of ``Frame``/``(index, time, pixels)`` or of RGB arrays.
            fps: rate that times plain arrays (``index / fps``).

        Example:
            >>> import numpy as np
            >>> from tilewise import Detections, Slicer
            >>> model = lambda ims: [Detections(np.array([[0, 0, 8, 8]]), [0.9]) for _ in ims]
            >>> frames = [np.zeros((32, 64, 3), np.uint8)] * 3
            >>> slicer = Slicer(model, slice_wh=32, overlap=0, batch_size=4)
            >>> [(i, t, len(d)) for i, t, d in slicer.stream(frames, fps=10)]
            [(0, 0.0, 2), (1, 0.1, 2), (2, 0.2, 2)]
        """
        from tilewise.slicing.stream import stream_frames

        yield from stream_frames(self, frames, fps=fps)
