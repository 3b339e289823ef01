"""The service's counters and histograms, rendered as Prometheus text for ``/metrics``.

Dependency-free and thread-safe: request threads, batcher threads and the event loop all
record here. Every answer is counted by route and status, every refusal by its reason.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence

__all__ = ["LATENCY_BUCKETS", "Histogram", "ServeMetrics"]

LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""Upper bounds (seconds) of the request latency histogram."""

FILL_BUCKETS: tuple[float, ...] = (0.125, 0.25, 0.5, 0.75, 1.0)
"""Upper bounds of the batch fill histogram (batch size / max_batch)."""


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class Histogram:
    """Cumulative-bucket histogram (Prometheus semantics: ``le`` buckets, sum, count).

    Example:
        >>> h = Histogram("x_seconds", "An example.", (0.1, 1.0))
        >>> h.observe(0.05); h.observe(0.5); h.observe(3.0)
        >>> print(h.render())
        # HELP x_seconds An example.
        # TYPE x_seconds histogram
        x_seconds_bucket{le="0.1"} 1
        x_seconds_bucket{le="1.0"} 2
        x_seconds_bucket{le="+Inf"} 3
        x_seconds_sum 3.55
        x_seconds_count 3
    """

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.help = help_text
        self.buckets = tuple(sorted(float(b) for b in buckets))
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        """Record one value."""
        with self._lock:
            self._counts[bisect.bisect_left(self.buckets, value)] += 1
            self._sum += value

    @property
    def count(self) -> int:
        """Values recorded."""
        return sum(self._counts)

    def render(self) -> str:
        """The histogram in the Prometheus text format."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        running = 0
        for bound, n in zip((*self.buckets, float("inf")), counts, strict=True):
            running += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'{self.name}_bucket{{le="{le}"}} {running}')
        lines.append(f"{self.name}_sum {round(total, 6)!r}")
        lines.append(f"{self.name}_count {running}")
        return "\n".join(lines)


class _Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text
        self.values: dict[tuple[tuple[str, str], ...], float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        for key in sorted(self.values):
            lines.append(f"{self.name}{_labels(key)} {_number(self.values[key])}")
        return "\n".join(lines)


class ServeMetrics:
    """Everything ``/metrics`` shows.

    Args:
        max_batch: the batcher's ``max_batch`` (for the fill ratio).
        gauges: name -> (help, callable) read at scrape time (queue depth, in flight...).

    Example:
        >>> m = ServeMetrics(max_batch=8)
        >>> m.answered("/v1/detect", 200, 0.2); m.refused("too_many_pixels"); m.batch(4, 0.1)
        >>> text = m.render()
        >>> 'tilewise_serve_refused_total{reason="too_many_pixels"} 1' in text
        True
        >>> 'tilewise_serve_batch_fill_ratio_bucket{le="0.5"} 1' in text
        True
    """

    def __init__(
        self,
        max_batch: int,
        gauges: dict[str, tuple[str, Callable[[], float]]] | None = None,
    ) -> None:
        self.max_batch = int(max_batch)
        self.gauges = dict(gauges or {})
        self._lock = threading.Lock()
        self.requests = _Counter(
            "tilewise_serve_requests_total", "Requests answered, by route and HTTP status."
        )
        self.refusals = _Counter(
            "tilewise_serve_refused_total", "Requests refused (4xx and 5xx), by reason."
        )
        self.model_calls = _Counter("tilewise_serve_model_calls_total", "Model calls (batches).")
        self.slices = _Counter("tilewise_serve_slices_total", "Images sent to the model.")
        self.model_seconds = _Counter(
            "tilewise_serve_model_seconds_total", "Seconds spent in model calls."
        )
        self.latency = Histogram(
            "tilewise_serve_request_seconds",
            "Latency of POST /v1/detect, admission to answer, any status.",
            LATENCY_BUCKETS,
        )
        self.batch_size = Histogram(
            "tilewise_serve_batch_size",
            "Images per model call.",
            sorted({1, 2, 4, 8, 16, 32, 64, 128, self.max_batch}),
        )
        self.batch_fill = Histogram(
            "tilewise_serve_batch_fill_ratio",
            "Images per model call over max_batch.",
            FILL_BUCKETS,
        )

    def answered(self, route: str, status: int, seconds: float | None = None) -> None:
        """Count an answer; ``seconds`` feeds the latency histogram (detect requests)."""
        with self._lock:
            self.requests.inc(route=route, status=str(int(status)))
        if seconds is not None:
            self.latency.observe(seconds)

    def refused(self, reason: str) -> None:
        """Count a refusal by its reason."""
        with self._lock:
            self.refusals.inc(reason=str(reason))

    def batch(self, size: int, seconds: float) -> None:
        """Record one model call (the batcher's observer)."""
        with self._lock:
            self.model_calls.inc()
            self.slices.inc(size)
            self.model_seconds.inc(seconds)
        self.batch_size.observe(size)
        self.batch_fill.observe(size / self.max_batch)

    def refusal_counts(self) -> dict[str, int]:
        """Refusals so far by reason.

        Example:
            >>> m = ServeMetrics(8); m.refused("overloaded"); m.refused("overloaded")
            >>> m.refusal_counts()
            {'overloaded': 2}
        """
        with self._lock:
            return {dict(k)["reason"]: int(v) for k, v in self.refusals.values.items()}

    def render(self) -> str:
        """All metrics in the Prometheus text exposition format (version 0.0.4)."""
        with self._lock:
            parts = [
                c.render()
                for c in (
                    self.requests,
                    self.refusals,
                    self.model_calls,
                    self.slices,
                    self.model_seconds,
                )
            ]
        parts += [self.latency.render(), self.batch_size.render(), self.batch_fill.render()]
        for name, (help_text, read) in sorted(self.gauges.items()):
            parts.append(
                f"# HELP {name} {help_text}\n# TYPE {name} gauge\n{name} {_number(float(read()))}"
            )
        return "\n".join(parts) + "\n"
