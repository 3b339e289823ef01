"""Writing MP4 (H.264 through PyAV) on its own thread, atomically."""

from __future__ import annotations

import contextlib
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.sources.video import import_av

__all__ = ["VideoWriter", "write_video"]

_DONE = object()

FrameHook = Callable[[np.ndarray, Any], np.ndarray]
"""Runs on the writer thread: ``(pixels, payload) -> pixels to encode`` (e.g. annotation)."""


class VideoWriter:
    """An H.264 MP4 written frame by frame on a background thread.

    Frames go through a bounded queue (``queue_size``) to the writer thread, which runs
    the optional ``hook`` (annotation), converts to YUV 4:2:0 and encodes. The file is
    written next to ``path`` under a temporary name and moved into place by ``close``;
    ``abort`` (or an error) removes it, so ``path`` is either complete or absent.
    Frames are timed by the ``time`` given to ``write`` (millisecond timestamps), so a
    variable-rate or strided input keeps its timing. Odd frame sizes lose their last
    column/row (4:2:0 needs even sizes).

    Args:
        path: the ``.mp4`` to write.
        fps: the nominal frame rate given to the encoder.
        hook: ``(pixels, payload) -> pixels``, run on the writer thread before encoding.
        crf: x264 quality (lower is better, 23 is the default).
        preset: x264 speed preset.
        queue_size: frames waiting for the writer thread, at most.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.mp4"
        >>> with VideoWriter(path, fps=10) as writer:
        ...     for i in range(3):
        ...         writer.write(np.zeros((48, 64, 3), np.uint8), time=i / 10)
        >>> path.is_file(), writer.frames
        (True, 3)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        *,
        hook: FrameHook | None = None,
        crf: int = 23,
        preset: str = "veryfast",
        queue_size: int = 8,
    ) -> None:
        import_av()
        if isinstance(fps, bool) or not np.isfinite(float(fps)) or float(fps) <= 0:
            raise TilewiseError(f"fps must be a number > 0, got {fps!r}")
        self.path = Path(path)
        self.fps = float(fps)
        self.hook = hook
        self.crf = int(crf)
        self.preset = str(preset)
        self.frames = 0
        self._queued = 0
        self._aborting = False
        self.seconds = 0.0  # writer-thread time: hook, conversion and encoding
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(int(queue_size), 1))
        self._error: BaseException | None = None
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp.mp4", dir=self.path.parent
            )
        except OSError as exc:
            raise TilewiseError(f"cannot write {self.path}: {exc}") from None
        os.close(fd)
        self._tmp = Path(tmp)
        self._thread = threading.Thread(target=self._run, name="tilewise-encode", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        av = import_av()
        container = None
        stream = None
        last_pts = -1
        t_first: float | None = None
        try:
            container = av.open(str(self._tmp), mode="w", format="mp4")
            while True:
                item = self._queue.get()
                if item is _DONE or self._aborting:
                    break
                pixels, t, payload = item  # type: ignore[misc]
                t0 = time.perf_counter()
                if self.hook is not None:
                    pixels = self.hook(pixels, payload)
                if stream is None:
                    rate = Fraction(self.fps).limit_denominator(1001)
                    stream = container.add_stream("libx264", rate=rate)
                    stream.width = pixels.shape[1] // 2 * 2
                    stream.height = pixels.shape[0] // 2 * 2
                    stream.pix_fmt = "yuv420p"
                    stream.time_base = Fraction(1, 1000)
                    stream.codec_context.time_base = Fraction(1, 1000)
                    stream.options = {"crf": str(self.crf), "preset": self.preset}
                    t_first = t
                assert t_first is not None
                image = np.ascontiguousarray(pixels[: stream.height, : stream.width])
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                pts = max(round((t - t_first) * 1000), last_pts + 1)
                frame.pts, frame.time_base = pts, Fraction(1, 1000)
                last_pts = pts
                for packet in stream.encode(frame):
                    container.mux(packet)
                self.frames += 1
                self.seconds += time.perf_counter() - t0
            if stream is not None:
                t0 = time.perf_counter()
                for packet in stream.encode():
                    container.mux(packet)
                self.seconds += time.perf_counter() - t0
        except BaseException as exc:
            self._error = exc
            while True:  # unblock the producer
                try:
                    if self._queue.get_nowait() is _DONE:
                        break
                except queue.Empty:
                    break
        finally:
            if container is not None:
                try:
                    container.close()
                except Exception as exc:  # pragma: no cover - disk full, etc.
                    self._error = self._error or exc

    def _check(self) -> None:
        if self._error is not None:
            exc = self._error
            raise TilewiseError(f"writing {self.path} failed: {exc}") from exc

    # ------------------------------------------------------------------ producer side
    def write(self, pixels: np.ndarray, *, time: float | None = None, payload: Any = None) -> None:
        """Queue one frame (``H x W x 3`` uint8 RGB) shown at ``time`` seconds.

        ``time`` defaults to ``frames / fps``; ``payload`` is passed to the hook.
        """
        if self._closed:
            raise TilewiseError(f"{self.path}: the writer is closed")
        self._check()
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
            raise TilewiseError(
                f"frames must be H x W x 3 uint8 RGB, got {pixels.dtype} {pixels.shape}"
            )
        t = self._queued / self.fps if time is None else float(time)
        self._queued += 1
        while True:
            try:
                self._queue.put((pixels, t, payload), timeout=0.1)
                return
            except queue.Full:
                self._check()
                if not self._thread.is_alive():
                    self._check()
                    raise TilewiseError(f"{self.path}: the writer thread stopped") from None

    def close(self) -> Path:
        """Encode what is queued, finish the file and move it into place; returns ``path``."""
        if self._closed:
            self._check()
            return self.path
        self._closed = True
        self._queue.put(_DONE)
        self._thread.join()
        if self._error is not None or self.frames == 0:
            self._tmp.unlink(missing_ok=True)
            if self._error is None:
                raise TilewiseError(f"{self.path}: no frame was written")
            self._check()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Stop writing and remove the partial file (``path`` is left as it was)."""
        if not self._closed:
            self._closed = True
            self._error = self._error or TilewiseError("aborted")
            self._aborting = True
            with contextlib.suppress(queue.Empty):
                while True:  # drop what waits: the thread stops at _DONE
                    self._queue.get_nowait()
            self._queue.put(_DONE)
            self._thread.join(timeout=30)
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float = 30.0,
    *,
    crf: int = 23,
    faststart: bool = False,
) -> Path:
    """Write RGB frames to an H.264 MP4 at a constant ``fps`` (atomically); returns ``path``.

    With ``faststart`` the index (moov atom) goes first, so a truncated copy stays readable
    up to the cut (used to test damaged files).

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.mp4"
        >>> write_video(path, [np.zeros((32, 32, 3), np.uint8)] * 2, 5).name
        'a.mp4'
    """
    from tilewise.fileio import atomic_path

    av = import_av()
    target = Path(path)
    with atomic_path(target) as tmp:
        options = {"movflags": "faststart"} if faststart else {}
        with av.open(str(tmp), mode="w", format="mp4", options=options) as container:
            stream = None
            for image in frames:
                if stream is None:
                    rate = Fraction(float(fps)).limit_denominator(1001)
                    stream = container.add_stream("libx264", rate=rate)
                    stream.width, stream.height = image.shape[1] // 2 * 2, image.shape[0] // 2 * 2
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(int(crf)), "preset": "veryfast"}
                pixels = np.ascontiguousarray(image[: stream.height, : stream.width])
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    container.mux(packet)
            if stream is None:
                raise TilewiseError(f"{target}: no frames to write")
            for packet in stream.encode():
                container.mux(packet)
    return target
