"""Frame sources: videos, image sequences and streams as an ordered sequence of frames.

A ``FrameSource`` is iterable and yields ``Frame(index, time, pixels)``: the 0-based index
of the frame in the source (every decoded frame counts, kept or not), its time in seconds
from the start of the source, and its pixels as a read-only ``H x W x 3`` uint8 RGB array.
Each frame is an image: the ``Slicer`` reads it as an ``ArraySource`` (``Slicer.stream``
batches the slices of consecutive frames together).

Every frame source takes the same selection (``FrameSelection``): ``stride`` (keep every
N-th frame of the time range; the others are decoded or grabbed but never converted to
RGB, with no seeking), ``start``/``end`` (seconds, end exclusive) and ``max_frames``.
Decoding runs on its own thread, at most ``queue_size`` frames ahead of the consumer, so
memory stays flat over any length of video. ``stats`` (``FrameStats``) counts every frame:
decoded, kept, skipped (before the start, by the stride) and dropped, with the reason.

Sources here: ``ArrayFrames`` (arrays in memory, or a render function);
``tilewise.sources.video.VideoFileSource`` (files through PyAV, the ``video`` extra);
``tilewise.sources.sequence.ImageSequenceSource`` (a folder or glob of images);
``tilewise.sources.capture.CaptureSource`` (webcams and streams through OpenCV).
``tilewise.sources.open_frames`` picks one for a path, glob, URL or device number.
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from tilewise.errors import TilewiseError, TilewiseWarning
from tilewise.images import as_rgb

__all__ = [
    "ArrayFrames",
    "BaseFrameSource",
    "Decision",
    "Frame",
    "FrameSelection",
    "FrameSelector",
    "FrameSource",
    "FrameStats",
]


class Frame(NamedTuple):
    """One frame of a frame source.

    Attributes:
        index: 0-based index of the frame in the source (every decoded frame counts).
        time: seconds from the start of the source (the frame's timestamp).
        pixels: ``H x W x 3`` uint8 RGB, read-only.
    """

    index: int
    time: float
    pixels: np.ndarray


def _optional_number(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not np.isfinite(float(value)) or float(value) < 0:
        raise TilewiseError(f"{name} must be a number of seconds >= 0 or None, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class FrameSelection:
    """Which frames a frame source yields.

    Args:
        stride: keep every ``stride``-th frame of the time range (the first one, then
            every N-th). Skipped frames are decoded (or grabbed) but not converted.
        start: seconds; frames before are skipped. Video files seek to the keyframe
            before it and count the frames jumped over, so frame indices stay exact
            (also on variable-frame-rate video); other sources read or grab from the
            beginning.
        end: seconds, exclusive; reading stops at the first frame at or after it.
        max_frames: stop after this many kept frames.

    Example:
        >>> FrameSelection(stride=2, start=1.0).stride
        2
        >>> FrameSelection(stride=0)
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: stride must be an int >= 1, got 0
    """

    stride: int = 1
    start: float | None = None
    end: float | None = None
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.stride, bool) or not isinstance(self.stride, (int, np.integer)):
            raise TilewiseError(f"stride must be an int >= 1, got {self.stride!r}")
        if self.stride < 1:
            raise TilewiseError(f"stride must be an int >= 1, got {self.stride!r}")
        start = _optional_number(self.start, "start")
        end = _optional_number(self.end, "end")
        if start is not None and end is not None and end <= start:
            raise TilewiseError(f"end ({end} s) must be after start ({start} s)")
        mf = self.max_frames
        if mf is not None and (isinstance(mf, bool) or not isinstance(mf, (int, np.integer))):
            raise TilewiseError(f"max_frames must be an int >= 1 or None, got {mf!r}")
        if mf is not None and mf < 1:
            raise TilewiseError(f"max_frames must be an int >= 1 or None, got {mf!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return asdict(self)


class Decision(IntEnum):
    """What a source does with the frame it just decoded."""

    KEEP = 0
    SKIP = 1
    STOP = 2


@dataclass
class FrameStats:
    """Counts of the frames a frame source went through; nothing is dropped uncounted.

    Attributes:
        decoded: frames decoded (or grabbed) from the source, kept or not.
        kept: frames yielded.
        skipped_before_start: frames before ``start`` that were decoded (a video file
            seeks to the keyframe before the start and decodes only from there).
        skipped_by_seek: frames before ``start`` jumped over by seeking, never decoded
            (``decoded + skipped_by_seek`` is the number of frames up to where reading
            stopped).
        skipped_stride: frames of the time range left out by the stride.
        dropped: frames lost, by reason: ``"unreadable"`` (an image of a sequence),
            ``"read_failed"`` (a stream read that failed), ``"retrieve_failed"`` (a
            grabbed frame that could not be converted), ``"bad_timestamp"`` (a frame
            whose timestamp went backwards).
        inferred_time: frames without a timestamp whose time was inferred from the rate
            (kept, not dropped).
        reconnects: times a dropped stream was reopened.
        expected_frames: frames the container header announces (None when unknown).
        damaged: why reading ended before the end of the source (a truncated or corrupt
            file, a stream that could not be reopened), else None.
        stopped: ``"end"`` (end of the source), ``"end_time"``, ``"max_frames"``,
            ``"damage"`` or ``"closed"`` (the consumer stopped early).
        vfr: the frame intervals varied by more than 10 % (variable frame rate); times
            are the frames' own timestamps either way.
        interval_min: smallest interval between consecutive decoded frames (s).
        interval_max: largest such interval (s).
        seek: how a source with seeking reached ``start``: None (no seek tried: no
            start, or a source that cannot seek), ``"keyframe"`` (seeked, then decoded
            forward) or ``"fallback"`` (decoded from the beginning instead).
        seek_fallback: why seeking was given up, when it was.
        rgb: frames converted to RGB, by conversion (video files: ``"opencv"``,
            ``"pyav"``; see ``tilewise.sources.video_rgb``); empty for other sources.
        rgb_fallback: why frames asked for the OpenCV conversion went to PyAV's (a pixel
            format, colour range or matrix the OpenCV kernel would get wrong), else None.
    """

    decoded: int = 0
    kept: int = 0
    skipped_before_start: int = 0
    skipped_stride: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    inferred_time: int = 0
    reconnects: int = 0
    expected_frames: int | None = None
    damaged: str | None = None
    stopped: str = "end"
    interval_min: float | None = None
    interval_max: float | None = None
    skipped_by_seek: int = 0
    seek: str | None = None
    seek_fallback: str | None = None
    rgb: dict[str, int] = field(default_factory=dict)
    rgb_fallback: str | None = None
    _last_time: float | None = field(default=None, repr=False)

    def drop(self, reason: str, count: int = 1) -> None:
        """Count ``count`` frames lost for ``reason``."""
        self.dropped[reason] = self.dropped.get(reason, 0) + int(count)

    def saw(self, time: float) -> None:
        """Record one decoded frame at ``time`` (intervals for the frame-rate check)."""
        self.decoded += 1
        if self._last_time is not None:
            gap = time - self._last_time
            self.interval_min = gap if self.interval_min is None else min(self.interval_min, gap)
            self.interval_max = gap if self.interval_max is None else max(self.interval_max, gap)
        self._last_time = time

    @property
    def vfr(self) -> bool:
        """Whether the frame intervals varied by more than 10 %."""
        lo, hi = self.interval_min, self.interval_max
        return lo is not None and hi is not None and hi - lo > 0.1 * max(hi, 1e-9)

    @property
    def lost_frames(self) -> int | None:
        """Frames the header announced that were never decoded (None when unknown)."""
        if self.expected_frames is None or self.stopped not in ("end", "damage"):
            return None
        return max(self.expected_frames - self.decoded - self.skipped_by_seek, 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        out = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        out["dropped"] = dict(sorted(self.dropped.items()))
        out["rgb"] = dict(sorted(self.rgb.items()))
        for key in ("interval_min", "interval_max"):
            out[key] = None if out[key] is None else round(out[key], 6)
        out["vfr"] = self.vfr
        out["lost_frames"] = self.lost_frames
        return out


class FrameSelector:
    """Applies a ``FrameSelection`` frame by frame and counts what it skips.

    Example:
        >>> stats = FrameStats()
        >>> sel = FrameSelector(FrameSelection(stride=2, start=0.1, max_frames=2), stats)
        >>> [sel.decide(t / 10).name for t in range(7)]
        ['SKIP', 'KEEP', 'SKIP', 'KEEP', 'STOP', 'STOP', 'STOP']
        >>> stats.skipped_before_start, stats.skipped_stride, stats.stopped
        (1, 1, 'max_frames')
    """

    def __init__(self, selection: FrameSelection, stats: FrameStats) -> None:
        self.selection = selection
        self.stats = stats
        self._in_range = 0
        self._kept = 0

    def decide(self, time: float) -> Decision:
        """KEEP, SKIP or STOP the frame at ``time`` (seconds)."""
        sel = self.selection
        if sel.max_frames is not None and self._kept >= sel.max_frames:
            self.stats.stopped = "max_frames"
            return Decision.STOP
        if sel.end is not None and time >= sel.end:
            self.stats.stopped = "end_time"
            return Decision.STOP
        if sel.start is not None and time < sel.start:
            self.stats.skipped_before_start += 1
            return Decision.SKIP
        k = self._in_range
        self._in_range += 1
        if k % sel.stride:
            self.stats.skipped_stride += 1
            return Decision.SKIP
        self._kept += 1
        return Decision.KEEP

    @property
    def done(self) -> bool:
        """``max_frames`` frames were kept: the source may stop before decoding more."""
        mf = self.selection.max_frames
        return mf is not None and self._kept >= mf


@runtime_checkable
class FrameSource(Protocol):
    """Anything that yields the frames of a video, stream or image sequence, in order.

    Attributes:
        name: what the source is called in reports and errors (a path, a URL).
        fps: the nominal frame rate, or None when unknown.
        stats: the counts of the last (or current) iteration.

    Iterating yields ``Frame(index, time, pixels)``; ``describe()`` gives a JSON-ready
    account (kind, size, rate, selection, counts); ``close()`` releases the source.
    """

    name: str

    @property
    def fps(self) -> float | None:
        """Nominal frames per second, or None."""
        ...

    @property
    def stats(self) -> FrameStats:
        """Counts of the last (or current) iteration."""
        ...

    def __iter__(self) -> Iterator[Frame]:
        """The kept frames, in order."""
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON-ready account of the source."""
        ...

    def close(self) -> None:
        """Release what the source holds."""
        ...


_DONE = object()


class BaseFrameSource:
    """A frame source decoded on its own thread through a bounded queue.

    Subclasses set ``name`` (and ``fps``, ``frame_wh`` when known) and implement
    ``_decode(selector)``: a generator, run on the decoding thread, that asks
    ``selector.decide(time)`` for every decoded frame *before* converting it (and, unless
    told to STOP, ``self.stats.saw(time)``), yields the kept ones as ``Frame``, stops once
    ``selector.done``, and records what it meets in ``self.stats``. Warnings for the
    caller go in ``self._notes``; they are raised in the consumer's thread at the end.

    Args:
        selection: which frames are yielded (``FrameSelection``).
        queue_size: frames decoded ahead of the consumer, at most.
    """

    name: str = "frames"
    fps: float | None = None
    frame_wh: tuple[int, int] | None = None

    def __init__(self, selection: FrameSelection | None = None, queue_size: int = 4) -> None:
        if selection is not None and not isinstance(selection, FrameSelection):
            raise TilewiseError(
                f"selection must be a FrameSelection, got {type(selection).__name__}"
            )
        self.selection = selection or FrameSelection()
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise TilewiseError(f"queue_size must be an int >= 1, got {queue_size!r}")
        self.queue_size = queue_size
        self._stats = FrameStats()
        self._notes: list[str] = []

    @property
    def stats(self) -> FrameStats:
        """Counts of the last (or current) iteration."""
        return self._stats

    def _decode(self, selector: FrameSelector) -> Iterator[Frame]:  # pragma: no cover
        raise NotImplementedError

    def __iter__(self) -> Iterator[Frame]:
        """Kept frames in order, decoded on a background thread ``queue_size`` ahead."""
        self._stats = FrameStats()
        self._notes = []
        selector = FrameSelector(self.selection, self._stats)
        slots: queue.Queue[object] = queue.Queue(maxsize=self.queue_size)
        stop = threading.Event()

        def put(item: object) -> bool:
            while not stop.is_set():
                try:
                    slots.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            frames = self._decode(selector)
            try:
                for frame in frames:
                    if not put(frame):
                        self._stats.stopped = "closed"
                        return
                put(_DONE)
            except BaseException as exc:  # re-raised in the consumer
                put(exc)
            finally:
                frames.close()

        thread = threading.Thread(target=produce, name=f"tilewise-decode-{self.name}")
        thread.daemon = True
        thread.start()
        try:
            while True:
                item = slots.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                self._stats.kept += 1
                yield item  # type: ignore[misc]
        finally:
            stop.set()
            thread.join(timeout=30)
        for note in self._notes:
            warnings.warn(note, TilewiseWarning, stacklevel=2)

    def describe(self) -> dict[str, Any]:
        """Kind, name, size, rate, selection and the counts of the last iteration."""
        return {
            "kind": type(self).__name__,
            "name": self.name,
            "frame_wh": None if self.frame_wh is None else list(self.frame_wh),
            "fps": self.fps,
            "selection": self.selection.to_dict(),
            "frames": self._stats.to_dict(),
        }

    def close(self) -> None:
        """Release what the source holds (nothing by default)."""

    def __enter__(self) -> BaseFrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _readonly(pixels: np.ndarray) -> np.ndarray:
    rgb = as_rgb(pixels)
    rgb = rgb.view()
    rgb.flags.writeable = False
    return rgb


class ArrayFrames(BaseFrameSource):
    """Frames from memory: a sequence or iterable of RGB arrays, or a render function.

    With a sequence (``len`` and indexing) or a function, skipped frames are never
    produced; an iterable is consumed frame by frame. Times are ``index / fps``.

    Args:
        frames: ``H x W x 3`` uint8 RGB arrays (a list, a generator), or a function
            ``index -> array`` with ``count``.
        fps: frame rate of the times.
        count: number of frames of a render function.
        name: what the source is called in reports.
        selection: stride, time range, max frames (``FrameSelection``).
        queue_size: frames produced ahead of the consumer.

    Example:
        >>> import numpy as np
        >>> frames = ArrayFrames([np.full((4, 4, 3), i, np.uint8) for i in range(5)],
        ...                      fps=10, selection=FrameSelection(stride=2))
        >>> [(f.index, f.time, int(f.pixels[0, 0, 0])) for f in frames]
        [(0, 0.0, 0), (2, 0.2, 2), (4, 0.4, 4)]
        >>> frames.stats.decoded, frames.stats.skipped_stride
        (5, 2)
    """

    def __init__(
        self,
        frames: Iterable[np.ndarray] | Callable[[int], np.ndarray],
        *,
        fps: float = 30.0,
        count: int | None = None,
        name: str = "frames",
        selection: FrameSelection | None = None,
        queue_size: int = 4,
    ) -> None:
        super().__init__(selection, queue_size)
        if isinstance(fps, bool) or not np.isfinite(float(fps)) or float(fps) <= 0:
            raise TilewiseError(f"fps must be a number > 0, got {fps!r}")
        if callable(frames) and not isinstance(frames, Sequence) and (count is None or count < 0):
            raise TilewiseError("a render function needs count=<number of frames>")
        self.frames = frames
        self.count = count
        self.fps = float(fps)
        self.name = name

    def _decode(self, selector: FrameSelector) -> Iterator[Frame]:
        stats = self.stats
        frames = self.frames
        if isinstance(frames, Sequence) or callable(frames):
            n = len(frames) if isinstance(frames, Sequence) else int(self.count or 0)
            get: Callable[[int], np.ndarray] = (
                frames.__getitem__ if isinstance(frames, Sequence) else frames
            )
            items: Iterable[tuple[int, np.ndarray | None]] = ((i, None) for i in range(n))
        else:
            get = None  # type: ignore[assignment]
            items = enumerate(frames)
        for index, pixels in items:
            time = index / self.fps
            decision = selector.decide(time)
            if decision is Decision.STOP:
                return
            stats.saw(time)
            if decision is Decision.SKIP:
                continue
            image = get(index) if pixels is None else pixels
            if self.frame_wh is None:
                self.frame_wh = (int(image.shape[1]), int(image.shape[0]))
            yield Frame(index, time, _readonly(image))
            if selector.done:
                stats.stopped = "max_frames"
                return
