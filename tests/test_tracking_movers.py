"""Tracker rules for moving-object tracking and class-flipping detectors: ``min_travel``
(no ID until a track has moved), ``lost_birth_iou`` (re-activate a lost track instead of
starting a new one on its predicted box) and ``class_vote``. Exact tables and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise import Detections, TilewiseError
from tilewise.tracking import Tracker, TrackerConfig

from .test_tracking_rules import classed
from .test_tracking_tracker import box, frame, run, sequences

# ----------------------------------------------------------------- min_travel


@pytest.mark.parametrize(
    ("speed", "expected"),
    [
        # an 8 px object, min_travel 0.5 sizes = 4 px from its birth centre; the ID comes
        # with the first estimate 4 px away (the filtered estimate lags the detections)
        (0.0, [[-1]] * 8),  # never moves: never gets an ID, however long it is seen
        (1.0, [[-1]] * 5 + [[1]] * 3),
        (2.0, [[-1]] * 3 + [[1]] * 5),
        (3.0, [[-1]] * 2 + [[1]] * 6),
        (10.0, [[-1]] + [[1]] * 7),
    ],
)
def test_an_id_only_once_the_track_has_travelled(speed: float, expected: list[list[int]]) -> None:
    frames = [frame(box(20 + speed * t, 30)) for t in range(8)]
    assert run(frames, min_hits=1, min_travel=0.5) == expected
    # off (the default): the ID at once
    assert run(frames, min_hits=1) == [[1]] * 8


def test_a_track_keeps_its_id_when_it_stops() -> None:
    frames = [frame(box(20 + 3 * min(t, 4), 30)) for t in range(10)]
    assert run(frames, min_hits=1, min_travel=0.5) == [[-1]] * 2 + [[1]] * 8


def test_a_held_static_track_uses_no_id_and_starts_no_other_track() -> None:
    # a static look-alike (row 0) and a mover (row 1): the mover gets ID 1
    frames = [frame(box(20, 30), box(60 + 4 * t, 30)) for t in range(6)]
    tracker = Tracker(TrackerConfig(min_hits=1, min_travel=0.5))
    ids = [tracker.update(f).data["tracker_id"].tolist() for f in frames]
    assert ids == [[-1, -1]] * 2 + [[-1, 1]] * 4
    # the static box is held by one confirmed track all along, not born again each frame
    assert tracker.last_associations.stage.tolist() == [1, 1]
    assert tracker.tracks.data["tracker_id"].tolist() == [1]  # held tracks are not listed


def test_a_held_track_survives_misses_and_is_reactivated() -> None:
    # static for 3 frames, unseen for 2, then moving away from the same place
    frames = [frame(box(20, 30))] * 3 + [frame()] * 2
    frames += [frame(box(20 + 4 * t, 30)) for t in range(1, 5)]
    tracker = Tracker(TrackerConfig(min_hits=1, min_travel=0.5))
    ids = [tracker.update(f).data["tracker_id"].tolist() for f in frames]
    assert ids == [[-1]] * 3 + [[]] * 2 + [[-1], [1], [1], [1]]
    assert tracker.last_associations.stage.tolist() == [1]


@settings(max_examples=60, deadline=None)
@given(sequences(), st.sampled_from([0.25, 0.5, 2.0]), st.sampled_from([1, 2]))
def test_min_travel_only_withholds_ids(
    frames: list[Detections], min_travel: float, min_hits: int
) -> None:
    # the same associations as without the rule: each track's ID is withheld for a
    # first stretch of its life, then it is the track's ID to the end (renumbered)
    base = Tracker(TrackerConfig(min_hits=min_hits))
    held = Tracker(TrackerConfig(min_hits=min_hits, min_travel=min_travel))
    to_held: dict[int, int] = {}
    for det in frames:
        a = base.update(det).data["tracker_id"]
        b = held.update(det).data["tracker_id"]
        assert ((a >= 0) | (b < 0)).all()  # never an ID the rule-less tracker does not give
        for i, j in zip(a.tolist(), b.tolist(), strict=True):
            if i < 0:
                continue
            if i in to_held:
                assert j == to_held[i]  # once given, kept
            elif j >= 0:
                assert j not in to_held.values()
                to_held[i] = j


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 30), st.sampled_from([0.5, 1.0]))
def test_static_boxes_never_get_an_id(seed: int, n_frames: int, min_travel: float) -> None:
    # look-alikes fixed in place, fired at random with random confidences and classes;
    # farther apart than any gate (4 sizes, at most 56 px): nearer ones could pass a
    # track from one to the next, which is travel
    rng = np.random.default_rng(seed)
    cells = np.array([(x, y) for x in (50, 150, 250) for y in (50, 150)], dtype=float)
    centres = cells[rng.random(len(cells)) < 0.6] + rng.uniform(-10, 10, (1, 2))
    size = rng.uniform(6, 14, len(centres))
    boxes = np.concatenate([centres - size[:, None] / 2, centres + size[:, None] / 2], axis=1)
    cfg = TrackerConfig(min_hits=1, confirm_mean=0.0, min_travel=min_travel)
    tracker = Tracker(cfg)
    for _ in range(n_frames):
        on = rng.random(len(boxes)) < 0.7
        det = Detections(
            boxes[on], rng.uniform(0.4, 1, int(on.sum())), rng.integers(0, 2, int(on.sum()))
        )
        assert (tracker.update(det).data["tracker_id"] == -1).all()


# ----------------------------------------------------------------- lost_birth_iou


@pytest.mark.parametrize(
    ("lost_birth_iou", "expected"),
    [
        # off: the flipped class starts a second track (ID 2 once confirmed)
        (1.0, [[-1], [1], [1], [1], [-1], [2], [2]]),
        # the flipped detection lies on the lost track's predicted box: ID 1 goes on
        (0.3, [[-1], [1], [1], [1], [1], [1], [1]]),
    ],
)
def test_a_class_flip_reactivates_instead_of_starting_a_track(
    lost_birth_iou: float, expected: list[list[int]]
) -> None:
    frames = [classed((box(20 + 3 * t, 30), 0.9, 0)) for t in range(4)]
    frames += [classed((box(20 + 3 * t, 30), 0.9, 1)) for t in range(4, 7)]
    tracker = Tracker(TrackerConfig(lost_birth_iou=lost_birth_iou))
    ids = [tracker.update(f).data["tracker_id"].tolist() for f in frames]
    assert ids == expected
    if lost_birth_iou < 1:
        # the track keeps class 0, so each class-1 box comes back through stage 4
        assert tracker.last_associations.stage.tolist() == [4]


def test_reactivation_is_recorded_as_stage_4() -> None:
    frames = [classed((box(20 + 3 * t, 30), 0.9, 0)) for t in range(4)]
    frames.append(classed((box(32, 30), 0.9, 1)))
    tracker = Tracker(TrackerConfig(min_hits=1, lost_birth_iou=0.3))
    for f in frames:
        out = tracker.update(f)
    assert out.data["tracker_id"].tolist() == [1]
    assert tracker.last_associations.stage.tolist() == [4]


@pytest.mark.parametrize(
    ("lost_birth_iou", "expected"),
    [
        (1.0, [[1]] * 3 + [[]] * 2 + [[2]]),  # off: a new track
        # a box 2.5x the track's side around its predicted box (IoU 0.16): too large to
        # be the track's (size_ratio 2), but on it: it starts no track
        (0.1, [[1]] * 3 + [[]] * 2 + [[-1]]),
        (0.3, [[1]] * 3 + [[]] * 2 + [[2]]),  # IoU below the threshold: a new track
    ],
)
def test_no_birth_on_a_lost_tracks_predicted_box(
    lost_birth_iou: float, expected: list[list[int]]
) -> None:
    frames = [frame(box(20 + 3 * t, 30)) for t in range(3)] + [frame()] * 2
    frames.append(frame(box(35, 30, size=20)))
    assert run(frames, min_hits=1, lost_birth_iou=lost_birth_iou) == expected


# ----------------------------------------------------------------- class_vote


@pytest.mark.parametrize(
    ("class_vote", "classes"),
    [
        (False, [0, 0, 0, 0]),  # the class it was born with
        # votes 0.9 for class 0; 0.6 then 1.2 for class 1: class 1 from the 2nd flip on
        (True, [0, 0, 1, 1]),
    ],
)
def test_a_track_takes_its_most_voted_class(class_vote: bool, classes: list[int]) -> None:
    frames = [classed((box(20, 30), 0.9, 0))]
    frames += [classed((box(20 + 3 * t, 30), 0.6, 1)) for t in range(1, 4)]
    tracker = Tracker(TrackerConfig(min_hits=1, class_switch_gate=1.0, class_vote=class_vote))
    seen = []
    for f in frames:
        assert tracker.update(f).data["tracker_id"].tolist() == [1]
        seen.append(int(tracker.tracks.class_id[0]))
    assert seen == classes


def test_a_vote_tie_goes_to_the_lowest_class() -> None:
    frames = [classed((box(20, 30), 0.5, 3)), classed((box(22, 30), 0.5, 2))]
    tracker = Tracker(TrackerConfig(min_hits=1, class_switch_gate=1.0, class_vote=True))
    for f in frames:
        tracker.update(f)
    assert tracker.tracks.class_id.tolist() == [2]


@pytest.mark.parametrize(("class_vote", "last"), [(True, [1]), (False, [2])])
def test_the_voted_class_decides_the_matches(class_vote: bool, last: list[int]) -> None:
    # born class 0, then seen as class 1 on its prediction (followed: class_switch_gate);
    # with the vote it is a class-1 track, which takes a class-1 box 3 px off its
    # prediction (inside the 4.9 px gate, beyond 0.1 of it: no class switch there)
    frames = [classed((box(20, 30), 0.5, 0))] + [classed((box(20, 30), 0.9, 1))] * 2
    frames.append(classed((box(23, 30), 0.9, 1)))
    cfg = {"min_hits": 1, "class_switch_gate": 0.1, "class_vote": class_vote}
    assert run(frames, **cfg) == [[1]] * 3 + [last]


def test_bad_mover_parameters() -> None:
    for bad in (
        {"min_travel": -0.5},
        {"min_travel": float("inf")},
        {"lost_birth_iou": 0.0},
        {"lost_birth_iou": 1.5},
    ):
        with pytest.raises(TilewiseError):
            TrackerConfig(**bad)  # type: ignore[arg-type]
