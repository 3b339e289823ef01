"""The ASGI guard in front of the app: counting, auth, body size and admission.

It sees every HTTP request before the app parses anything:

* every answer is counted by route and status (``/metrics``), detect latencies timed;
* ``/v1/*`` without the API key (when one is set) is answered 401;
* ``POST /v1/detect`` whose ``Content-Length`` is over the upload limit is answered 413
  without parsing its body: at once for a client waiting on ``Expect: 100-continue``
  (curl), else after reading and dropping the body up to twice the limit, so that a
  client sending it anyway reads the answer (larger ones are cut off). A body without a
  length is counted while read and answered 413 once it passes the limit (the rest is
  dropped up to the limit again); the connection is then closed;
* ``POST /v1/detect`` is admitted by ``DetectionService.admit`` (a ``Ticket`` in
  ``scope["tilewise.ticket"]``, released when the answer is sent) or answered 503 with
  ``Retry-After`` when ``max_inflight`` requests are in flight or the server drains.

Plain ASGI, no framework import: refusals are written here as JSON with the same
``{"error", "detail"}`` body as the app's, and counted by reason.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tilewise.serve.errors import Refusal, ServeError, error_body
from tilewise.serve.service import DetectionService

__all__ = ["DETECT_PATH", "ROUTES", "Guard"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DETECT_PATH = "/v1/detect"
ROUTES = frozenset({"/", DETECT_PATH, "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"})
"""Routes counted under their own label; anything else is counted as ``other``."""


class _BodyTooLargeError(Exception):
    """Raised by the counting ``receive`` once the body passes the limit."""


def api_key_matches(headers: list[tuple[bytes, bytes]], key: str) -> bool:
    """Whether ``X-API-Key: key`` or ``Authorization: Bearer key`` is among the headers.

    Example:
        >>> api_key_matches([(b"x-api-key", b"s3cret")], "s3cret")
        True
        >>> api_key_matches([(b"authorization", b"Bearer nope")], "s3cret")
        False
    """
    wanted = key.encode()
    for name, value in headers:
        if name == b"x-api-key" and hmac.compare_digest(value.strip(), wanted):
            return True
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), wanted):
                return True
    return False


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _expects_continue(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k == b"expect" and v.lower().startswith(b"100") for k, v in headers)


async def send_refusal(send: Send, error: ServeError) -> None:
    """Write a refusal: its status, ``Retry-After`` where set, and the JSON body."""
    body = json.dumps(error_body(error)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers().items()]
    if error.reason in (Refusal.UPLOAD_TOO_LARGE, Refusal.OVERLOADED, Refusal.SHUTTING_DOWN):
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: counts answers, checks the API key, the body size and admission.

    Args:
        app: the ASGI app behind it.
        service: the detection service (its config, metrics and admission).
    """

    def __init__(self, app: ASGIApp, service: DetectionService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope (HTTP requests are guarded, the rest pass)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route = path if path in ROUTES else "other"
        started = time.perf_counter()
        status = {"code": 500, "sent": False}

        async def counted_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
                status["sent"] = True
            await send(message)

        try:
            await self._guarded(scope, receive, counted_send, path)
        finally:
            seconds = time.perf_counter() - started if route == DETECT_PATH else None
            self.service.metrics.answered(route, status["code"], seconds)

    async def _refuse(self, send: Send, error: ServeError) -> None:
        self.service.metrics.refused(error.reason.value)
        await send_refusal(send, error)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        cfg = self.service.config
        headers = list(scope.get("headers") or [])
        key = cfg.api_key
        if path.startswith("/v1/") and key is not None and not api_key_matches(headers, key):
            await self._refuse(
                send,
                ServeError(
                    Refusal.UNAUTHORIZED,
                    "this server needs an API key: send it as 'X-API-Key: KEY' or "
                    "'Authorization: Bearer KEY'",
                ),
            )
            return
        if path != DETECT_PATH or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        limit = cfg.max_upload_bytes
        length = _content_length(headers)
        if length is not None and length > limit:
            if not _expects_continue(headers) and length <= 2 * limit:
                # the client sends the body anyway: read and drop it, so it reads the 413
                await _drain(receive, {"more": True}, length)
            await self._refuse(send, _too_large(limit, length))
            return
        try:
            ticket = self.service.admit()
        except ServeError as exc:
            await self._refuse(send, exc)
            return
        scope["tilewise.ticket"] = ticket
        state = {"read": 0, "too_large": False, "more": True}
        scope["tilewise.body"] = state

        async def counting_receive() -> Message:
            if state["too_large"]:
                raise _BodyTooLargeError
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                state["more"] = bool(message.get("more_body", False))
                if state["read"] > limit:
                    state["too_large"] = True
                    raise _BodyTooLargeError
            return message

        held = {"started": False}

        async def held_send(message: Message) -> None:
            if state["too_large"]:
                return  # the app's answer to a cut-off body is replaced by the 413
            held["started"] = True
            await send(message)

        try:
            await self.app(scope, counting_receive, held_send)
        except _BodyTooLargeError:
            pass
        finally:
            self.service.release(ticket)
        if state["too_large"] and not held["started"]:
            await _drain(receive, state, limit)
            await self._refuse(send, _too_large(limit, None))


def _too_large(limit: int, length: int | None) -> ServeError:
    size = f" ({length:,} bytes)" if length is not None else ""
    return ServeError(
        Refusal.UPLOAD_TOO_LARGE,
        f"the upload{size} is over this server's limit of {limit:,} bytes "
        f"({limit / 2**20:g} MiB); send a smaller image",
    )


async def _drain(receive: Receive, state: dict[str, Any], limit: int) -> None:
    """Read and drop the rest of a refused body, up to ``limit`` more bytes."""
    dropped = 0
    while state["more"] and dropped <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        dropped += len(message.get("body", b""))
        state["more"] = bool(message.get("more_body", False))
