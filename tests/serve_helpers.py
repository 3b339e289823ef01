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
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
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


# ---------------------------------------------------------------------- bad input
def png_claiming(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def bad_input_table(tmp: Path) -> list[tuple[str, dict, int, str]]:
    """(case, how to send it, status, error) — at least ten ways to send something wrong."""
    from PIL import Image

    from tests.conftest import make_scene

    good = scene_png(0)
    jpeg = jpeg_bytes(make_scene((300, 220), 30, seed=7)[0])
    noise = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    gif = tmp / "a.gif"
    Image.fromarray(make_scene((64, 48), 3, seed=1)[0]).save(gif)
    return [
        ("empty file", {"data": b"", "name": "empty.jpg"}, 400, "empty_file"),
        ("text named .jpg", {"data": b"hello, not a photo\n" * 20, "name": "a.jpg"}, 415,
         "unsupported_media_type"),
        ("truncated JPEG", {"data": jpeg[: len(jpeg) // 2], "name": "cut.jpg"}, 400,
         "truncated_image"),
        ("JPEG with a damaged header", {"data": jpeg[:300] + noise, "name": "noise.jpg"}, 400,
         "corrupt_image"),
        ("PNG header claiming 100000x100000", {"data": png_claiming(100_000, 100_000),
         "name": "bomb.png"}, 413, "too_many_pixels"),
        ("GIF (not accepted)", {"data": gif.read_bytes(), "name": "a.gif"}, 415,
         "unsupported_media_type"),
        ("120 MB upload, Expect: 100-continue", {"huge": 120_000_000, "expect": True}, 413,
         "upload_too_large"),
        ("120 MB upload sent whole", {"huge": 120_000_000, "expect": False}, 413,
         "upload_too_large"),
        ("overlap out of range", {"data": good, "fields": {"overlap": "1.5"}}, 422,
         "invalid_parameter"),
        ("overlap unparsable", {"data": good, "fields": {"overlap": "abc"}}, 422,
         "invalid_parameter"),
        ("slice 0", {"data": good, "fields": {"slice": "0"}}, 422, "invalid_parameter"),
        ("unknown merge", {"data": good, "fields": {"merge": "best"}}, 422, "invalid_parameter"),
        ("conf over 1", {"data": good, "fields": {"conf": "2"}}, 422, "invalid_parameter"),
        ("unknown class", {"data": good, "fields": {"classes": "dog"}}, 422,
         "invalid_parameter"),
        ("misspelt field", {"data": good, "fields": {"overlpa": "0.2"}}, 422,
         "invalid_parameter"),
        ("too many slices", {"data": good, "fields": {"slice": "16", "overlap": "0.95"}}, 422,
         "too_many_slices"),
        ("zoom 0", {"data": good, "fields": {"zoom": "0"}}, 422, "invalid_parameter"),
        ("zoom negative", {"data": good, "fields": {"zoom": "-1.5"}}, 422, "invalid_parameter"),
        ("zoom NaN", {"data": good, "fields": {"zoom": "NaN"}}, 422, "invalid_parameter"),
        ("scales not JSON", {"data": good, "fields": {"scales": "320@1"}}, 422,
         "invalid_parameter"),
        ("scales malformed", {"data": good, "fields": {"scales": "[[64, 1, 2]]"}}, 422,
         "invalid_parameter"),
        ("scales with a zero zoom", {"data": good, "fields": {"scales": "[[64, 0]]"}}, 422,
         "invalid_parameter"),
        ("zoomed slices over max_slice", {"data": good, "fields": {"slice": "64",
         "zoom": "100"}}, 422, "invalid_parameter"),
        ("no image field", {"data": good, "no_image": True}, 422, "invalid_parameter"),
        ("JSON body", {"json": {"image": "x"}}, 422, "invalid_parameter"),
        ("multipart without a boundary", {"broken": True}, 400, "bad_request"),
        ("multipart with the image part cut off", {"cut": True}, 422, "invalid_parameter"),
        ("GET /v1/detect", {"get": True}, 405, "method_not_allowed"),
    ]  # fmt: skip


def send_case(server: ServerProcess, how: dict):
    port = server.port
    if "huge" in how:
        size = how["huge"]
        _, ctype = multipart(b"", "big.jpg", {})
        head = (
            f"POST /v1/detect HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {size}\r\n"
            + ("Expect: 100-continue\r\n" if how["expect"] else "")
            + "\r\n"
        ).encode()
        if how["expect"]:
            return raw_exchange(port, head, wait_first=10)
        chunk = b"\0" * (1 << 20)
        chunks = [chunk] * (size // len(chunk)) + [b"\0" * (size % len(chunk))]
        return raw_exchange(port, head, chunks)
    if how.get("get"):
        return server.get("/v1/detect")
    if "json" in how:
        return request(
            port, "POST", "/v1/detect", json.dumps(how["json"]).encode(),
            {"Content-Type": "application/json"},
        )  # fmt: skip
    if how.get("broken"):
        return request(
            port, "POST", "/v1/detect", b"image=abc", {"Content-Type": "multipart/form-data"}
        )
    if how.get("cut"):
        return request(
            port, "POST", "/v1/detect",
            b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\nab',
            {"Content-Type": "multipart/form-data; boundary=xyz"},
        )  # fmt: skip
    if how.get("no_image"):
        body, ctype = multipart(b"", "", {"slice": "auto"}, field_name="")
        return request(port, "POST", "/v1/detect", body, {"Content-Type": ctype})
    return server.detect(how["data"], how.get("name", "image.png"), how.get("fields"))
