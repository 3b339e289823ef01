"""Why a request was refused: one reason per refusal, its HTTP status and its JSON body.

Every refusal the service gives is a ``ServeError`` with a ``Refusal`` reason; the app
turns it into ``{"error": reason, "detail": message}`` with the reason's status and
counts it in ``/metrics`` (``tilewise_serve_refused_total{reason=...}``).
"""

from __future__ import annotations

from typing import Any

from tilewise.choices import Choice
from tilewise.errors import TilewiseError

__all__ = ["STATUS", "Refusal", "ServeError", "error_body"]


class Refusal(Choice):
    """Reasons a request is refused (the ``error`` field of the JSON body)."""

    UNAUTHORIZED = "unauthorized"
    UPLOAD_TOO_LARGE = "upload_too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    EMPTY_FILE = "empty_file"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    TRUNCATED_IMAGE = "truncated_image"
    CORRUPT_IMAGE = "corrupt_image"
    INVALID_PARAMETER = "invalid_parameter"
    TOO_MANY_SLICES = "too_many_slices"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    OVERLOADED = "overloaded"
    SHUTTING_DOWN = "shutting_down"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    MODEL_ERROR = "model_error"
    INTERNAL_ERROR = "internal_error"

    @classmethod
    def option_name(cls) -> str:
        """Name used in parse errors."""
        return "refusal"

    @property
    def status(self) -> int:
        """The HTTP status answered for this reason.

        Example:
            >>> Refusal.TOO_MANY_PIXELS.status, Refusal.OVERLOADED.status
            (413, 503)
        """
        return STATUS[self]

    @property
    def client_error(self) -> bool:
        """Whether the client's input caused it (a 4xx), not the server (a 5xx)."""
        return self.status < 500


STATUS: dict[Refusal, int] = {
    Refusal.UNAUTHORIZED: 401,
    Refusal.UPLOAD_TOO_LARGE: 413,
    Refusal.TOO_MANY_PIXELS: 413,
    Refusal.EMPTY_FILE: 400,
    Refusal.UNSUPPORTED_MEDIA_TYPE: 415,
    Refusal.TRUNCATED_IMAGE: 400,
    Refusal.CORRUPT_IMAGE: 400,
    Refusal.INVALID_PARAMETER: 422,
    Refusal.TOO_MANY_SLICES: 422,
    Refusal.BAD_REQUEST: 400,
    Refusal.NOT_FOUND: 404,
    Refusal.METHOD_NOT_ALLOWED: 405,
    Refusal.OVERLOADED: 503,
    Refusal.SHUTTING_DOWN: 503,
    Refusal.DEADLINE_EXCEEDED: 504,
    Refusal.MODEL_ERROR: 500,
    Refusal.INTERNAL_ERROR: 500,
}
"""HTTP status per refusal reason."""


class ServeError(TilewiseError):
    """A refused request: the reason (hence the status) and what was expected.

    Args:
        reason: why, a ``Refusal`` or its value.
        detail: what was wrong and what is expected, for the client.
        retry_after: seconds for a ``Retry-After`` header (overload, shutdown).

    Example:
        >>> err = ServeError("invalid_parameter", "overlap must be in [0, 1), got 1.5")
        >>> err.status, error_body(err)
        (422, {'error': 'invalid_parameter', 'detail': 'overlap must be in [0, 1), got 1.5'})
    """

    def __init__(self, reason: Refusal | str, detail: str, *, retry_after: int | None = None):
        super().__init__(detail)
        self.reason = Refusal.parse(reason)
        self.detail = detail
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        """The HTTP status of the answer."""
        return self.reason.status

    def headers(self) -> dict[str, str]:
        """Response headers: ``Retry-After`` where set."""
        return {} if self.retry_after is None else {"Retry-After": str(int(self.retry_after))}


def error_body(error: ServeError) -> dict[str, Any]:
    """The JSON body of a refusal: ``{"error": reason, "detail": message}``."""
    return {"error": error.reason.value, "detail": error.detail}
