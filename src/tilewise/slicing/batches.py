"""Reading an image source's slices into batches, prefetched on a background thread."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.sources import ArraySource, ImageSource, Window

__all__ = ["SliceBatch", "WindowStats", "iter_batches", "prefetch"]


@dataclass
class SliceBatch:
    """One model call's worth of slices.

    Attributes:
        index: batch number, in slice order.
        slice_indices: (B,) indices into the grid.
        images: the slice images as the source reads them: read-only views of an
            in-memory image (or contiguous copies when requested).
        seconds: time spent reading the batch.
        prepared: the model's ``prepare`` output for a staged model, else None.
        prepare_seconds: time spent in ``prepare``.
        valid: per slice, its valid-data mask (h x w bool), or None where every pixel
            is valid.
        skipped: windows skipped (no or too little valid data) since the previous batch.
        model: the model for this batch when not the one of the stream it is in (e.g. the
            unzoomed model of a full-frame batch), else None.
    """

    index: int
    slice_indices: np.ndarray
    images: list[np.ndarray]
    seconds: float
    prepared: Any = None
    prepare_seconds: float = 0.0
    valid: list[np.ndarray | None] = field(default_factory=list)
    skipped: int = 0
    model: Any = None


@dataclass
class WindowStats:
    """Counts of the windows a source was asked for.

    Attributes:
        read: windows read and sent to the model.
        skipped_nodata: windows with no valid pixel (never read, never sent).
        skipped_sparse: windows whose valid fraction was under ``min_valid``.
        valid_fraction_min: the smallest valid fraction among windows sent (1.0 if none).
    """

    read: int = 0
    skipped_nodata: int = 0
    skipped_sparse: int = 0
    valid_fraction_min: float = 1.0

    @property
    def skipped(self) -> int:
        """Windows skipped for any reason."""
        return self.skipped_nodata + self.skipped_sparse


def _slice(source: ImageSource, window: Window, contiguous: bool) -> np.ndarray:
    pixels = source.read(window)
    if pixels.shape != (window.h, window.w, 3) or pixels.dtype != np.uint8:
        raise TilewiseError(
            f"{source.name}: read({window!r}) returned {pixels.dtype} {pixels.shape}; a source "
            f"must return the window as ({window.h}, {window.w}, 3) uint8 RGB"
        )
    if contiguous:
        pixels = np.ascontiguousarray(pixels)
    elif pixels.flags.writeable:
        pixels = pixels.view()
    pixels.flags.writeable = False
    return pixels


def iter_batches(
    image: np.ndarray | ImageSource,
    boxes: np.ndarray,
    batch_size: int,
    *,
    contiguous: bool = False,
    prepare: Callable[[list[np.ndarray]], Any] | None = None,
    min_valid: float = 0.0,
    stats: WindowStats | None = None,
) -> Iterator[SliceBatch]:
    """Read slices from an image or a source and yield them in batches, row-major.

    Each window's valid-data mask is asked first: a window with no valid pixel is never
    read nor batched (``stats.skipped_nodata``), nor one whose valid fraction is under
    ``min_valid`` (``stats.skipped_sparse``). With ``prepare`` (a staged model's first
    stage), each batch also carries its prepared model input, so that work runs wherever
    the batches are produced (the prefetch thread).

    Example:
        >>> import numpy as np
        >>> from tilewise import SliceGrid
        >>> img = np.zeros((100, 150, 3), np.uint8)
        >>> grid = SliceGrid((150, 100), 64, 0)
        >>> [b.slice_indices.tolist() for b in iter_batches(img, grid.boxes, 4)]
        [[0, 1, 2, 3], [4, 5]]
    """
    source = image if not isinstance(image, np.ndarray) else ArraySource(image)
    stats = stats if stats is not None else WindowStats()
    index = 0
    skipped = 0
    pending: list[tuple[int, np.ndarray, np.ndarray | None]] = []
    t0 = time.perf_counter()

    def emit() -> SliceBatch:
        nonlocal index, skipped
        batch = SliceBatch(
            index,
            np.asarray([p[0] for p in pending], dtype=np.int64),
            [p[1] for p in pending],
            time.perf_counter() - t0,
            valid=[p[2] for p in pending],
            skipped=skipped,
        )
        pending.clear()
        index, skipped = index + 1, 0
        if prepare is not None:
            t1 = time.perf_counter()
            batch.prepared = prepare(batch.images)
            batch.prepare_seconds = time.perf_counter() - t1
        return batch

    for i, box in enumerate(boxes):
        window = Window.from_xyxy(box)
        valid = source.valid_mask(window)
        if valid is not None:
            fraction = float(np.count_nonzero(valid)) / valid.size
            if fraction == 0.0:
                stats.skipped_nodata += 1
                skipped += 1
                continue
            if fraction < min_valid:
                stats.skipped_sparse += 1
                skipped += 1
                continue
            stats.valid_fraction_min = min(stats.valid_fraction_min, fraction)
            if fraction == 1.0:
                valid = None
        pending.append((i, _slice(source, window, contiguous), valid))
        stats.read += 1
        if len(pending) == batch_size:
            yield emit()
            t0 = time.perf_counter()
    if pending:
        yield emit()


_DONE = object()


def prefetch(source: Iterator[SliceBatch], depth: int = 1) -> Iterator[SliceBatch]:
    """Run ``source`` on a background thread, ``depth`` batches ahead of the consumer.

    Preparing batch k+1 overlaps the consumer's work on batch k; memory stays bounded by
    ``depth + 1`` batches. Exceptions in the producer are re-raised in the consumer.

    Example:
        >>> [b for b in prefetch(iter(range(3)))]
        [0, 1, 2]
    """
    slots: queue.Queue[object] = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.05)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(_DONE)
        except BaseException as exc:  # re-raised on the consumer side
            slots.put(exc)

    thread = threading.Thread(target=produce, name="tilewise-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)
