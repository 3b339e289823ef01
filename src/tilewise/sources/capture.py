"""Webcams and network streams (RTSP, HTTP...) as frame sources, through OpenCV capture.

A stream that drops (a read fails) is reopened, up to ``retries`` times in a row with a
growing wait; every failed read and reconnect is counted. A local file given here is read
once to its end (no reconnecting), which is how the tests exercise this source.
"""

from __future__ import annotations

import os
import time as _time
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from tilewise.errors import TilewiseError
from tilewise.sources.frames import (
    BaseFrameSource,
    Decision,
    Frame,
    FrameSelection,
    FrameSelector,
)

__all__ = ["STREAM_SCHEMES", "CaptureSource", "is_stream_url"]

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
"""URL schemes read as live streams."""


def is_stream_url(text: str) -> bool:
    """Whether ``text`` is a URL of a live stream (``rtsp://``, ``http://``...).

    Example:
        >>> is_stream_url("rtsp://camera.local/live"), is_stream_url("clip.mp4")
        (True, False)
    """
    scheme, sep, _ = str(text).partition("://")
    return bool(sep) and scheme.lower() in STREAM_SCHEMES


def _open_capture(target: int | str) -> Any:
    """``cv2.VideoCapture`` of ``target`` (tests replace this to simulate drops)."""
    return cv2.VideoCapture(target)


class CaptureSource(BaseFrameSource):
    """Frames from ``cv2.VideoCapture``: a webcam (its number), a stream URL or a file.

    Live sources (a device number or a stream URL, or ``live=True``) have no end: reading
    stops at ``end``, ``max_frames``, when the consumer stops, or when the stream cannot
    be reopened after ``retries`` attempts in a row (``stats.damaged`` says so). Times of
    live frames are seconds since the first frame (wall clock); a file's times are its
    timestamps. Skipped frames are grabbed but not decoded to RGB.

    Args:
        target: a device number (``0``), a stream URL, or a video file path.
        selection: stride, time range, max frames (``FrameSelection``).
        retries: reopen attempts in a row after a failed read of a live source.
        retry_wait: seconds before the first reopen; doubles with each attempt.
        live: treat the target as a live stream (default: device numbers and URLs).
        queue_size: frames read ahead of the consumer.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from tilewise.video import write_video
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.mp4"
        >>> _ = write_video(path, (np.zeros((64, 64, 3), np.uint8) for _ in range(5)), 10)
        >>> src = CaptureSource(str(path), FrameSelection(max_frames=2))
        >>> [f.index for f in src], src.stats.stopped
        ([0, 1], 'max_frames')
    """

    def __init__(
        self,
        target: int | str | os.PathLike[str],
        selection: FrameSelection | None = None,
        *,
        retries: int = 5,
        retry_wait: float = 0.5,
        live: bool | None = None,
        queue_size: int = 4,
    ) -> None:
        super().__init__(selection, queue_size)
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        self.target: int | str = target if isinstance(target, int) else os.fspath(target)
        self.name = f"camera {target}" if isinstance(target, int) else str(self.target)
        self.live = (
            bool(live)
            if live is not None
            else isinstance(self.target, int) or is_stream_url(str(self.target))
        )
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise TilewiseError(f"retries must be an int >= 0, got {retries!r}")
        if not np.isfinite(retry_wait) or retry_wait < 0:
            raise TilewiseError(f"retry_wait must be seconds >= 0, got {retry_wait!r}")
        self.retries = retries
        self.retry_wait = float(retry_wait)

    def _reopen(self, cap: Any, attempt: int) -> Any:
        cap.release()
        _time.sleep(self.retry_wait * 2 ** max(attempt - 1, 0))
        self.stats.reconnects += 1
        return _open_capture(self.target)

    def _decode(self, selector: FrameSelector) -> Iterator[Frame]:
        stats = self.stats
        cap = _open_capture(self.target)
        try:
            attempt = 0
            while not cap.isOpened():
                if not self.live or attempt >= self.retries:
                    raise TilewiseError(f"{self.name}: OpenCV could not open it")
                attempt += 1
                cap = self._reopen(cap, attempt)
            fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            self.fps = fps if fps > 0 else None
            if not self.live:
                count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
                stats.expected_frames = count if count > 0 else None
            t0: float | None = None
            index = -1
            last: float | None = None
            attempt = 0
            while True:
                if not cap.grab():
                    if not self.live:
                        break
                    stats.drop("read_failed")
                    if attempt >= self.retries:
                        stats.damaged = (
                            f"the stream dropped and could not be reopened after {attempt} "
                            "attempt(s)"
                        )
                        stats.stopped = "damage"
                        break
                    attempt += 1
                    cap = self._reopen(cap, attempt)
                    continue
                attempt = 0
                if self.live:
                    now = _time.monotonic()
                    t0 = now if t0 is None else t0
                    time = round(now - t0, 6)
                else:
                    time = round(float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0, 6)
                    if index >= 0 and last is not None and time <= 0 < last:
                        time = last + 1.0 / (self.fps or 30.0)  # some backends report 0
                        stats.inferred_time += 1
                index += 1
                decision = selector.decide(time)
                if decision is Decision.STOP:
                    break
                stats.saw(time)
                last = time
                if decision is Decision.SKIP:
                    continue
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    stats.drop("retrieve_failed")
                    continue
                rgb = np.ascontiguousarray(bgr[..., ::-1]) if bgr.ndim == 3 else bgr
                if rgb.ndim == 2:
                    rgb = np.repeat(rgb[..., None], 3, axis=2)
                rgb.flags.writeable = False
                if self.frame_wh is None:
                    self.frame_wh = (int(rgb.shape[1]), int(rgb.shape[0]))
                yield Frame(index, time, rgb)
                if selector.done:
                    stats.stopped = "max_frames"
                    break
        finally:
            cap.release()
        if stats.decoded == 0 and stats.stopped in ("end", "damage"):
            raise TilewiseError(f"{self.name}: no frame could be read")
        if stats.damaged is not None:
            self._notes.append(f"{self.name}: {stats.damaged}; {stats.decoded} frame(s) read")

    def describe(self) -> dict[str, Any]:
        """Kind, name, whether live, retries and the last iteration's counts."""
        return {**super().describe(), "live": self.live, "retries": self.retries}
