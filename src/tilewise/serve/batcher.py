"""A dynamic batcher: slices from every in-flight request share the model's batches.

Requests ``submit`` lists of slice images (a ``Submission``); each image waits in one FIFO
queue. A worker thread forms a batch as Triton's dynamic batcher does: it takes up to
``max_batch`` images as soon as that many are queued, or whatever is queued once the
oldest image has waited ``max_delay_s``, calls the model once, and routes every output
back to the submission it came from. Batches only change which images share a model
call, never an image's own output (a batch model returns one ``Detections`` per image), so
a request's answer is the same alone or among many.

With ``cross_request=False`` a batch holds one submission's images only (per-request
batching, what calling the ``Slicer`` per request gives): the baseline the benchmark
compares against.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tilewise.detections import Detections
from tilewise.errors import TilewiseError
from tilewise.serve.errors import Refusal, ServeError
from tilewise.slicing import BatchModel, check_model_outputs

__all__ = ["BatchObserver", "DynamicBatcher", "Submission"]

BatchObserver = Callable[[int, float], None]
"""Called after every model call with (images in the batch, seconds in the model)."""


@dataclass(eq=False)
class Submission:
    """Images of one request waiting for the model; ``wait`` returns their Detections.

    Attributes:
        images: the images, in order.
        enqueued: ``time.perf_counter()`` when queued.
        queue_seconds: longest wait of one of its images between queueing and its batch.
        model_seconds: its share of the model calls it took part in (per image).
        batch_sizes: size of every batch that held one of its images.
        shared_batches: how many of those batches also held other submissions' images.
    """

    images: list[np.ndarray]
    enqueued: float = field(default_factory=time.perf_counter)
    queue_seconds: float = 0.0
    model_seconds: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)
    shared_batches: int = 0
    _results: list[Detections | None] = field(default_factory=list, repr=False)
    _remaining: int = 0
    _error: BaseException | None = field(default=None, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    cancelled: bool = False

    def __post_init__(self) -> None:
        self._results = [None] * len(self.images)
        self._remaining = len(self.images)
        if not self.images:
            self._done.set()

    @property
    def done(self) -> bool:
        """Whether every image has its output (or the submission failed)."""
        return self._done.is_set()

    def cancel(self) -> None:
        """Drop the images not yet in a batch (the request gave up: deadline, error)."""
        self.cancelled = True

    def wait(self, timeout: float | None = None) -> list[Detections]:
        """Block until every image has its Detections; in image order.

        Raises:
            TimeoutError: not done within ``timeout`` seconds.
            ServeError: the model failed on a batch holding one of the images
                (``model_error``), or the batcher stopped before running them.
        """
        if not self._done.wait(timeout):
            raise TimeoutError("the model did not answer in time")
        if self._error is not None:
            raise self._error
        return [d for d in self._results if d is not None]

    def _deliver(self, index: int, det: Detections) -> None:
        self._results[index] = det
        self._remaining -= 1
        if self._remaining == 0:
            self._done.set()

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._done.set()


class DynamicBatcher:
    """One queue of images from every request; batches of up to ``max_batch`` per call.

    Args:
        model: a batch model (a list of H x W x 3 uint8 RGB images -> one ``Detections``
            per image), e.g. ``OnnxDetector``.
        max_batch: images per model call at most.
        max_delay_s: how long the oldest queued image may wait for the batch to fill.
        workers: threads calling the model at once.
        cross_request: mix submissions in a batch (True) or keep each apart (False).
        observer: called after each model call with (batch size, seconds).

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> sizes = []
        >>> def model(images):
        ...     sizes.append(len(images))
        ...     return [Detections(np.array([[0, 0, 2, 2]]), [float(im[0, 0, 0])]) for im in images]
        >>> batcher = DynamicBatcher(model, max_batch=4, max_delay_s=0.05)
        >>> with batcher:
        ...     a = batcher.submit([np.full((8, 8, 3), 1, np.uint8)] * 2)
        ...     b = batcher.submit([np.full((8, 8, 3), 2, np.uint8)] * 2)
        ...     [d.confidence.tolist() for d in a.wait(5) + b.wait(5)]
        [[1.0], [1.0], [2.0], [2.0]]
        >>> sizes  # both requests in one model call
        [4]
    """

    def __init__(
        self,
        model: BatchModel,
        *,
        max_batch: int = 8,
        max_delay_s: float = 0.005,
        workers: int = 1,
        cross_request: bool = True,
        observer: BatchObserver | None = None,
    ) -> None:
        if not callable(model):
            raise TilewiseError(f"model must be callable, got {type(model).__name__}")
        if int(max_batch) < 1 or int(workers) < 1 or float(max_delay_s) < 0:
            raise TilewiseError(
                "need max_batch >= 1, workers >= 1 and max_delay_s >= 0, got "
                f"{max_batch}, {workers}, {max_delay_s}"
            )
        self.model = model
        self.max_batch = int(max_batch)
        self.max_delay_s = float(max_delay_s)
        self.workers = int(workers)
        self.cross_request = bool(cross_request)
        self.observer = observer
        self._queue: deque[tuple[Submission, int]] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._threads: list[threading.Thread] = []
        self.model_calls = 0
        self.images = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> DynamicBatcher:
        """Start the worker threads (idempotent)."""
        with self._cond:
            if self._threads:
                return self
            self._closing = False
            for k in range(self.workers):
                thread = threading.Thread(
                    target=self._work, name=f"tilewise-batcher-{k}", daemon=True
                )
                self._threads.append(thread)
        for thread in self._threads:
            thread.start()
        return self

    def close(self, timeout: float | None = None) -> None:
        """Refuse new submissions, run every queued image, then stop the threads."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        with self._cond:
            leftover = list(self._queue)
            self._queue.clear()
            self._threads = []
        stopped = ServeError(Refusal.SHUTTING_DOWN, "the server stopped", retry_after=1)
        for sub, _ in leftover:
            sub._fail(stopped)

    def __enter__(self) -> DynamicBatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        """Whether the workers run and submissions are taken."""
        return bool(self._threads) and not self._closing

    @property
    def queue_depth(self) -> int:
        """Images waiting for a batch."""
        return len(self._queue)

    # ------------------------------------------------------------------ requests
    def submit(self, images: Sequence[np.ndarray]) -> Submission:
        """Queue images for the model; the returned submission's ``wait`` gives their output.

        Raises:
            ServeError: ``shutting_down`` once ``close`` was called (or before ``start``).
        """
        sub = Submission(list(images))
        with self._cond:
            if self._closing or not self._threads:
                raise ServeError(
                    Refusal.SHUTTING_DOWN, "the server is shutting down", retry_after=1
                )
            self._queue.extend((sub, i) for i in range(len(sub.images)))
            self._cond.notify_all()
        return sub

    # ------------------------------------------------------------------ workers
    def _drop_cancelled(self) -> None:
        while self._queue and self._queue[0][0].cancelled:
            self._queue.popleft()

    def _take(self) -> list[tuple[Submission, int]] | None:
        """The next batch (None: closing and nothing left). Holds the lock while forming it."""
        with self._cond:
            while True:
                self._drop_cancelled()
                if not self._queue:
                    if self._closing:
                        return None
                    self._cond.wait()
                    continue
                if not self.cross_request:
                    return self._pop_one_submission()
                deadline = self._queue[0][0].enqueued + self.max_delay_s
                remaining = deadline - time.perf_counter()
                if len(self._queue) < self.max_batch and remaining > 0 and not self._closing:
                    self._cond.wait(remaining)
                    continue  # re-check: more arrived, time is up, or another worker took them
                return self._pop(self.max_batch)

    def _pop(self, limit: int) -> list[tuple[Submission, int]]:
        batch: list[tuple[Submission, int]] = []
        while self._queue and len(batch) < limit:
            item = self._queue.popleft()
            if not item[0].cancelled:
                batch.append(item)
        return batch

    def _pop_one_submission(self) -> list[tuple[Submission, int]]:
        head = self._queue[0][0]
        batch: list[tuple[Submission, int]] = []
        while self._queue and self._queue[0][0] is head and len(batch) < self.max_batch:
            batch.append(self._queue.popleft())
        return batch

    def _work(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if batch:
                self._run(batch)

    def _run(self, batch: list[tuple[Submission, int]]) -> None:
        start = time.perf_counter()
        images = [sub.images[i] for sub, i in batch]
        try:
            outputs = check_model_outputs(self.model(images), len(images))
        except Exception as exc:  # a model failure fails the requests in this batch only
            error = ServeError(
                Refusal.MODEL_ERROR, f"the model failed: {type(exc).__name__}: {exc}"[:500]
            )
            with self._cond:
                for sub, _ in batch:
                    sub._fail(error)
            return
        seconds = time.perf_counter() - start
        share = seconds / len(batch)
        seen: set[int] = set()
        mixed = len({id(sub) for sub, _ in batch}) > 1
        with self._cond:  # several workers may deliver to one submission
            self.model_calls += 1
            self.images += len(batch)
            for (sub, i), det in zip(batch, outputs, strict=True):
                sub.queue_seconds = max(sub.queue_seconds, start - sub.enqueued)
                sub.model_seconds += share
                if id(sub) not in seen:
                    seen.add(id(sub))
                    sub.batch_sizes.append(len(batch))
                    sub.shared_batches += int(mixed)
                sub._deliver(i, det)
        if self.observer is not None:
            self.observer(len(batch), seconds)
