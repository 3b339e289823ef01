"""Batchers per input zoom, for a model that enlarges its own input (``with_input_zoom``).

A request's zoom on such a model (an ``OnnxDetector`` whose graph has a dynamic height and
width) must reach the model as a larger input, as ``tilewise predict --zoom`` does: a
slice resized first would be shrunk back by the model's letterbox. Each zoom is another
model input size, so it gets its own ``DynamicBatcher`` over ``model.with_input_zoom(zoom)``,
made the first time a request asks for it; requests at the same zoom still share batches.

Zooms are bounded: at most ``limit`` batchers live at once. A new zoom at the limit
replaces the least recently used batcher no request is using (counted in ``evicted``); if
every one is in use the request is refused 503 ``overloaded`` with ``Retry-After``, never
queued without bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from tilewise.serve.batcher import DynamicBatcher
from tilewise.serve.errors import Refusal, ServeError
from tilewise.slicing import BatchModel

__all__ = ["ZoomBatchers"]


class ZoomBatchers:
    """One started ``DynamicBatcher`` per input zoom in use, at most ``limit`` at once.

    Args:
        model: a model with ``with_input_zoom(zoom)`` (``tilewise.slicing.zoom.zooms_input``).
        make: builds a batcher for one zoom's model (not started).
        limit: batchers alive at once.
        retry_after_s: the ``Retry-After`` of the refusal when every batcher is in use.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> class Dynamic:
        ...     zooms_input = True
        ...     def __init__(self, zoom=1.0): self.zoom = zoom
        ...     def with_input_zoom(self, zoom): return Dynamic(zoom)
        ...     def __call__(self, images): return [Detections.empty() for _ in images]
        >>> zooms = ZoomBatchers(Dynamic(), lambda m: DynamicBatcher(m, max_batch=4), limit=1)
        >>> batcher = zooms.acquire(2.0)
        >>> batcher.model.zoom, zooms.in_use()
        (2.0, {2.0: 1})
        >>> zooms.release(2.0)
        >>> zooms.acquire(1.5).model.zoom, zooms.evicted  # the idle zoom 2 gave way
        (1.5, 1)
        >>> zooms.close()
    """

    def __init__(
        self,
        model: BatchModel,
        make: Callable[[BatchModel], DynamicBatcher],
        limit: int,
        *,
        retry_after_s: int = 1,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be an integer >= 1, got {limit!r}")
        self.model = model
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.evicted = 0
        self._make = make
        self._batchers: dict[float, DynamicBatcher] = {}
        self._users: dict[float, int] = {}
        self._last_use: dict[float, int] = {}
        self._uses = 0
        self._lock = threading.Lock()

    def acquire(self, zoom: float) -> DynamicBatcher:
        """The started batcher of ``zoom``, counted as in use until ``release(zoom)``.

        Raises:
            ServeError: ``overloaded`` when ``limit`` other zooms are all in use.
        """
        with self._lock:
            batcher = self._batchers.get(zoom)
            if batcher is None:
                if len(self._batchers) >= self.limit:
                    self._evict_one(zoom)
                batcher = self._make(self.model.with_input_zoom(zoom))  # type: ignore[attr-defined]
                batcher.start()
                self._batchers[zoom] = batcher
                self._users[zoom] = 0
            self._users[zoom] += 1
            self._uses += 1
            self._last_use[zoom] = self._uses
            return batcher

    def _evict_one(self, wanted: float) -> None:
        idle = [z for z, users in self._users.items() if users == 0]
        if not idle:
            zooms = ", ".join(f"{z:g}" for z in sorted(self._batchers))
            raise ServeError(
                Refusal.OVERLOADED,
                f"zoom {wanted:g} needs its own model input size, and this server's "
                f"{self.limit} input zoom(s) are all in use ({zooms}); retry later or use "
                "one of those zooms",
                retry_after=self.retry_after_s,
            )
        oldest = min(idle, key=self._last_use.__getitem__)
        batcher = self._batchers.pop(oldest)
        del self._users[oldest], self._last_use[oldest]
        batcher.close()  # idle: nothing queued, so this returns at once
        self.evicted += 1

    def release(self, zoom: float) -> None:
        """A request is done with ``zoom``'s batcher."""
        with self._lock:
            if zoom in self._users:  # gone only after close()
                self._users[zoom] -= 1

    def in_use(self) -> dict[float, int]:
        """Requests using each live zoom's batcher."""
        with self._lock:
            return dict(self._users)

    @property
    def queue_depth(self) -> int:
        """Slices waiting in every zoom's batcher."""
        with self._lock:
            return sum(b.queue_depth for b in self._batchers.values())

    def close(self) -> None:
        """Run what is queued and stop every zoom's batcher."""
        with self._lock:
            batchers = list(self._batchers.values())
            self._batchers.clear()
            self._users.clear()
            self._last_use.clear()
        for batcher in batchers:
            batcher.close()
