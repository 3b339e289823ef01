"""Cutting an image into batches of slice views, prefetched on a background thread."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SliceBatch", "iter_batches", "prefetch"]


@dataclass
class SliceBatch:
    """One model call's worth of slices.

    Attributes:
        index: batch number, in slice order.
        slice_indices: (B,) indices into the grid.
        images: the slice images: read-only views of the source image (or contiguous
            copies when requested).
        seconds: time spent cutting the batch.
        prepared: the model's ``prepare`` output for a staged model, else None.
        prepare_seconds: time spent in ``prepare``.
    """

    index: int
    slice_indices: np.ndarray
    images: list[np.ndarray]
    seconds: float
    prepared: Any = None
    prepare_seconds: float = 0.0


def _view(image: np.ndarray, box: np.ndarray, contiguous: bool) -> np.ndarray:
    x1, y1, x2, y2 = (int(v) for v in box)
    view = image[y1:y2, x1:x2]
    if contiguous:
        view = np.ascontiguousarray(view)
    view.flags.writeable = False
    return view


def iter_batches(
    image: np.ndarray,
    boxes: np.ndarray,
    batch_size: int,
    *,
    contiguous: bool = False,
    prepare: Callable[[list[np.ndarray]], Any] | None = None,
) -> Iterator[SliceBatch]:
    """Yield batches of slices in row-major order.

    With ``prepare`` (a staged model's first stage), each batch also carries its prepared
    model input, so that work runs wherever the batches are produced (the prefetch thread).

    Example:
        >>> import numpy as np
        >>> from tilewise import SliceGrid
        >>> img = np.zeros((100, 150, 3), np.uint8)
        >>> grid = SliceGrid((150, 100), 64, 0)
        >>> [b.slice_indices.tolist() for b in iter_batches(img, grid.boxes, 4)]
        [[0, 1, 2, 3], [4, 5]]
    """
    for index, start in enumerate(range(0, len(boxes), batch_size)):
        t0 = time.perf_counter()
        indices = np.arange(start, min(start + batch_size, len(boxes)), dtype=np.int64)
        images = [_view(image, boxes[i], contiguous) for i in indices]
        batch = SliceBatch(index, indices, images, time.perf_counter() - t0)
        if prepare is not None:
            t0 = time.perf_counter()
            batch.prepared = prepare(images)
            batch.prepare_seconds = time.perf_counter() - t0
        yield batch


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
