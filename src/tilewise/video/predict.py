"""Sliced detection over videos and streams: the Python API behind ``tilewise predict VIDEO``.

``predict_video`` yields ``(index, time, Detections)`` per frame, slices of consecutive
frames batched together (``Slicer.stream``), optionally with track IDs from
``tilewise.tracking.Tracker``. ``run_video`` adds the files: an annotated MP4 (encoded on
its own thread), JSON Lines, MOTChallenge tracks, class counts over time (CSV and PNG)
and a report, every one complete or absent; Ctrl-C stops reading and finishes them.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.detections.convert import TRACKER_ID_KEY
from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_write_json
from tilewise.slicing import Slicer
from tilewise.slicing.stream import StreamedFrame
from tilewise.sources import Frame
from tilewise.tracking import Tracker, TrackerConfig
from tilewise.video.annotate import FrameAnnotator
from tilewise.video.encode import VideoWriter
from tilewise.video.outputs import ClassCounts, StagedTextFile, frame_json, mot_lines

__all__ = ["VideoRunResult", "expected_frames", "predict_video", "run_video"]


def _tracker(value: Any) -> Tracker | None:
    if value is None or value is False:
        return None
    if value is True:
        return Tracker()
    if isinstance(value, TrackerConfig):
        return Tracker(value)
    if isinstance(value, Tracker):
        return value
    raise TilewiseError(
        f"tracker must be a Tracker, a TrackerConfig, True or None, got {type(value).__name__}"
    )


def predict_video(
    frames: Iterable[Frame | np.ndarray] | Any,
    slicer: Slicer,
    *,
    tracker: Tracker | TrackerConfig | bool | None = None,
    fps: float | None = None,
) -> Iterator[StreamedFrame]:
    """Sliced detection on every frame, in order, optionally tracked.

    Args:
        frames: a frame source (``tilewise.sources.open_frames(...)``) or any iterable of
            ``Frame``/``(index, time, pixels)`` or RGB arrays.
        slicer: the ``Slicer`` (its ``batch_size`` slices per model call, across frames).
        tracker: ``True`` (default ``Tracker``), a ``TrackerConfig`` or a ``Tracker``:
            track IDs go in ``data["tracker_id"]`` (-1: no confirmed track).
        fps: the frame rate (default: the source's, else 30). The tracker's time step is
            the time between kept frames in frames at this rate, so strides and variable
            frame rates keep its motion model right.

    Yields:
        ``StreamedFrame(index, time, detections)`` per frame.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections, Slicer
        >>> def model(images):  # an 8 px object at the same place in every slice
        ...     return [Detections(np.array([[4.0, 4.0, 12.0, 12.0]]), [0.9]) for _ in images]
        >>> frames = [np.zeros((32, 32, 3), np.uint8)] * 4
        >>> slicer = Slicer(model, slice_wh=32, overlap=0)
        >>> [d.data["tracker_id"].tolist() for _, _, d in predict_video(frames, slicer,
        ...     tracker=TrackerConfig(min_hits=1))]
        [[1], [1], [1], [1]]
    """
    track = _tracker(tracker)
    rate = fps or getattr(frames, "fps", None) or 30.0
    prev: tuple[int, float] | None = None
    for index, t, det in slicer.stream(frames, fps=rate):
        if track is not None:
            dt = 1.0
            if prev is not None:
                by_time = round((t - prev[1]) * rate, 6)
                dt = by_time if by_time > 0 else float(max(index - prev[0], 1))
            det = track.update(det, dt=dt)
            prev = (index, t)
        yield StreamedFrame(index, t, det)


def expected_frames(source: Any) -> int | None:
    """Frames a source will yield, from its header and selection (None when unknown).

    Example:
        >>> import numpy as np
        >>> from tilewise.sources import ArrayFrames, FrameSelection
        >>> src = ArrayFrames([np.zeros((4, 4, 3), np.uint8)] * 10, fps=10,
        ...                   selection=FrameSelection(stride=3, start=0.2))
        >>> expected_frames(src)
        3
    """
    total = getattr(source, "expected_frames", None)
    if total is None and isinstance(getattr(source, "frames", None), Sequence):
        total = len(source.frames)
    if total is None and getattr(source, "files", None) is not None:
        total = len(source.files)
    sel = getattr(source, "selection", None)
    if total is None or sel is None:
        return None
    fps = getattr(source, "fps", None) or 30.0
    first = 0 if sel.start is None else math.ceil(sel.start * fps - 1e-9)
    last = total if sel.end is None else min(total, math.ceil(sel.end * fps - 1e-9))
    n = max(0, math.ceil((last - first) / sel.stride))
    return n if sel.max_frames is None else min(n, sel.max_frames)


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


@dataclass
class VideoRunResult:
    """What ``run_video`` wrote and did.

    Attributes:
        outputs: the files written, by kind (``video``, ``jsonl``, ``mot``, ``counts_csv``,
            ``counts_png``, ``report``).
        report: the JSON-ready report (also written as ``<stem>.report.json``).
        interrupted: the run was stopped by Ctrl-C (the files hold the frames done).
    """

    outputs: dict[str, Path] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False


def run_video(
    source: Any,
    slicer: Slicer,
    out: str | Path,
    *,
    stem: str,
    class_names: Sequence[str] = (),
    tracker: Tracker | TrackerConfig | bool | None = None,
    save_video: bool = True,
    trail: int = 0,
    labels: bool = True,
    plot: bool = True,
    progress: bool = False,
    on_frame: Callable[[StreamedFrame], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> VideoRunResult:
    """Run ``predict_video`` over a frame source and write the outputs to ``out``.

    Files (``DIR/<stem>.*``): ``.jsonl`` (one line per processed frame, see
    ``tilewise.video.outputs.frame_json``); ``.mp4`` annotated (with ``save_video``;
    H.264 on its own thread); ``.mot.txt`` (with a tracker); ``.counts.csv`` and
    ``.counts.png`` (detections per class over time; the plot needs matplotlib);
    ``.report.json`` (the source's frame counts, drops and damage, detections per class,
    seconds per stage, frames/s, peak RSS). Each file is written under a temporary name
    and moved into place at the end; on an error none is left. Ctrl-C
    (``KeyboardInterrupt``) stops reading and finishes every file with the frames done
    (``interrupted`` in the result and the report).

    Raises:
        TilewiseError: the output directory cannot be written, the source has no frames
            or cannot be read.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TilewiseError(f"cannot create the output directory {out}: {exc}") from None
    names = list(class_names)
    track = _tracker(tracker)
    fps = float(getattr(source, "fps", None) or 30.0)
    staged: list[StagedTextFile] = []
    writer: VideoWriter | None = None
    result = VideoRunResult()
    counts = ClassCounts(names)
    t_start = time.perf_counter()
    frames_done = 0
    detections_total = 0
    track_ids: set[int] = set()
    bar = None
    stream: Iterator[StreamedFrame] | None = None
    try:
        jsonl = StagedTextFile(out / f"{stem}.jsonl")
        staged.append(jsonl)
        mot = StagedTextFile(out / f"{stem}.mot.txt") if track is not None else None
        if mot is not None:
            staged.append(mot)
        held: deque[Frame] = deque()

        def frames() -> Iterator[Any]:
            for frame in source:
                if writer is not None:
                    held.append(frame)
                yield frame

        if save_video:
            draw = FrameAnnotator(names, labels=labels, trail=trail)
            writer = VideoWriter(out / f"{stem}.mp4", fps, hook=draw)
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=expected_frames(source), unit="frame", desc=stem, leave=True)
        stream = predict_video(frames(), slicer, tracker=track, fps=fps)
        try:
            for item in stream:
                index, t, det = item
                record = frame_json(index, t, det, names)
                jsonl.write(json.dumps(record, separators=(",", ":")) + "\n")
                counts.add(index, t, det)
                detections_total += len(det)
                if mot is not None:
                    mot.write(mot_lines(index, det))
                    ids = det.data[TRACKER_ID_KEY]
                    track_ids.update(int(i) for i in ids[ids >= 0].tolist())
                if writer is not None:
                    while held and held[0].index != index:
                        held.popleft()
                    frame = held.popleft()
                    writer.write(frame.pixels, time=t, payload=det)
                frames_done += 1
                if on_frame is not None:
                    on_frame(item)
                if bar is not None:
                    bar.update(1)
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            if stream is not None:
                stream.close()  # stops the decoding, prefetch and model threads
            held.clear()
        if frames_done == 0:
            raise TilewiseError(f"{getattr(source, 'name', 'the source')}: no frame was processed")
        seconds_processing = time.perf_counter() - t_start
        t_write = time.perf_counter()
        if writer is not None:
            result.outputs["video"] = writer.close()
        result.outputs["jsonl"] = jsonl.commit()
        if mot is not None:
            result.outputs["mot"] = mot.commit()
        result.outputs["counts_csv"] = counts.write_csv(out / f"{stem}.counts.csv")
        plot_note = None
        if plot:
            try:
                result.outputs["counts_png"] = counts.write_plot(
                    out / f"{stem}.counts.png", title=f"{stem}: detections per class"
                )
            except TilewiseError as exc:
                plot_note = str(exc)
        describe = getattr(source, "describe", None)
        report: dict[str, Any] = {
            "source": describe() if callable(describe) else {"name": str(source)},
            "frames_processed": frames_done,
            "interrupted": result.interrupted,
            "detections": detections_total,
            "per_class": counts.totals(),
            "tracks": len(track_ids) if track is not None else None,
            "tracker": track.config.to_dict() if track is not None else None,
            "slicer": repr(slicer),
            "seconds": {
                "processing": round(seconds_processing, 3),
                "video_encoding": round(writer.seconds, 3) if writer is not None else None,
                "finishing": round(time.perf_counter() - t_write, 3),
            },
            "frames_per_second": round(frames_done / max(seconds_processing, 1e-9), 3),
            "peak_rss_mb": _peak_rss_mb(),
            "plot_note": plot_note,
            **(extra or {}),
        }
        report["outputs"] = {k: str(v) for k, v in result.outputs.items()}
        result.outputs["report"] = atomic_write_json(out / f"{stem}.report.json", report)
        result.report = report
        return result
    except BaseException:
        for f in staged:
            f.discard()
        if writer is not None:
            writer.abort()
        for path in result.outputs.values():  # all or none
            Path(path).unlink(missing_ok=True)
        raise
    finally:
        if bar is not None:
            bar.close()
