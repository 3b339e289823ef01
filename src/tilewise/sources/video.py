"""Video files as frame sources, decoded by PyAV (FFmpeg) on their own thread.

Needs the ``video`` extra (``pip install tilewise[video]``: PyAV). Any codec the PyAV
wheel decodes works (H.264, H.265, VP9, AV1, MPEG-4...).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tilewise.errors import TilewiseError
from tilewise.sources.frames import (
    BaseFrameSource,
    Decision,
    Frame,
    FrameSelection,
    FrameSelector,
)
from tilewise.sources.video_rgb import RGB_CONVERSIONS, RgbConversion, RgbConverter
from tilewise.sources.video_seek import SeekStart, seek_start

__all__ = ["VideoFileSource", "import_av"]


def import_av() -> Any:
    """Import PyAV, or raise a ``TilewiseError`` that says how to install it."""
    try:
        import av
    except ImportError:  # pragma: no cover - av is in the test environment
        raise TilewiseError(
            "reading and writing video files needs PyAV: pip install 'tilewise[video]'"
        ) from None
    return av


class VideoFileSource(BaseFrameSource):
    """A video file's frames, decoded in order by PyAV on a background thread.

    The file is probed when the source is made (a clear error for a missing file, a file
    FFmpeg cannot read, or one without a video stream). With a ``start`` time the source
    seeks to the keyframe at or before it and decodes forward from there
    (``tilewise.sources.video_seek``: indices and times stay exactly those of a decode
    from the beginning; ``stats.skipped_by_seek`` counts the frames jumped over, and
    ``stats.seek_fallback`` says why when it had to decode from the beginning instead).
    From there every frame is decoded (``stride`` skips by decoding, never by seeking),
    but only kept frames are converted to RGB (``rgb``: OpenCV's BT.601 kernel where it is
    exact, else PyAV's swscale; ``tilewise.sources.video_rgb``; ``stats.rgb`` counts the
    frames of each and ``stats.rgb_fallback`` says why PyAV's was used). Times are the
    frames' presentation timestamps, so a variable-frame-rate file gives its real times
    (``stats.vfr`` says so).

    A truncated or damaged file gives its frames up to the damage: ``stats.damaged``
    names the error (or the shortfall) and ``stats.lost_frames`` counts the frames the
    header announced that never came; a warning says so at the end of the iteration. A
    file with no decodable frame raises ``TilewiseError``.

    Args:
        path: the video file.
        selection: stride, time range, max frames (``FrameSelection``).
        queue_size: frames decoded ahead of the consumer.
        threads: let FFmpeg decode with several threads (frame and slice threading).
        seek: seek to ``start`` (default); False decodes from the beginning.
        rgb: ``"opencv"`` (default: 8-bit BT.601 limited-range yuv420p frames through
            ``cv2.cvtColor``, anything else through PyAV) or ``"pyav"`` (always PyAV's
            conversion). The two differ by rounding (a few levels at most).

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from tilewise.video import write_video
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.mp4"
        >>> _ = write_video(path, (np.full((64, 96, 3), 10 * i, np.uint8) for i in range(6)), 25)
        >>> src = VideoFileSource(path, FrameSelection(stride=2))
        >>> [(f.index, f.time, f.pixels.shape) for f in src]
        [(0, 0.0, (64, 96, 3)), (2, 0.08, (64, 96, 3)), (4, 0.16, (64, 96, 3))]
        >>> src.stats.decoded, src.stats.kept, src.fps, src.frame_wh
        (6, 3, 25.0, (96, 64))
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        selection: FrameSelection | None = None,
        *,
        queue_size: int = 4,
        threads: bool = True,
        seek: bool = True,
        rgb: RgbConversion = "opencv",
    ) -> None:
        super().__init__(selection, queue_size)
        self.path = Path(path)
        self.name = str(path)
        self.threads = bool(threads)
        self.seek = bool(seek)
        if rgb not in RGB_CONVERSIONS:
            raise TilewiseError(f"rgb must be one of {', '.join(RGB_CONVERSIONS)}, got {rgb!r}")
        self.rgb: RgbConversion = rgb
        self.codec: str | None = None
        self.expected_frames: int | None = None
        self.expected_exact = False  # the header counts frames (else: duration x rate)
        self.duration: float | None = None
        self._spare: Any = None  # the probed container, kept for the first iteration
        self._probe()

    def _open(self) -> Any:
        av = import_av()
        if not self.path.is_file():
            raise TilewiseError(f"video file not found: {self.path}")
        try:
            container = av.open(str(self.path), mode="r")
        except av.FFmpegError as exc:
            raise TilewiseError(
                f"{self.path}: not a readable video ({exc}); a truncated MP4 loses its index"
                " (moov atom) and cannot be read at all"
            ) from None
        if not container.streams.video:
            container.close()
            raise TilewiseError(f"{self.path}: the file has no video stream")
        return container

    def _probe(self) -> None:
        # Opening costs FFmpeg's stream probing (it decodes a frame: ~0.3 s for 4K H.264
        # on 2 busy cores), so the probed container is kept for the first iteration.
        container = self._open()
        try:
            stream = container.streams.video[0]
            ctx = stream.codec_context
            self.codec = ctx.name
            if ctx.width and ctx.height:
                self.frame_wh = (int(ctx.width), int(ctx.height))
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.fps = float(rate) if rate else None
            if stream.duration is not None and stream.time_base is not None:
                self.duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                self.duration = container.duration / 1_000_000
            if stream.frames:
                self.expected_frames = int(stream.frames)
                self.expected_exact = True
            elif self.duration is not None and self.fps:
                self.expected_frames = round(self.duration * self.fps)
        except BaseException:
            container.close()
            raise
        self._spare = container

    def _decode(self, selector: FrameSelector) -> Iterator[Frame]:
        av = import_av()
        stats = self.stats
        stats.expected_frames = self.expected_frames
        step = 1.0 / self.fps if self.fps else 1.0 / 30.0
        with ExitStack() as stack:
            spare, self._spare = self._spare, None
            container = stack.enter_context(spare or self._open())
            stream = container.streams.video[0]
            if self.threads:
                stream.thread_type = "AUTO"
            origin = None
            if stream.start_time is not None and stream.time_base is not None:
                origin = float(stream.start_time * stream.time_base)
            frames: Iterator[Any] | None = None
            index = -1
            start = self.selection.start
            if start is not None and start > 0 and self.seek:
                sought = seek_start(av, container, stream, start, origin)
                if isinstance(sought, SeekStart):
                    frames, index = sought.frames, sought.first_index - 1
                    stats.seek = "keyframe"
                    stats.skipped_by_seek = sought.first_index
                else:
                    stats.seek, stats.seek_fallback = "fallback", sought
                    container.close()
                    container = stack.enter_context(self._open())  # decode from the start
                    stream = container.streams.video[0]
                    if self.threads:
                        stream.thread_type = "AUTO"
            if frames is None:
                frames = container.decode(stream)
            last: float | None = None
            to_rgb = RgbConverter(self.rgb, stats.rgb)
            try:
                for frame in frames:
                    if frame.pts is None or frame.time is None:
                        time = 0.0 if last is None else last + step
                        stats.inferred_time += 1
                    else:
                        if origin is None:
                            origin = float(frame.time)
                        time = round(float(frame.time) - origin, 9)
                    if last is not None and time < last:
                        stats.drop("bad_timestamp")
                        continue
                    index += 1
                    decision = selector.decide(time)
                    if decision is Decision.STOP:
                        break
                    stats.saw(time)
                    last = time
                    if decision is Decision.SKIP:
                        continue
                    pixels = to_rgb(frame)
                    stats.rgb_fallback = to_rgb.fallback
                    pixels.flags.writeable = False
                    if self.frame_wh is None:
                        self.frame_wh = (int(pixels.shape[1]), int(pixels.shape[0]))
                    yield Frame(index, time, pixels)
                    if selector.done:
                        stats.stopped = "max_frames"
                        break
            except av.FFmpegError as exc:
                stats.damaged = f"decoding stopped after frame {index}: {exc}"
                stats.stopped = "damage"
        if stats.damaged is None and stats.stopped == "end":
            announced = self.expected_frames
            seen = stats.decoded + stats.skipped_by_seek + sum(stats.dropped.values())
            # duration x rate is no frame count on variable-rate video (mkv, ts)
            trusted = self.expected_exact or not stats.vfr
            if announced is not None and trusted and seen < announced:
                # the demuxer hit the end of the data early: a truncated file
                short = announced - seen
                if short > max(1, announced // 100):
                    stats.damaged = (
                        f"the file ended after {stats.decoded} of the {announced} frames its "
                        "header announces (truncated?)"
                    )
                    stats.stopped = "damage"
        if stats.decoded == 0 and stats.stopped in ("end", "damage"):
            why = f": {stats.damaged}" if stats.damaged else ""
            raise TilewiseError(f"{self.path}: no frame could be decoded{why}")
        if stats.damaged is not None:
            lost = stats.lost_frames
            self._notes.append(
                f"{self.path}: {stats.damaged}; kept the {stats.decoded} frame(s) before the "
                f"damage" + (f", {lost} frame(s) lost" if lost else "")
            )

    def close(self) -> None:
        """Close the container kept from probing, if the source was never iterated."""
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()

    def describe(self) -> dict[str, Any]:
        """Kind, name, size, rate, codec, announced frames and the last iteration's counts."""
        return {
            **super().describe(),
            "codec": self.codec,
            "expected_frames": self.expected_frames,
            "duration": self.duration,
            "rgb": self.rgb,
        }
