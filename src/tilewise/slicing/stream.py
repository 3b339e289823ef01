"""Sliced inference over frames: slices of consecutive frames fill the same model batch.

``stream_frames`` (behind ``Slicer.stream``) reads frames in order, cuts each into its
slice grid and batches the slices across frame boundaries, so a model sees full batches
even when a frame has few slices. Model outputs come back in batch order (whatever the
number of workers); a frame is finished (full-frame pass, merge) as soon as the batch
holding its last slice is done, with the same code as ``Slicer.run``, so every frame's
detections equal ``run(frame)``'s. Memory is bounded: only the frames whose slices are in
flight (a few batches) are held.
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


@dataclass
class _FrameBatch(SliceBatch):
    """A batch whose slices may come from several frames.

    ``owners[k]`` is the frame of slice k; ``closed`` is the number of frames (in order)
    whose every slice is in this batch or an earlier one.
    """

    owners: list[_FrameRun] = field(default_factory=list)
    closed: int = 0


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
    """Slices of consecutive frames, ``slicer.batch_size`` per batch (on the prefetch thread)."""
    prepare = zoomed(slicer.model, slicer.zoom).prepare if slicer.staged else None
    grids: dict[tuple[int, int], tuple[SliceGrid, np.ndarray]] = {}
    pending: list[tuple[_FrameRun, int, np.ndarray]] = []
    number = 0
    t0 = time.perf_counter()

    def emit(closed: int) -> _FrameBatch:
        nonlocal number
        batch = _FrameBatch(
            number,
            np.asarray([p[1] for p in pending], dtype=np.int64),
            [p[2] for p in pending],
            time.perf_counter() - t0,
            valid=[None] * len(pending),
            owners=[p[0] for p in pending],
            closed=closed,
        )
        pending.clear()
        number += 1
        if prepare is not None:
            t1 = time.perf_counter()
            batch.prepared = prepare(batch.images)
            batch.prepare_seconds = time.perf_counter() - t1
        return batch

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
            pending.append((run, i, _slice(source, Window.from_xyxy(box), slicer.contiguous)))
            run.report.windows.read += 1
            if len(pending) == slicer.batch_size:
                yield emit(seq + 1 if i == last else seq)
                t0 = time.perf_counter()
    if pending:
        yield emit(len(registry))


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
            run.source, run.report, run.parts, run.part_slices, run.t_start
        )
        run.source, run.parts = None, []  # release the frame's pixels
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
