"""Tracker: exact-case tables (crossing, occlusion gap, birth/death, weak detections) and
hypothesis properties (IDs unique per frame, no jump beyond the gate, determinism)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise import Detections, TilewiseError
from tilewise.tracking import Tracker, TrackerConfig, TrackStatus


def box(cx: float, cy: float, size: float = 8.0) -> list[float]:
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def frame(*boxes: list[float], conf: float | list[float] = 0.9) -> Detections:
    if not boxes:
        return Detections.empty()
    c = [conf] * len(boxes) if isinstance(conf, float) else conf
    return Detections(np.array(boxes), confidence=c)


def run(frames: list[Detections], **cfg: object) -> list[list[int]]:
    tracker = Tracker(TrackerConfig(**cfg))  # type: ignore[arg-type]
    return [tracker.update(f).data["tracker_id"].tolist() for f in frames]


def test_crossing_keeps_both_ids() -> None:
    # two 8 px objects on an X: one moving down-right, one up-right, 4 px per frame
    frames = [frame(box(10 + 4 * t, 10 + 3 * t), box(10 + 4 * t, 70 - 3 * t)) for t in range(21)]
    ids = run(frames, min_hits=1)
    assert ids == [[1, 2]] * 21


def test_crossing_with_rows_in_any_order() -> None:
    frames = []
    for t in range(21):
        a, b = box(10 + 4 * t, 10 + 3 * t), box(10 + 4 * t, 70 - 3 * t)
        frames.append(frame(a, b) if t % 2 else frame(b, a))
    ids = run(frames, min_hits=1)
    # b is born first (row 0 of frame 0), so b is 1 and a is 2 throughout
    assert ids == [[2, 1] if t % 2 else [1, 2] for t in range(21)]


def test_tiny_fast_mover_without_box_overlap() -> None:
    # an 8 px object moving 10 px per frame never overlaps its previous box
    ids = run([frame(box(10 + 10 * t, 50)) for t in range(15)], min_hits=1)
    assert ids == [[1]] * 15


def test_occlusion_gap_reactivates_the_same_id() -> None:
    frames = [frame() if 5 <= t < 10 else frame(box(20 + 5 * t, 40, 10)) for t in range(16)]
    tracker = Tracker(TrackerConfig(min_hits=1))
    table = []
    for f in frames:
        out = tracker.update(f)
        table.append(out.data["tracker_id"].tolist())
        if 5 <= len(table) - 1 < 10:
            assert tracker.tracks.data["status"].tolist() == [TrackStatus.LOST]
    assert table == [[1]] * 5 + [[]] * 5 + [[1]] * 6


@pytest.mark.parametrize(
    ("min_hits", "expected"),
    [
        # confirmed at the 2nd hit; lost after frame 5; dropped after max_lost=3 missed
        # frames; a new object in the same place at frame 12 is a new track
        (2, [[-1], [1], [1], [1], [1], [1]] + [[]] * 6 + [[-1], [2], [2]]),
        (1, [[1]] * 6 + [[]] * 6 + [[2]] * 3),
        (3, [[-1], [-1], [1], [1], [1], [1]] + [[]] * 6 + [[-1], [-1], [2]]),
    ],
)
def test_birth_and_death(min_hits: int, expected: list[list[int]]) -> None:
    frames = [frame(box(50, 50)) if t < 6 or t >= 12 else frame() for t in range(15)]
    assert run(frames, min_hits=min_hits, max_lost=3) == expected


def test_lost_track_kept_for_max_lost_frames() -> None:
    frames = [frame(box(50, 50)) if t < 3 or t == 7 else frame() for t in range(8)]
    assert run(frames, min_hits=1, max_lost=4)[-1] == [1]
    assert run(frames, min_hits=1, max_lost=3)[-1] == [2]


def test_a_tentative_track_that_misses_is_dropped() -> None:
    frames = [frame(box(50, 50)), frame(), frame(box(50, 50)), frame(box(50, 50))]
    assert run(frames, min_hits=2) == [[-1], [], [-1], [1]]


def test_weak_detections_keep_a_track_but_never_start_one() -> None:
    cfg = {"min_hits": 1, "high_threshold": 0.5, "low_threshold": 0.1}
    frames = [frame(box(10 + 3 * t, 20), conf=0.9 if t < 3 else 0.3) for t in range(8)]
    assert run(frames, **cfg) == [[1]] * 8
    assert run([frame(box(10, 20), conf=0.3)] * 4, **cfg) == [[-1]] * 4
    assert run([frame(box(10, 20), conf=0.05)] * 2, **cfg) == [[-1]] * 2


def test_new_track_threshold() -> None:
    frames = [frame(box(10, 20), conf=0.55)] * 3
    assert run(frames, min_hits=1, new_track_threshold=0.6) == [[-1]] * 3
    assert run(frames, min_hits=1, new_track_threshold=0.5) == [[1]] * 3


def test_classes_are_not_mixed_unless_agnostic() -> None:
    frames = [
        Detections(np.array([box(10 + 2 * t, 20)]), confidence=[0.9], class_id=[t % 2])
        for t in range(4)
    ]
    assert run(frames, min_hits=1) == [[1], [2], [1], [2]]  # a class-0 track, a class-1 track
    assert run(frames, min_hits=1, class_agnostic=True) == [[1]] * 4


def test_size_ratio_gate() -> None:
    frames = [frame(box(20, 20, 8)), frame(box(21, 20, 20))]
    assert run(frames, min_hits=1) == [[1], [2]]
    assert run(frames, min_hits=1, size_ratio=3.0) == [[1], [1]]


def test_far_detection_is_outside_the_gate() -> None:
    frames = [frame(box(20 + 2 * t, 20)) for t in range(5)] + [frame(box(80, 20))]
    assert run(frames, min_hits=1)[-1] == [2]


def test_output_keeps_rows_data_and_masks_free() -> None:
    det = Detections(np.array([box(5, 5), box(40, 40)]), [0.9, 0.2], data={"k": [7, 8]})
    out = Tracker().update(det)
    assert np.array_equal(out.xyxy, det.xyxy)
    assert out.data["k"].tolist() == [7, 8]
    assert out.data["tracker_id"].dtype == np.int64


def test_dt_and_reset() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1))
    # drone stills taken every 3 frames' worth of motion: pass dt
    for t in range(5):
        out = tracker.update(frame(box(10 + 15 * t, 10)), dt=3.0)
        assert out.data["tracker_id"].tolist() == [1]
    tracker.reset()
    assert tracker.update(frame(box(10, 10))).data["tracker_id"].tolist() == [1]
    assert "frames=1" in repr(tracker)


def test_bad_input() -> None:
    with pytest.raises(TilewiseError, match="Detections"):
        Tracker().update(np.zeros((1, 4)))  # type: ignore[arg-type]
    with pytest.raises(TilewiseError, match="dt"):
        Tracker().update(Detections.empty(), dt=0)
    for bad in (
        {"low_threshold": 0.8, "high_threshold": 0.5},
        {"min_hits": -1},
        {"max_lost": 1.5},
        {"gate": 0},
        {"size_ratio": 0.5},
        {"iou_weight": 2},
        {"speed_std": -1},
    ):
        with pytest.raises(TilewiseError):
            TrackerConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(TilewiseError):
        Tracker(config="x")  # type: ignore[arg-type]


def test_non_finite_boxes_are_ignored() -> None:
    det = Detections(np.array([[np.nan, 0, 4, 4], box(10, 10)]), confidence=[0.9, 0.9])
    assert Tracker(TrackerConfig(min_hits=1)).update(det).data["tracker_id"].tolist() == [-1, 1]


# ----------------------------------------------------------------------------- properties


@st.composite
def sequences(draw: st.DrawFn) -> list[Detections]:
    seed = draw(st.integers(0, 2**31 - 1))
    n_frames = draw(st.integers(1, 12))
    rng = np.random.default_rng(seed)
    objects = int(rng.integers(0, 7))
    pos = rng.uniform(0, 200, (objects, 2))
    vel = rng.uniform(-8, 8, (objects, 2))
    size = rng.uniform(4, 14, objects)
    out = []
    for _ in range(n_frames):
        pos = pos + vel
        seen = rng.random(objects) > 0.2
        p = pos[seen] + rng.normal(0, 1, (int(seen.sum()), 2))
        s = size[seen]
        extra = int(rng.integers(0, 3))
        p = np.concatenate([p, rng.uniform(0, 200, (extra, 2))])
        s = np.concatenate([s, rng.uniform(4, 14, extra)])
        boxes = np.concatenate([p - s[:, None] / 2, p + s[:, None] / 2], axis=1)
        conf = rng.uniform(0, 1, len(boxes))
        cls = rng.integers(0, 2, len(boxes))
        order = rng.permutation(len(boxes))
        out.append(Detections(boxes[order], conf[order], cls[order]))
    return out


CONFIGS = st.sampled_from(
    [
        TrackerConfig(),
        TrackerConfig(min_hits=1),
        TrackerConfig(min_hits=1, max_lost=2, gate=5.0),
        TrackerConfig(min_hits=1, confirm_mean=0.5, class_switch_gate=0.5, duplicate_iou=0.5),
        TrackerConfig(min_travel=0.5, lost_birth_iou=0.1, class_vote=True, class_switch_gate=0.5),
    ]
)


@settings(max_examples=80, deadline=None)
@given(sequences(), CONFIGS)
def test_ids_unique_per_frame_and_never_beyond_the_gate(
    frames: list[Detections], cfg: TrackerConfig
) -> None:
    tracker = Tracker(cfg)
    for det in frames:
        out = tracker.update(det)
        ids = out.data["tracker_id"]
        assigned = ids[ids >= 0]
        assert len(np.unique(assigned)) == assigned.size
        rec = tracker.last_associations
        assert np.all(rec.distance <= rec.gate + 1e-9)
        centres = (det.xyxy[rec.detection, :2] + det.xyxy[rec.detection, 2:]) / 2
        jump = np.hypot(*(centres - rec.predicted).T)
        assert np.allclose(jump, rec.distance, atol=1e-4)
        assert np.all(ids[rec.detection[rec.track >= 0]] == rec.track[rec.track >= 0])
        assert len(np.unique(rec.detection)) == rec.detection.size


@settings(max_examples=40, deadline=None)
@given(sequences(), CONFIGS)
def test_deterministic(frames: list[Detections], cfg: TrackerConfig) -> None:
    a, b = Tracker(cfg), Tracker(cfg)
    for det in frames:
        assert a.update(det) == b.update(det)


@settings(max_examples=40, deadline=None)
@given(sequences())
def test_ids_grow_and_are_never_reused(frames: list[Detections]) -> None:
    tracker = Tracker(TrackerConfig(min_hits=1, max_lost=1))
    seen_last: dict[int, int] = {}
    for t, det in enumerate(frames):
        for i in tracker.update(det).data["tracker_id"].tolist():
            if i >= 0:
                seen_last[i] = t
    assert sorted(seen_last) == list(range(1, len(seen_last) + 1))
