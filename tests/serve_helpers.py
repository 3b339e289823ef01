"""Helpers for the HTTP service tests: a server process on 127.0.0.1 and a tiny client.

``ServerProcess`` starts ``python -m tilewise.cli serve --port 0 ...`` in the repository
root (so ``--model tests.serve_models:...`` imports), waits for its "listening on" line
and always stops it (SIGTERM, then SIGKILL after a grace period). The client is plain
``http.client``: no dependency, and raw enough to send ``Expect: 100-continue`` and
chunked bodies.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ServerProcess:
    """A ``tilewise serve`` process on 127.0.0.1 with a free port; a context manager."""

    def __init__(self, *args: str, startup_s: float = 90.0) -> None:
        self.args = list(args)
        self.startup_s = startup_s
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self._log = tempfile.TemporaryFile("w+", prefix="tilewise-serve-", suffix=".log")  # noqa: SIM115

    def __enter__(self) -> ServerProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "tilewise.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", "0", "--log-level", "warning", *self.args]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        found: list[str] = []

        def read() -> None:
            assert self.proc is not None
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                if "listening on" in line:
                    found.append(line.rsplit(" ", 1)[-1].strip())
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.startup_s)
        if not found:
            self.stop()
            raise RuntimeError(f"server did not start: {self.log()[-3000:]}")
        self.url = found[0]
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(urlparse(self.url).port or 0)

    def log(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def stop(self, grace_s: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    # ------------------------------------------------------------------ client
    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return request(self.port, "GET", path, headers=headers)

    def detect(
        self,
        data: bytes,
        filename: str = "image.png",
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 120.0,
    ) -> Reply:
        body, ctype = multipart(data, filename, fields or {})
        return request(
            self.port,
            "POST",
            "/v1/detect",
            body,
            {"Content-Type": ctype, **(headers or {})},
            timeout=timeout,
        )


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def multipart(
    data: bytes, filename: str, fields: dict[str, str], field_name: str = "image"
) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(f"{value}\r\n".encode())
    if field_name:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        )
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def raw_exchange(
    port: int, head: bytes, body_chunks: list[bytes] | None = None, wait_first: float = 0.0
) -> Reply:
    """Send a raw request head, then body chunks unless the server answers within
    ``wait_first`` seconds (as a client sending ``Expect: 100-continue`` does)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        first = b""
        if wait_first:
            sock.settimeout(wait_first)
            try:
                first = sock.recv(65536)
            except TimeoutError:
                first = b""
        if not first and body_chunks:
            sock.settimeout(60)
            try:
                for chunk in body_chunks:
                    sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
        sock.settimeout(60)
        data = first
        while True:
            try:
                more = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not more:
                break
            data += more
            if b"\r\n\r\n" in data:
                head_part, _, rest = data.partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":", 1)[1])
                    for line in head_part.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if length and len(rest) >= length[0]:
                    break
    head_part, _, rest = data.partition(b"\r\n\r\n")
    lines = head_part.split(b"\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.decode().strip().lower()] = v.decode().strip()
    return Reply(status, headers, rest)


def png_bytes(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    assert ok
    return buf.tobytes()


def scene_png(i: int, wh: tuple[int, int] = (300, 220)) -> bytes:
    """A PNG of bright squares on black (``tests.conftest.make_scene``), seeded by ``i``."""
    from tests.conftest import make_scene

    return png_bytes(make_scene(wh, 30, seed=100 + i, size=(4, 30))[0])


def jpeg_bytes(image: np.ndarray, quality: int = 92) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [1, quality])
    assert ok
    return buf.tobytes()


def wait_until(predicate: Any, timeout: float = 10.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
