"""Sliced detection on videos, image sequences and streams, with tracking and video output.

* ``predict_video``: ``(index, time, Detections)`` per frame, slices of consecutive frames
  batched together (``Slicer.stream``), track IDs from ``tilewise.tracking`` on request.
* ``run_video``: the same, writing an annotated MP4, JSON Lines, MOTChallenge tracks,
  class counts over time (CSV, PNG) and a report (``tilewise predict VIDEO``).
* ``VideoWriter`` / ``write_video``: H.264 MP4 through PyAV (the ``video`` extra).
* ``read_jsonl``: the JSON Lines back as Detections.

Frame sources (files, image sequences, webcams and streams) are in ``tilewise.sources``.
"""

from tilewise.video.annotate import FrameAnnotator
from tilewise.video.encode import VideoWriter, write_video
from tilewise.video.outputs import ClassCounts, frame_json, read_jsonl
from tilewise.video.predict import VideoRunResult, expected_frames, predict_video, run_video

__all__ = [
    "ClassCounts",
    "FrameAnnotator",
    "VideoRunResult",
    "VideoWriter",
    "expected_frames",
    "frame_json",
    "predict_video",
    "read_jsonl",
    "run_video",
    "write_video",
]
