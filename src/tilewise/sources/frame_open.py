"""Picking the frame source for what a caller names: a file, a folder, a glob, a URL, a camera."""

from __future__ import annotations

import os
from pathlib import Path

from tilewise.errors import TilewiseError
from tilewise.images import ReadOptions
from tilewise.sources.capture import CaptureSource, is_stream_url
from tilewise.sources.frames import BaseFrameSource, FrameSelection
from tilewise.sources.sequence import ImageSequenceSource, is_glob

__all__ = ["VIDEO_SUFFIXES", "is_frame_input", "open_frames"]

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".mpg", ".mpeg", ".wmv",
     ".flv", ".3gp", ".ogv", ".h264", ".h265", ".hevc", ".ivf", ".y4m"}
)  # fmt: skip
"""File suffixes read as video (through PyAV)."""


def is_frame_input(target: str | os.PathLike[str] | int) -> bool:
    """Whether ``target`` names frames (a video file, a folder, a glob, a stream, a camera).

    Example:
        >>> is_frame_input("clip.MP4"), is_frame_input("0"), is_frame_input("photo.jpg")
        (True, True, False)
    """
    if isinstance(target, int):
        return True
    text = os.fspath(target)
    if text.isdigit() or is_stream_url(text) or is_glob(text):
        return True
    path = Path(text)
    return path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES


def open_frames(
    target: str | os.PathLike[str] | int,
    selection: FrameSelection | None = None,
    *,
    fps: float | None = None,
    read: ReadOptions | None = None,
    retries: int = 5,
    queue_size: int = 4,
) -> BaseFrameSource:
    """The frame source for ``target``.

    * a device number (``0`` or ``"0"``) or a stream URL (``rtsp://``, ``http://``...):
      ``CaptureSource`` (OpenCV), reopened up to ``retries`` times when it drops;
    * a folder or a glob: ``ImageSequenceSource`` at ``fps`` (default 30), read with
      ``read``;
    * any other file: ``VideoFileSource`` (PyAV, the ``video`` extra).

    Raises:
        TilewiseError: the file or folder does not exist, cannot be read, or has no frames.

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = cv2.imwrite(str(d / "0.png"), np.zeros((8, 8, 3), np.uint8))
        >>> type(open_frames(d)).__name__, type(open_frames(str(d / "*.png"))).__name__
        ('ImageSequenceSource', 'ImageSequenceSource')
    """
    if isinstance(target, bool):
        raise TilewiseError(f"not a frame source: {target!r}")
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return CaptureSource(int(target), selection, retries=retries, queue_size=queue_size)
    text = os.fspath(target)
    if is_stream_url(text):
        return CaptureSource(text, selection, retries=retries, queue_size=queue_size)
    if is_glob(text) or Path(text).is_dir():
        return ImageSequenceSource(
            text, selection, fps=30.0 if fps is None else fps, read=read, queue_size=queue_size
        )
    from tilewise.sources.video import VideoFileSource

    if not Path(text).exists():
        raise TilewiseError(f"no such file: {text}")
    return VideoFileSource(text, selection, queue_size=queue_size)
