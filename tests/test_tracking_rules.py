"""Tracker rules for real detectors (sparse, low and flat confidences, duplicates, class
flips): confidence-aware confirmation, re-activation by weak detections, no track born on
a duplicate, class switches of confirmed tracks. Exact-case tables and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise import Detections, TilewiseError
from tilewise.tracking import Tracker, TrackerConfig

from .test_tracking_tracker import box, frame, run, sequences


def classed(*items: tuple[list[float], float, int]) -> Detections:
    """A frame of (box, confidence, class) rows."""
    if not items:
        return Detections.empty()
    boxes, conf, cls = zip(*items, strict=True)
    return Detections(np.array(boxes), confidence=list(conf), class_id=list(cls))


# ----------------------------------------------------------------- confirmation by confidence


@pytest.mark.parametrize(
    ("confs", "min_hits", "confirm_mean", "expected"),
    [
        # a blip of low confidence never becomes a track, however long it lasts
        ([0.4] * 6, 1, 0.45, [[-1]] * 6),
        ([0.4] * 6, 3, 0.45, [[-1]] * 6),
        # confirmed once the mean confidence of its matches reaches confirm_mean
        ([0.4, 0.6, 0.5], 1, 0.45, [[-1], [1], [1]]),
        ([0.4, 0.4, 0.7, 0.5], 2, 0.45, [[-1], [-1], [1], [1]]),
        ([0.4, 0.4, 0.7, 0.5], 3, 0.45, [[-1], [-1], [1], [1]]),
        # a confident first detection confirms at once with min_hits 1
        ([0.8, 0.3, 0.3], 1, 0.45, [[1], [1], [1]]),
        # confirm_mean 0: the hit count alone decides (the old rule)
        ([0.4] * 3, 2, 0.0, [[-1], [1], [1]]),
    ],
)
def test_confirmation_needs_the_mean_confidence(
    confs: list[float], min_hits: int, confirm_mean: float, expected: list[list[int]]
) -> None:
    frames = [frame(box(20 + 3 * t, 30), conf=c) for t, c in enumerate(confs)]
    cfg = {"min_hits": min_hits, "confirm_mean": confirm_mean, "high_threshold": 0.3,
           "new_track_threshold": 0.3, "low_threshold": 0.1}  # fmt: skip
    assert run(frames, **cfg) == expected


@settings(max_examples=60, deadline=None)
@given(sequences(), st.sampled_from([1, 2, 3]), st.floats(0.3, 0.9))
def test_detections_below_confirm_mean_never_get_an_id(
    frames: list[Detections], min_hits: int, confirm_mean: float
) -> None:
    cfg = TrackerConfig(min_hits=min_hits, confirm_mean=confirm_mean, high_threshold=0.0,
                        low_threshold=0.0, new_track_threshold=0.0)  # fmt: skip
    tracker = Tracker(cfg)
    for det in frames:
        weak = Detections(det.xyxy, np.minimum(det.confidence, confirm_mean * 0.999), det.class_id)
        assert (tracker.update(weak).data["tracker_id"] == -1).all()


# ----------------------------------------------------------------- weak re-activation


@pytest.mark.parametrize(
    ("gap", "weak_max_lost", "after"),
    [
        (1, 0, [-1]),  # weak detections keep only active tracks alive
        (1, 1, [1]),
        (3, 2, [-1]),
        (3, 3, [1]),  # lost for 3 frames: re-activated by a weak detection
        (3, 30, [1]),
    ],
)
def test_weak_detection_reactivates_a_recently_lost_track(
    gap: int, weak_max_lost: int, after: list[int]
) -> None:
    # confirmed on strong detections, missed for `gap` frames, then seen only weakly
    frames = [frame(box(20 + 4 * t, 30), conf=0.9) for t in range(4)]
    frames += [frame()] * gap
    frames += [frame(box(20 + 4 * t, 30), conf=0.3) for t in range(4 + gap, 6 + gap)]
    ids = run(frames, min_hits=1, weak_max_lost=weak_max_lost, high_threshold=0.5)
    assert ids[:4] == [[1]] * 4
    assert ids[4 + gap :] == [after, after]


def test_weak_reactivation_stays_within_the_gate() -> None:
    frames = [frame(box(20 + 4 * t, 30), conf=0.9) for t in range(4)] + [frame()] * 2
    frames.append(frame(box(200, 200), conf=0.3))  # far from the coasting prediction
    assert run(frames, min_hits=1, weak_max_lost=30, high_threshold=0.5)[-1] == [-1]


# ----------------------------------------------------------------- duplicates


@pytest.mark.parametrize(
    ("duplicate_iou", "expected_ids"),
    [
        # a second box on the same object (another class, IoU 0.78) starts no track
        (0.5, [[1, -1]] * 4),
        (0.3, [[1, -1]] * 4),
        # switched off (1.0): the duplicate starts a track of its own
        (1.0, [[1, 2]] * 4),
    ],
)
def test_no_track_is_born_on_a_duplicate(
    duplicate_iou: float, expected_ids: list[list[int]]
) -> None:
    frames = [
        classed((box(20 + 3 * t, 30), 0.9, 0), ([b + 0.5 for b in box(20 + 3 * t, 30)], 0.7, 1))
        for t in range(4)
    ]
    assert run(frames, min_hits=1, duplicate_iou=duplicate_iou) == expected_ids


def test_the_more_confident_duplicate_starts_the_track() -> None:
    det = classed((box(20, 30), 0.5, 0), ([b + 0.5 for b in box(20, 30)], 0.8, 1))
    assert run([det], min_hits=1, duplicate_iou=0.5) == [[-1, 1]]


@settings(max_examples=60, deadline=None)
@given(sequences(), st.sampled_from([0.1, 0.3, 0.5]))
def test_new_tracks_never_overlap_a_tracked_box(frames: list[Detections], thr: float) -> None:
    # confirm_mean 0 and min_hits 1: every new ID is given at birth, where the rule acts
    tracker = Tracker(TrackerConfig(min_hits=1, confirm_mean=0.0, duplicate_iou=thr))
    seen: set[int] = set()
    for det in frames:
        ids = tracker.update(det).data["tracker_id"]
        boxes = det.xyxy.astype(np.float64)
        for i in np.flatnonzero(ids >= 0):
            if int(ids[i]) in seen:
                continue
            others = np.flatnonzero((ids >= 0) & (np.arange(len(ids)) != i))
            lt = np.maximum(boxes[others, :2], boxes[i, :2])
            rb = np.minimum(boxes[others, 2:], boxes[i, 2:])
            inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
            area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
            iou = inter / (area[others] + area[i] - inter)
            assert (iou < thr).all()
        seen.update(int(i) for i in ids[ids >= 0])


# ----------------------------------------------------------------- class switches


@pytest.mark.parametrize(
    ("class_switch_gate", "dx", "last"),
    [
        (0.0, 0.0, [-1]),  # a track keeps its class (the old rule)
        (0.5, 0.0, [1]),  # the flipped detection lies on the prediction
        (0.5, 6.0, [-1]),  # inside the gate (7.7 px), outside half of it
        (1.0, 6.0, [1]),
    ],
)
def test_a_confirmed_track_follows_a_class_flip_near_its_prediction(
    class_switch_gate: float, dx: float, last: list[int]
) -> None:
    frames = [classed((box(20 + 3 * t, 30), 0.9, 0)) for t in range(4)]
    # the flipped detection is too weak to start a confirmed track of its own
    frames.append(classed((box(32 + dx, 30), 0.4, 1)))
    cfg = {"min_hits": 1, "confirm_mean": 0.45, "high_threshold": 0.3,
           "new_track_threshold": 0.3, "class_switch_gate": class_switch_gate}  # fmt: skip
    assert run(frames, **cfg) == [[1]] * 4 + [last]


def test_a_tentative_track_never_switches_class() -> None:
    frames = [classed((box(20 + 3 * t, 30), 0.9, t % 2)) for t in range(6)]
    assert run(frames, min_hits=2, class_switch_gate=1.0) == [[-1]] * 6


def test_bad_rule_parameters() -> None:
    for bad in (
        {"weak_max_lost": -1},
        {"weak_max_lost": 1.5},
        {"confirm_mean": 1.5},
        {"duplicate_iou": 0.0},
        {"duplicate_iou": 2.0},
        {"class_switch_gate": -0.1},
        {"class_switch_gate": 1.5},
    ):
        with pytest.raises(TilewiseError):
            TrackerConfig(**bad)  # type: ignore[arg-type]
