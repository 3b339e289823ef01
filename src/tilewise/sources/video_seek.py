"""Starting a video file's decode at ``start`` by seeking, with exact frame indices.

``VideoFileSource`` with ``FrameSelection(start=...)`` does not decode the frames before
the start: it seeks the container to the keyframe at or before the start time (FFmpeg's
index), decodes forward from there, and skips the frames still before the start. Frame
indices and times stay those of a decode from the beginning:

* the time of a frame is its own timestamp minus the stream's start time, the same
  formula as without seeking;
* the index of the first frame decoded after the seek is the number of frames presented
  before it, counted by *demuxing* (reading packets, not decoding them) from the
  beginning up to the start, in the same container before it seeks: one frame per
  packet, in presentation (timestamp) order. This is exact for variable frame rates and
  B-frames, and costs reading the file's bytes up to the start, not decoding them.

When the seek cannot be made exact the source decodes from the beginning instead (the
old way: slower, same result) and says why in ``FrameStats.seek_fallback``: a stream
without a start time or time base, a seek FFmpeg refuses (a non-seekable input), a seek
that lands after the start even when asked for an earlier time, packets without
timestamps or with duplicate timestamps before the start (their order, hence the index,
would be a guess), or a decoding error right after the seek.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["SeekStart", "count_frames_before", "seek_start", "timestamps_before"]

BACKOFF_SECONDS = (0.0, 1.0, 10.0, 60.0)
"""Seek targets tried, in seconds before the start: a demuxer whose index is by decode
time (MP4) may land on a keyframe presented just after the requested time."""


class SeekStart(NamedTuple):
    """A decode that starts after a seek.

    Attributes:
        frames: the decoded frames, from the first one after the seek.
        first_index: that first frame's index in a decode from the beginning.
    """

    frames: Iterator[Any]
    first_index: int


def timestamps_before(container: Any, stream: Any, pts: int) -> list[int] | str:
    """The sorted presentation timestamps of the frames decoded before ``pts``; or why not.

    Demuxes ``container`` from its current position (the beginning) without decoding.
    Packets the decoder never outputs (empty flush packets, packets flagged discard by an
    edit list) are left out. Reading stops at the first packet whose decode timestamp
    reaches ``pts``: every later packet is presented at or after it. The caller seeks the
    container afterwards.
    """
    seen: set[int] = set()
    for packet in container.demux(stream):
        if packet.size == 0 or packet.is_discard:
            continue
        if packet.pts is None:
            return "a packet before the start has no timestamp"
        if packet.dts is not None and packet.dts >= pts:
            break
        if packet.pts in seen:
            return "two packets before the start share a timestamp"
        seen.add(packet.pts)
    return sorted(seen)


def count_frames_before(av: Any, path: Path, stream_index: int, pts: int) -> int | str:
    """Frames presented before timestamp ``pts`` in a file, counted by demuxing; or why not.

    Example:
        >>> import tempfile, pathlib, numpy as np, av
        >>> from tilewise.video import write_video
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.mp4"
        >>> _ = write_video(path, (np.zeros((32, 32, 3), np.uint8) for _ in range(5)), 25)
        >>> with av.open(str(path)) as c:
        ...     ticks = sorted(f.pts for f in c.decode(video=0))
        >>> [count_frames_before(av, path, 0, t) for t in ticks]
        [0, 1, 2, 3, 4]
    """
    with av.open(str(path), mode="r") as container:
        found = timestamps_before(container, container.streams[stream_index], pts)
    return found if isinstance(found, str) else bisect.bisect_left(found, pts)


def seek_start(
    av: Any, container: Any, stream: Any, start: float, origin: float | None
) -> SeekStart | str:
    """Seek ``container`` to decode from the keyframe at or before ``start``; or why not.

    The container must be at its beginning: the timestamps before the start are read
    first (``timestamps_before``), then it is seeked.

    Args:
        av: the PyAV module.
        container: the open input container (read, then seeked in place).
        stream: its video stream.
        start: seconds from the stream's start.
        origin: the stream's start time in seconds (None: unknown, no seek).

    Returns:
        ``SeekStart`` whose first frame is at or before ``start``, or the reason the seek
        was not made exact (the caller then decodes from the beginning).
    """
    if origin is None:
        return "the stream has no start time"
    if stream.time_base is None:
        return "the stream has no time base"
    time_base = float(stream.time_base)
    try:
        before = timestamps_before(container, stream, int((origin + start) / time_base) + 1)
    except av.FFmpegError as exc:
        return f"reading the packets before the start failed ({exc})"
    if isinstance(before, str):
        return before
    first = None
    frames: Iterator[Any] = iter(())
    for back in BACKOFF_SECONDS:
        target = max(start - back, 0.0)
        try:
            container.seek(
                int((origin + target) / time_base), stream=stream, backward=True, any_frame=False
            )
            frames = container.decode(stream)
            first = next(frames, None)
        except av.FFmpegError as exc:
            return f"seeking failed ({exc})"
        if first is None:
            return "nothing could be decoded after seeking"
        if first.pts is None or first.time is None:
            return "the frame after the seek has no timestamp"
        if round(float(first.time) - origin, 9) <= start:
            break
        if target == 0.0:
            return "seeking to the beginning landed after the start"
    else:
        return "every seek landed after the start"
    return SeekStart(itertools.chain([first], frames), bisect.bisect_left(before, int(first.pts)))
