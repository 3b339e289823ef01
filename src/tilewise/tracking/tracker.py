"""A ByteTrack-style tracker for tiny objects: association by normalised centre distance.

IoU-only association fails on tiny objects: an 8 px object that moves 6 px per frame has
almost no overlap with its last box. This tracker predicts every track with a
constant-velocity Kalman filter (``tilewise.tracking.motion``) and scores a
detection against a track by the distance of their centres, *normalised* by how far the
track may plausibly be: the filter's position uncertainty, the measurement noise of an
object of that size and a share of its predicted displacement. Pairs outside the gate are
never matched; IoU enters only as one term of the cost.

One ``update`` per frame, as in ByteTrack:

1. every track is predicted to the new frame;
2. confident detections (``confidence >= high_threshold``) are matched to confirmed
   tracks, active or lost;
3. the remaining active tracks, and the tracks lost for at most ``weak_max_lost``
   frames, are matched to the weaker detections
   (``low_threshold <= confidence < high_threshold``): a weak detection can keep a track
   alive, or bring it back, but never starts one;
4. tentative tracks (born recently, not yet confirmed) are matched to the confident
   detections left;
5. confident detections still unmatched with ``confidence >= new_track_threshold`` start
   tentative tracks, except a *duplicate*: a box overlapping (IoU at or above
   ``duplicate_iou``, whatever the classes) a box matched in this frame or a more
   confident new one (detectors run on overlapping slices often report a tiny object
   twice, under two classes). A tentative track is confirmed, and given an ID, after
   ``min_hits`` consecutive matches *and* once the mean confidence of its matches
   reaches ``confirm_mean`` (so a run of weak false positives never becomes a track);
   it is dropped at its first miss;
6. a confirmed track that misses is *lost*: it keeps being predicted, with a growing
   gate, and is re-activated under its old ID if matched within ``max_lost`` frames.
   With ``lost_birth_iou`` (stage 4, before the births), a would-be birth overlapping
   the predicted box of a confirmed track left unmatched re-activates it, whatever the
   classes, and no track starts on such a box.

A track keeps the class it was born with (or, with ``class_vote``, its most voted class),
unless ``class_switch_gate`` lets a confirmed track take a detection of another class
that lies close to its prediction (for detectors that change the class of the same tiny
object from frame to frame).

For *moving*-object tracking, ``min_travel`` holds back the ID of a confirmed track
until it has moved that many object sizes from where it was born: static look-alikes a
detector fires on frame after frame are tracked (so they start no other tracks) but never
output. Off by default: it would also hide really stationary objects.

Every stage is an optimal assignment (``tilewise.tracking.assignment``) with a fixed tie
rule, so the same detections always give the same IDs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from tilewise.detections.convert import TRACKER_ID_KEY
from tilewise.detections.core import Detections
from tilewise.errors import TilewiseError
from tilewise.tracking.assignment import linear_assignment
from tilewise.tracking.config import TrackerConfig
from tilewise.tracking.motion import TrackStates, boxes_to_state, state_to_boxes

__all__ = ["AssociationRecord", "Tracker", "TrackerConfig", "TrackStatus"]


class TrackStatus(IntEnum):
    """Life stage of a track."""

    TENTATIVE = 0
    """Born, not yet matched ``min_hits`` times in a row; has no ID yet."""
    ACTIVE = 1
    """Confirmed and matched in the last frame."""
    LOST = 2
    """Confirmed, missed in the last frame(s); still predicted, can be re-activated."""


@dataclass(frozen=True)
class AssociationRecord:
    """The matches of the last ``update``: one entry per matched detection.

    Attributes:
        detection: (M,) row of the detection in the frame's input.
        track: (M,) the track's ID, or -1 for a track without one yet (tentative, or held
            by ``min_travel``).
        stage: (M,) 1 confident, 2 weak detections, 3 tentative tracks, 4 re-activation
            instead of a birth (``lost_birth_iou``).
        predicted: (M, 2) the track's predicted centre.
        distance: (M,) centre distance from the prediction to the detection, px.
        gate: (M,) the gate radius the pair was tested against, px (always >= distance).
        cost: (M,) the pair's association cost.
    """

    detection: np.ndarray
    track: np.ndarray
    stage: np.ndarray
    predicted: np.ndarray
    distance: np.ndarray
    gate: np.ndarray
    cost: np.ndarray

    @classmethod
    def empty(cls) -> AssociationRecord:
        """No matches."""
        z = np.zeros(0)
        zi = np.zeros(0, dtype=np.int64)
        return cls(zi, zi, zi, np.zeros((0, 2)), z, z, z)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes (float64)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


class Tracker:
    """Online multi-object tracker for tiny objects (see the module docstring).

    Feed it the detections of consecutive frames, in order. ``update`` returns the same
    detections with ``data["tracker_id"]``: the ID of the confirmed track each one was
    matched to, or -1 (unmatched, or a track not yet confirmed). IDs start at 1 and are
    never reused. Works on any ordered frame sequence (video or stills); pass ``dt`` when
    frames are not evenly spaced.

    Args:
        config: the parameters (default ``TrackerConfig()``).

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> tracker = Tracker(TrackerConfig(min_hits=1))
        >>> ids = []
        >>> for t in range(4):  # an 8 px object moving 6 px per frame: no box overlap
        ...     box = np.array([[6.0 * t, 0.0, 6.0 * t + 8, 8.0]])
        ...     out = tracker.update(Detections(box, confidence=[0.9]))
        ...     ids.append(int(out.data["tracker_id"][0]))
        >>> ids
        [1, 1, 1, 1]
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        if not isinstance(self.config, TrackerConfig):
            raise TilewiseError(f"config must be a TrackerConfig, got {type(config).__name__}")
        self.reset()

    def reset(self) -> None:
        """Forget every track; IDs start at 1 again."""
        self._states = TrackStates(self.config.noise)
        self._ids = np.zeros(0, dtype=np.int64)
        self._status = np.zeros(0, dtype=np.int64)
        self._hits = np.zeros(0, dtype=np.int64)
        self._missed = np.zeros(0, dtype=np.float64)  # frames since the last match
        self._score = np.zeros(0, dtype=np.float64)  # summed confidence of the matches
        self._class = np.zeros(0, dtype=np.int64)
        self._anchor = np.zeros((0, 2), dtype=np.float64)  # centre at birth
        self._moved = np.zeros(0, dtype=bool)  # travelled min_travel from the anchor
        self._votes = np.zeros((0, 0))  # class_vote: summed confidence per class
        self._vote_classes = np.zeros(0, dtype=np.int64)  # the votes' columns
        self._next_id = 1
        self.frame_count = 0
        self.last_associations = AssociationRecord.empty()

    # ------------------------------------------------------------------ inspection
    @property
    def tracks(self) -> Detections:
        """The confirmed tracks (active and lost) at their current estimate.

        ``data`` holds ``tracker_id``, ``status`` (a ``TrackStatus`` value) and
        ``velocity`` (N, 2 px per frame).
        """
        keep = (self._status != TrackStatus.TENTATIVE) & (self._ids >= 0)
        return Detections(
            state_to_boxes(self._states.pos[keep]),
            class_id=self._class[keep],
            data={
                TRACKER_ID_KEY: self._ids[keep],
                "status": self._status[keep],
                "velocity": self._states.vel[keep, :2],
            },
        )

    # ------------------------------------------------------------------ association
    def _cost(
        self,
        tracks: np.ndarray,
        boxes: np.ndarray,
        classes: np.ndarray,
        dt: float,
        min_iou: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Cost (inf outside the gate), distances, gate radii and predicted centres."""
        cfg = self.config
        st = self._states
        pos = st.pos[tracks]
        centre = pos[:, :2]
        size = np.sqrt(np.maximum(pos[:, 2] * pos[:, 3], 1e-6))
        speed = np.hypot(st.vel[tracks, 0], st.vel[tracks, 1])
        frames = self._missed[tracks] + dt
        var = (
            (st.var_p[tracks, 0] + st.var_p[tracks, 1]) / 2
            + st.measurement_var()[tracks]
            + (cfg.speed_std * speed * frames) ** 2
        )
        radius = np.minimum(cfg.gate * np.sqrt(var), cfg.max_gate * size)
        det = boxes_to_state(boxes)
        dist = np.hypot(det[None, :, 0] - centre[:, None, 0], det[None, :, 1] - centre[:, None, 1])
        det_size = np.sqrt(np.maximum(det[:, 2] * det[:, 3], 1e-6))
        ratio = det_size[None, :] / size[:, None]
        ok = (dist <= radius[:, None]) & (ratio <= cfg.size_ratio) & (ratio >= 1 / cfg.size_ratio)
        iou = _iou(state_to_boxes(pos), boxes.astype(np.float64))
        cost = (1 - cfg.iou_weight) * (dist / radius[:, None]) ** 2 + cfg.iou_weight * (1 - iou)
        if min_iou > 0:  # re-activation of lost tracks by overlap, whatever the class
            ok &= iou >= min_iou
        elif not cfg.class_agnostic:
            other = self._class[tracks][:, None] != classes[None, :]
            switch = (self._status[tracks] != TrackStatus.TENTATIVE)[:, None] & (
                dist <= cfg.class_switch_gate * radius[:, None]
            )
            ok &= ~other | switch
        return np.where(ok, cost, np.inf), dist, radius, centre

    def _associate(
        self,
        tracks: np.ndarray,
        dets: np.ndarray,
        det: Detections,
        dt: float,
        stage: int,
        records: list[tuple[np.ndarray, ...]],
        min_iou: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Match track rows ``tracks`` to detection rows ``dets``; returns the matched pairs."""
        empty = np.zeros(0, dtype=np.int64)
        if tracks.size == 0 or dets.size == 0:
            return empty, empty.copy()
        cost, dist, radius, centre = self._cost(
            tracks, det.xyxy[dets].astype(np.float64), det.class_id[dets], dt, min_iou
        )
        r, c = linear_assignment(cost)
        records.append(
            (
                dets[c],
                tracks[r],
                np.full(r.size, stage, dtype=np.int64),
                centre[r],
                dist[r, c],
                radius[r],
                cost[r, c],
            )
        )
        return tracks[r], dets[c]

    # ------------------------------------------------------------------ the step
    def update(self, detections: Detections, dt: float = 1.0) -> Detections:
        """Advance one frame: match ``detections`` to the tracks, return them with IDs.

        Args:
            detections: this frame's detections (any order; rows are kept as given).
            dt: frames since the previous call (1 for consecutive video frames).

        Returns:
            ``detections`` with ``data["tracker_id"]`` (int64, -1 where unmatched).

        Raises:
            TilewiseError: ``detections`` is not a ``Detections``, or ``dt <= 0``.
        """
        if not isinstance(detections, Detections):
            raise TilewiseError(f"update takes Detections, got {type(detections).__name__}")
        if not np.isfinite(dt) or dt <= 0:
            raise TilewiseError(f"dt must be a finite number > 0, got {dt}")
        cfg = self.config
        det = detections
        self.frame_count += 1
        self._states.predict(dt)

        conf = det.confidence
        finite = np.isfinite(det.xyxy).all(axis=1)
        high = np.flatnonzero(finite & (conf >= cfg.high_threshold))
        low = np.flatnonzero(finite & (conf >= cfg.low_threshold) & (conf < cfg.high_threshold))
        status = self._status
        records: list[tuple[np.ndarray, ...]] = []

        confirmed = np.flatnonzero(status != TrackStatus.TENTATIVE)
        t1, d1 = self._associate(confirmed, high, det, dt, 1, records)
        weak_ok = (status == TrackStatus.ACTIVE) | (
            (status == TrackStatus.LOST) & (self._missed <= cfg.weak_max_lost)
        )
        active_left = np.setdiff1d(np.flatnonzero(weak_ok), t1)
        t2, d2 = self._associate(active_left, low, det, dt, 2, records)
        high_left = np.setdiff1d(high, d1)
        tentative = np.flatnonzero(status == TrackStatus.TENTATIVE)
        t3, d3 = self._associate(tentative, high_left, det, dt, 3, records)
        would_be = np.setdiff1d(high_left, d3)  # the births, unless stage 4 takes them
        would_be = would_be[conf[would_be] >= cfg.new_track_threshold]
        t4, d4 = self._reactivate(np.concatenate([t1, t2]), would_be, det, dt, records)

        matched_t = np.concatenate([t1, t2, t3, t4])
        matched_d = np.concatenate([d1, d2, d3, d4])
        self._states.update(matched_t, det.xyxy[matched_d].astype(np.float64))
        self._vote(matched_t, matched_d, det)
        self._travel(matched_t)
        self._hits[matched_t] += 1
        self._score[matched_t] += conf[matched_d]
        self._missed[matched_t] = 0.0
        self._status[matched_t] = np.where(
            self._status[matched_t] == TrackStatus.TENTATIVE,
            TrackStatus.TENTATIVE,
            TrackStatus.ACTIVE,
        )
        # tentative tracks confirmed by this match get their IDs, in track order
        promote = matched_t[
            (self._status[matched_t] == TrackStatus.TENTATIVE)
            & (self._hits[matched_t] >= max(cfg.min_hits, 1))
            & (self._score[matched_t] >= cfg.confirm_mean * self._hits[matched_t])
        ]
        # ... and so do confirmed tracks that have now travelled far enough (min_travel)
        held = matched_t[(self._status[matched_t] != TrackStatus.TENTATIVE)
                         & (self._ids[matched_t] < 0)]  # fmt: skip
        self._give_ids(np.sort(np.concatenate([promote, held])))

        unmatched = np.setdiff1d(np.arange(len(self._ids)), matched_t)
        self._missed[unmatched] += dt
        self._status[unmatched] = np.where(
            self._status[unmatched] == TrackStatus.TENTATIVE,
            TrackStatus.TENTATIVE,
            TrackStatus.LOST,
        )
        drop = unmatched[
            (self._status[unmatched] == TrackStatus.TENTATIVE)
            | (self._missed[unmatched] > cfg.max_lost)
        ]

        out_ids = np.full(len(det), -1, dtype=np.int64)
        out_ids[matched_d] = self._ids[matched_t]
        self.last_associations = self._record(records)

        keep = np.setdiff1d(np.arange(len(self._ids)), drop)
        self._keep(keep)
        births = self._not_on_lost(det, np.setdiff1d(would_be, d4))
        births = self._not_duplicates(det, births, matched_d)
        if births.size:
            self._birth(det, births, out_ids)
        return Detections(
            det.xyxy,
            det.confidence,
            det.class_id,
            masks=det.masks,
            data={**det.data, TRACKER_ID_KEY: out_ids},
        )

    # ------------------------------------------------------------------ bookkeeping
    def _give_ids(self, rows: np.ndarray) -> None:
        """Confirm ``rows`` (in order); those that have travelled ``min_travel`` get IDs."""
        if rows.size == 0:
            return
        self._status[rows] = TrackStatus.ACTIVE
        rows = rows[self._moved[rows] & (self._ids[rows] < 0)]
        self._ids[rows] = np.arange(self._next_id, self._next_id + rows.size)
        self._next_id += int(rows.size)

    def _keep(self, rows: np.ndarray) -> None:
        self._states.keep(rows)
        self._ids = self._ids[rows]
        self._status = self._status[rows]
        self._hits = self._hits[rows]
        self._missed = self._missed[rows]
        self._score = self._score[rows]
        self._class = self._class[rows]
        self._anchor = self._anchor[rows]
        self._moved = self._moved[rows]
        self._votes = self._votes[rows]

    def _birth(self, det: Detections, rows: np.ndarray, out_ids: np.ndarray) -> None:
        n = rows.size
        start = len(self._ids)
        self._states.add(det.xyxy[rows].astype(np.float64))
        self._ids = np.concatenate([self._ids, np.full(n, -1, dtype=np.int64)])
        self._status = np.concatenate(
            [self._status, np.full(n, TrackStatus.TENTATIVE, dtype=np.int64)]
        )
        self._hits = np.concatenate([self._hits, np.ones(n, dtype=np.int64)])
        self._missed = np.concatenate([self._missed, np.zeros(n)])
        self._score = np.concatenate([self._score, det.confidence[rows].astype(np.float64)])
        self._class = np.concatenate([self._class, det.class_id[rows]])
        self._anchor = np.concatenate([self._anchor, self._states.pos[start:, :2]])
        self._moved = np.concatenate([self._moved, np.full(n, self.config.min_travel <= 0)])
        self._votes = np.concatenate([self._votes, np.zeros((n, self._vote_classes.size))])
        new = np.arange(start, start + n)
        self._vote(new, rows, det)
        if self.config.min_hits <= 1:
            ok = self._score[new] >= self.config.confirm_mean
            self._give_ids(new[ok])
            out_ids[rows[ok]] = self._ids[new[ok]]

    def _reactivate(
        self,
        taken: np.ndarray,
        would_be: np.ndarray,
        det: Detections,
        dt: float,
        records: list[tuple[np.ndarray, ...]],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stage 4 (``lost_birth_iou`` < 1): re-activation instead of a birth.

        The confirmed tracks still unmatched take the would-be births overlapping their
        predicted box, whatever the classes.
        """
        thr = self.config.lost_birth_iou
        empty = np.zeros(0, dtype=np.int64)
        if thr >= 1.0:
            return empty, empty.copy()
        lost = np.setdiff1d(np.flatnonzero(self._status != TrackStatus.TENTATIVE), taken)
        return self._associate(lost, would_be, det, dt, 4, records, min_iou=thr)

    def _not_on_lost(self, det: Detections, births: np.ndarray) -> np.ndarray:
        """The birth candidates that start tracks under ``lost_birth_iou``.

        Those overlapping a lost track's predicted box at that IoU or more (any class)
        do not.
        """
        thr = self.config.lost_birth_iou
        lost = np.flatnonzero(self._status == TrackStatus.LOST)
        if births.size == 0 or thr >= 1.0 or lost.size == 0:
            return births
        pred = state_to_boxes(self._states.pos[lost])
        return births[_iou(det.xyxy[births].astype(np.float64), pred).max(axis=1) < thr]

    def _travel(self, rows: np.ndarray) -> None:
        """Mark the tracks ``rows`` whose estimate lies ``min_travel`` sizes from its birth."""
        if self.config.min_travel <= 0 or rows.size == 0:
            return
        pos = self._states.pos[rows]
        size = np.sqrt(np.maximum(pos[:, 2] * pos[:, 3], 1e-6))
        far = np.hypot(*(pos[:, :2] - self._anchor[rows]).T) >= self.config.min_travel * size
        self._moved[rows] |= far

    def _vote(self, rows: np.ndarray, dets: np.ndarray, det: Detections) -> None:
        """``class_vote``: add the matches' confidences to their tracks' class votes.

        A track's class becomes its most voted one (the lowest class ID on a tie).
        """
        if not self.config.class_vote or rows.size == 0:
            return
        classes = np.union1d(self._vote_classes, det.class_id[dets])
        if classes.size > self._vote_classes.size:
            grown = np.zeros((len(self._ids), classes.size))
            grown[:, np.searchsorted(classes, self._vote_classes)] = self._votes
            self._votes, self._vote_classes = grown, classes
        col = np.searchsorted(self._vote_classes, det.class_id[dets])
        np.add.at(self._votes, (rows, col), det.confidence[dets])
        self._class[rows] = self._vote_classes[np.argmax(self._votes[rows], axis=1)]

    def _not_duplicates(
        self, det: Detections, births: np.ndarray, matched: np.ndarray
    ) -> np.ndarray:
        """The birth candidates that are no duplicate.

        A duplicate overlaps (IoU at or above ``duplicate_iou``, whatever the classes) a
        detection matched to a track in this frame or a kept candidate of higher
        confidence (on a tie, the lower row is kept).
        """
        thr = self.config.duplicate_iou
        if births.size == 0 or thr >= 1.0:
            return births
        boxes = det.xyxy.astype(np.float64)
        if matched.size:
            births = births[_iou(boxes[births], boxes[matched]).max(axis=1) < thr]
        order = births[np.argsort(-det.confidence[births], kind="stable")]
        overlap = _iou(boxes[order], boxes[order]) >= thr
        keep = np.ones(order.size, dtype=bool)
        for k in range(order.size):
            if keep[k]:
                keep[k + 1 :] &= ~overlap[k, k + 1 :]
        return np.sort(order[keep])

    def _record(self, records: list[tuple[np.ndarray, ...]]) -> AssociationRecord:
        if not records:
            return AssociationRecord.empty()
        parts = [np.concatenate(col) for col in zip(*records, strict=True)]
        det_rows, track_rows, stage, predicted, distance, gate, cost = parts
        return AssociationRecord(
            detection=det_rows.astype(np.int64),
            track=self._ids[track_rows.astype(np.int64)],
            stage=stage.astype(np.int64),
            predicted=predicted.reshape(-1, 2),
            distance=distance,
            gate=gate,
            cost=cost,
        )

    def __repr__(self) -> str:
        counts = {s.name.lower(): int(np.sum(self._status == s)) for s in TrackStatus}
        return f"Tracker(frames={self.frame_count}, {counts}, next_id={self._next_id})"
