"""The service's settings: batching, limits, auth and CORS, validated once at start."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tilewise.errors import TilewiseError
from tilewise.images import ReadOptions

__all__ = ["ServeConfig"]


def _positive(value: float, name: str, *, integer: bool = False) -> None:
    bad = isinstance(value, bool) or not math.isfinite(float(value)) or value <= 0
    if bad or (integer and int(value) != value):
        kind = "an integer" if integer else "a number"
        raise TilewiseError(f"{name} must be {kind} > 0, got {value!r}")


@dataclass(frozen=True)
class ServeConfig:
    """How the detection service batches, and the limits it holds every request to.

    Attributes:
        max_batch: slices per model call at most (from one request or several).
        max_delay_ms: how long the batcher waits for more slices once the oldest queued
            slice arrived, before calling the model with a partial batch (as Triton's
            ``max_queue_delay_microseconds``).
        workers: threads calling the model at once (for models that release the GIL or
            run on an accelerator); 1 keeps one batch in the model at a time.
        cross_request: batch slices from different requests together (True), or call the
            model on one request's slices at a time (False: per-request batching only,
            what calling ``Slicer`` per request gives).
        max_inflight: requests admitted at once (decoding, queued or in the model); one
            more is answered 503 with ``Retry-After`` before its body is read.
        timeout_s: deadline of a request from admission; past it the answer is 504 and
            its slices still queued are dropped.
        max_upload_bytes: request body size limit (413), checked from
            ``Content-Length`` before reading and counted while reading.
        max_pixels: decoded-pixel limit (413), checked from the image header before
            decoding (``tilewise.images.ReadOptions.max_pixels``).
        max_slices: slices one request may ask for (image size, slice and overlap),
            full frame included; more is refused with 422.
        max_slice: largest slice side in pixels a request may ask for.
        min_conf: the lowest ``conf`` a request may ask for: an ONNX model is loaded with
            this threshold and each request's detections are filtered at its own.
        default_conf: ``conf`` when a request gives none (``tilewise predict``'s default).
        api_key: when set, ``/v1/*`` requests need it in ``X-API-Key`` or
            ``Authorization: Bearer`` (401 otherwise).
        cors_origins: origins allowed by CORS; empty (default) adds no CORS headers.
        retry_after_s: the ``Retry-After`` of a 503.
        allow_truncated: read truncated uploads (missing rows black) instead of 400.
        max_input_zooms: for a model that zooms its own input (a dynamic-input ONNX
            graph), the input zooms served at once, each by its own batcher
            (``tilewise.serve.zoom_batchers``); a new zoom replaces an idle one, or is
            refused 503 when all are in use.

    Example:
        >>> ServeConfig(max_batch=16).max_batch
        16
        >>> ServeConfig(max_batch=0)
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: max_batch must be an integer > 0, got 0
    """

    max_batch: int = 8
    max_delay_ms: float = 5.0
    workers: int = 1
    cross_request: bool = True
    max_inflight: int = 32
    timeout_s: float = 30.0
    max_upload_bytes: int = 100 * 1024 * 1024
    max_pixels: int = 100_000_000
    max_slices: int = 1024
    max_slice: int = 4096
    min_conf: float = 0.05
    default_conf: float = 0.25
    api_key: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    retry_after_s: int = 1
    allow_truncated: bool = False
    max_input_zooms: int = 4

    def __post_init__(self) -> None:
        for name in ("max_batch", "workers", "max_inflight", "max_upload_bytes", "max_pixels"):
            _positive(getattr(self, name), name, integer=True)
        for name in ("max_slices", "max_slice", "retry_after_s", "max_input_zooms"):
            _positive(getattr(self, name), name, integer=True)
        _positive(self.timeout_s, "timeout_s")
        delay = self.max_delay_ms
        if isinstance(delay, bool) or not math.isfinite(float(delay)) or delay < 0:
            raise TilewiseError(f"max_delay_ms must be a number >= 0, got {delay!r}")
        if not 0.0 <= float(self.min_conf) <= float(self.default_conf) <= 1.0:
            raise TilewiseError(
                f"need 0 <= min_conf <= default_conf <= 1, got min_conf={self.min_conf}, "
                f"default_conf={self.default_conf}"
            )
        if self.api_key is not None and not self.api_key.strip():
            raise TilewiseError("api_key is empty")
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))

    @property
    def read_options(self) -> ReadOptions:
        """How uploads are read: as viewers show them, under ``max_pixels``."""
        return ReadOptions(max_pixels=self.max_pixels, allow_truncated=self.allow_truncated)

    def limits(self) -> dict[str, object]:
        """The limits in force, JSON-ready (for ``/readyz`` and the web page).

        Example:
            >>> ServeConfig().limits()["max_upload_mb"]
            100.0
        """
        return {
            "max_batch": self.max_batch,
            "max_delay_ms": self.max_delay_ms,
            "workers": self.workers,
            "cross_request": self.cross_request,
            "max_inflight": self.max_inflight,
            "timeout_s": self.timeout_s,
            "max_upload_mb": round(self.max_upload_bytes / 2**20, 3),
            "max_pixels": self.max_pixels,
            "max_slices": self.max_slices,
            "max_slice": self.max_slice,
            "min_conf": self.min_conf,
            "default_conf": self.default_conf,
            "auth": self.api_key is not None,
        }
