"""Sliced inference over frames: slices of consecutive frames fill the same model batch.

``stream_frames`` (behind ``Slicer.stream``) reads frames in order, cuts each into its
slice grid and batches the slices across frame boundaries, so a model sees full batches
even when a frame has few slices. With ``full_frame``, the whole frames of consecutive
frames fill batches of their own (``batch_size`` frames per model call, never mixed with
slices, whose size differs). Model outputs come back in batch order (whatever the number
of workers); a frame is finished (full-frame detections, merge) as soon as the batches
holding its slices and its full frame are done, with the same code as ``Slicer.run``, so
every frame's detections equal ``run(frame)``'s. Memory is bounded: only the frames whose
slices are in flight (a few batches) are held, plus, with ``full_frame``, the frames
waiting for their full-frame batch (at most ``batch_size``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from tilewise.detections import Detections
from tilewise.errors import TilewiseError
from tilewise.slicing.batches import SliceBatch, _slice
from tilewise.slicing.grid import SliceGrid
from tilewise.slicing.report import SliceReport
from tilewise.slicing.zoom import model_scale, zoomed
from tilewise.sources import ArraySource, Frame, Window

__all__ = ["StreamedFrame", "stream_frames"]


class StreamedFrame(NamedTuple):
    """One frame's result: its index in the source, its time (s) and its merged detections."""

    index: int
    time: float
    detections: Detections


@dataclass
class _FrameRun:
    """A frame in flight: its slices' detections gather here until its last slice is done."""

    seq: int
    index: int
    time: float
    source: ArraySource | None
    report: SliceReport
    inner: np.ndarray
    t_start: float
    parts: list[Detections] = field(default_factory=list)
    part_slices: list[int] = field(default_factory=list)
    full: Detections | None = None


@dataclass
class _FrameBatch(SliceBatch):
    """A batch whose slices may come from several frames.

    ``owners[k]`` is the frame of slice k; ``closed`` is the number of frames (in order)
    whose every slice (and full frame) is in this batch or an earlier one; ``full``: the
    images are whole frames (the full-frame pass), one per owner.
    """

    owners: list[_FrameRun] = field(default_factory=list)
    closed: int = 0
    full: bool = False


def _as_frame(item: Any, position: int, fps: float) -> Frame:
    if isinstance(item, np.ndarray):
        return Frame(position, position / fps, item)
    try:
        index, t, pixels = item
    except (TypeError, ValueError):
        raise TilewiseError(
            "frames must be Frame/(index, time, pixels) tuples or RGB arrays, "
            f"got {type(item).__name__}"
        ) from None
    return Frame(int(index), float(t), pixels)


def _frame_batches(
    slicer: Any, frames: Iterable[Any], registry: deque[_FrameRun], fps: float
) -> Iterator[_FrameBatch]:
    """Slices of consecutive frames, ``slicer.batch_size`` per batch (on the prefetch thread).

    A batch holds images of one size (a model may stack them into one array): a frame
    smaller than the slice size, whose slices are smaller, starts a new batch.

    With ``full_frame``, the whole frames go to batches of their own (up to ``batch_size``
    frames of one size each, called with the unzoomed model, as ``run`` does), so the
    full-frame pass of consecutive frames shares model calls too. A batch's ``closed``
    counts the frames whose slices and full frame are all in it or in an earlier batch.
    """
    zoomed_model = zoomed(slicer.model, slicer.zoom)
    staged = slicer.staged
    grids: dict[tuple[int, int], tuple[SliceGrid, np.ndarray]] = {}
    pending: list[tuple[_FrameRun, int, np.ndarray]] = []
    whole: list[tuple[_FrameRun, int, np.ndarray]] = []
    number = 0
    sliced = fulled = 0  # frames whose slices / full frame are all queued for a batch
    done = {False: 0, True: 0}  # ... all in an emitted batch (by full)
    t0 = time.perf_counter()

    def emit(items: list[tuple[_FrameRun, int, np.ndarray]], full: bool) -> _FrameBatch:
        nonlocal number
        model = slicer.model if full else zoomed_model
        done[full] = fulled if full else sliced
        batch = _FrameBatch(
            number,
            np.asarray([p[1] for p in items], dtype=np.int64),
            [p[2] for p in items],
            time.perf_counter() - t0,
            valid=[None] * len(items),
            model=slicer.model if full else None,
            owners=[p[0] for p in items],
            closed=min(done[False], done[True]) if slicer.full_frame else done[False],
            full=full,
        )
        items.clear()
        number += 1
        if staged:
            t1 = time.perf_counter()
            batch.prepared = model.prepare(batch.images)
            batch.prepare_seconds = time.perf_counter() - t1
        return batch

    seq = -1
    for seq, item in enumerate(frames):
        frame = _as_frame(item, seq, fps)
        source = ArraySource(frame.pixels, name=f"frame {frame.index}")
        wh = source.image_wh
        if wh not in grids:
            grid = slicer.grid_for(wh)
            grids[wh] = (grid, grid.inner_edges())
        grid, inner = grids[wh]
        run = _FrameRun(
            seq,
            frame.index,
            frame.time,
            source,
            SliceReport(
                image_wh=wh,
                grid=grid,
                merge_method=slicer.merge.value,
                source=source.name,
                zoom=slicer.zoom,
                model_scale=model_scale(
                    slicer.model, (int(grid.boxes[0, 2]), int(grid.boxes[0, 3])), slicer.zoom
                ),
            ),
            inner,
            time.perf_counter(),
        )
        registry.append(run)
        last = len(grid) - 1
        for i, box in enumerate(grid.boxes):
            window = Window.from_xyxy(box)
            if pending and pending[-1][2].shape[:2] != (window.h, window.w):
                yield emit(pending, full=False)  # one slice size per batch (see above)
                t0 = time.perf_counter()
            pending.append((run, i, _slice(source, window, slicer.contiguous)))
            run.report.windows.read += 1
            if i == last:
                sliced = seq + 1
            if len(pending) == slicer.batch_size:
                yield emit(pending, full=False)
                t0 = time.perf_counter()
        if slicer.full_frame:
            if whole and whole[-1][2].shape[:2] != (wh[1], wh[0]):
                yield emit(whole, full=True)  # one size per batch: a model may stack them
                t0 = time.perf_counter()
            image = source.read(Window.full(wh)).view()
            image.flags.writeable = False
            whole.append((run, -1, image))
            fulled = seq + 1
            if len(whole) == slicer.batch_size:
                yield emit(whole, full=True)
                t0 = time.perf_counter()
    if pending:
        yield emit(pending, full=False)
    if whole:
        yield emit(whole, full=True)


def stream_frames(
    slicer: Any, frames: Iterable[Frame | np.ndarray] | Any, *, fps: float = 30.0
) -> Iterator[StreamedFrame]:
    """Run ``slicer`` over ``frames``, batching slices across frames; results in frame order.

    Args:
        slicer: a ``tilewise.Slicer``.
        frames: a frame source or any iterable of ``Frame``/``(index, time, pixels)`` or
            of RGB arrays (indexed in order, timed ``index / fps``).
        fps: rate that times plain arrays.

    Yields:
        ``StreamedFrame(index, time, detections)``, one per frame, in order;
        ``slicer.last_report`` is the report of the frame just yielded.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections, Slicer
        >>> calls = []
        >>> def model(images):
        ...     calls.append(len(images))
        ...     return [Detections(np.array([[0, 0, 8, 8]]), [0.9]) for _ in images]
        >>> slicer = Slicer(model, slice_wh=32, overlap=0, batch_size=4)
        >>> frames = [np.zeros((32, 96, 3), np.uint8)] * 4  # 3 slices per frame
        >>> [len(d) for _, _, d in stream_frames(slicer, frames)], calls
        ([3, 3, 3, 3], [4, 4, 4])
    """
    if isinstance(fps, bool) or not np.isfinite(float(fps)) or float(fps) <= 0:
        raise TilewiseError(f"fps must be a number > 0, got {fps!r}")
    if slicer.scales is not None:  # several grids per frame: frame by frame, as run()
        for seq, item in enumerate(frames):
            frame = _as_frame(item, seq, float(fps))
            yield StreamedFrame(frame.index, frame.time, slicer.run(frame.pixels).detections)
        return
    registry: deque[_FrameRun] = deque()

    def finish(run: _FrameRun) -> StreamedFrame:
        assert run.source is not None
        prediction = slicer._finish_frame(
            run.source, run.report, run.parts, run.part_slices, run.t_start, full=run.full
        )
        run.source, run.parts, run.full = None, [], None  # release the frame's pixels
        slicer.last_report = run.report
        return StreamedFrame(run.index, run.time, prediction.detections)

    batches = _frame_batches(slicer, frames, registry, float(fps))
    model = zoomed(slicer.model, slicer.zoom)
    for batch, outputs, seconds, finish_seconds in slicer._inference_stream(batches, model):
        t0 = time.perf_counter()
        share = 1.0 / max(len(batch.owners), 1)
        seen: set[int] = set()
        rows = zip(batch.owners, batch.slice_indices.tolist(), outputs, strict=True)
        for run, slice_index, det in rows:
            report = run.report
            timings = report.timings
            timings.slicing += batch.seconds * share
            timings.preprocess += batch.prepare_seconds * share
            timings.inference += seconds * share
            timings.decode += finish_seconds * share
            if run.seq not in seen:
                seen.add(run.seq)
                report.batches += 1
                report.model_calls += 1
            if batch.full:  # post-processed with the merge, as in run()
                run.full = det
                continue
            kept = slicer._postprocess(
                det, report.grid.boxes[slice_index], run.inner[slice_index], report
            )
            if len(kept):
                run.parts.append(kept)
                run.part_slices.append(slice_index)
        dt = (time.perf_counter() - t0) / max(len(seen), 1)
        for run in batch.owners:
            if run.seq in seen:
                run.report.timings.postprocess += dt
                seen.discard(run.seq)
        while registry and registry[0].seq < batch.closed:
            yield finish(registry.popleft())
    while registry:
        yield finish(registry.popleft())
