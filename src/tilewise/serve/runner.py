"""Running the app under uvicorn: bind, announce, drain on SIGTERM, exit cleanly.

``run_server`` binds the socket itself (so ``port=0`` picks a free port and the address
is known), prints one line ``tilewise serve: listening on http://HOST:PORT`` once the
model is loaded and requests are taken, and on SIGTERM or Ctrl-C drains: new requests are
refused (503 ``shutting_down`` on open connections, no new connections), admitted ones
finish (up to ``graceful_timeout_s``), queued slices are run, then the process exits 0.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any

from tilewise.serve.service import DetectionService

__all__ = ["bind_socket", "run_server"]


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket bound to ``host:port`` (``port=0``: any free port).

    Example:
        >>> sock = bind_socket("127.0.0.1", 0)
        >>> sock.getsockname()[1] > 0
        True
        >>> sock.close()
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _announce(url: str) -> None:
    print(f"tilewise serve: listening on {url}", flush=True)


def run_server(
    app: Any,
    service: DetectionService,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    graceful_timeout_s: float = 30.0,
    log_level: str = "info",
    announce: Callable[[str], None] = _announce,
) -> None:
    """Serve ``app`` until SIGTERM/SIGINT, then drain and return.

    Args:
        app: the ASGI app (``create_app(service)``).
        service: its detection service (drained at the first signal).
        host: address to bind (default loopback only).
        port: TCP port; 0 picks a free one (announced).
        graceful_timeout_s: how long in-flight requests may take to finish after the
            signal before they are cancelled.
        log_level: uvicorn's log level.
        announce: called with the URL once requests are taken.
    """
    import uvicorn

    sock = bind_socket(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}"

    class _Server(uvicorn.Server):  # type: ignore[misc]
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and not self.should_exit:
                announce(url)

        def handle_exit(self, sig: int, frame: Any) -> None:
            service.drain()  # open keep-alive connections now get 503 shutting_down
            super().handle_exit(sig, frame)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await super().shutdown(sockets=sockets)
            # a drained server has done what the signal asked: exit 0, not by the signal
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()

    config = uvicorn.Config(
        app,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_timeout_s,
        lifespan="on",
        access_log=False,
        server_header=False,
    )
    server = _Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        sys.exit(3)  # startup failed (the model or the app did not start)
