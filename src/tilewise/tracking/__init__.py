"""Multi-object tracking for tiny objects, and its evaluation; pure numpy (no torch, no SciPy).

* ``Tracker`` / ``TrackerConfig``: a ByteTrack-style online tracker whose association
  works when boxes do not overlap (normalised centre distance, gated; IoU one term).
* ``linear_assignment``: the optimal assignment it (and the metrics) use.
* MOTChallenge text files and track tables: ``read_mot``, ``write_mot``,
  ``frames_to_table``, ``table_to_frames``, ``write_mot_sequence``.
* ``evaluate_tracks``: HOTA, IDF1, MOTA, ID switches, overall and per size bucket (equal
  to TrackEval's).
"""

from tilewise.tracking.assignment import linear_assignment
from tilewise.tracking.metrics import (
    HOTA_ALPHAS,
    TrackEvaluation,
    TrackMetrics,
    clear_metrics,
    evaluate_tracks,
    hota_metrics,
    identity_metrics,
)
from tilewise.tracking.mot import (
    FRAME_KEY,
    format_mot,
    frames_to_table,
    parse_mot,
    read_mot,
    table_to_frames,
    write_mot,
    write_mot_sequence,
)
from tilewise.tracking.motion import MotionNoise, TrackStates
from tilewise.tracking.tracker import AssociationRecord, Tracker, TrackerConfig, TrackStatus

__all__ = [
    "FRAME_KEY",
    "HOTA_ALPHAS",
    "AssociationRecord",
    "MotionNoise",
    "TrackEvaluation",
    "TrackMetrics",
    "TrackStates",
    "TrackStatus",
    "Tracker",
    "TrackerConfig",
    "clear_metrics",
    "evaluate_tracks",
    "format_mot",
    "frames_to_table",
    "hota_metrics",
    "identity_metrics",
    "linear_assignment",
    "parse_mot",
    "read_mot",
    "table_to_frames",
    "write_mot",
    "write_mot_sequence",
]
