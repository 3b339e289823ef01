"""Tracking metrics: HOTA, Identity (IDF1) and CLEAR (MOTA, ID switches), with size buckets.

The three metric families follow TrackEval (Luiten et al.), the reference implementation
of the MOTChallenge benchmarks, step for step: box similarity is IoU, CLEAR and Identity
match at IoU >= 0.5 (``threshold``), HOTA averages over IoU thresholds 0.05, 0.10, ...,
0.95. ``tests/test_tracking_metrics.py`` checks them against hand-computed tables and
against TrackEval itself where it is installed. They are computed here in numpy because
TrackEval (and py-motmetrics, which no longer runs on numpy 2) cannot be a dependency:
TrackEval requires the non-headless ``opencv-python``.

Size buckets (``AreaRange``, as in the COCO evaluation, e.g. the AI-TOD tiny buckets):
a ground-truth track belongs to a bucket when the median side ``sqrt(w * h)`` of its
boxes falls in it. Evaluating a bucket keeps its tracks and removes every other
ground-truth box, together with the predicted boxes matched to those (IoU >= 0.5, an
optimal matching per frame, as TrackEval removes predictions on distractors). Unmatched
predictions stay when the median side of their predicted track is in the bucket.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tilewise.detections.convert import TRACKER_ID_KEY
from tilewise.detections.core import Detections
from tilewise.errors import TilewiseError
from tilewise.evaluation.buckets import ALL_RANGE, TINY_AREA_RANGES, AreaRange
from tilewise.tracking.assignment import linear_assignment
from tilewise.tracking.mot import FRAME_KEY

__all__ = [
    "HOTA_ALPHAS",
    "TrackEvaluation",
    "TrackMetrics",
    "clear_metrics",
    "evaluate_tracks",
    "hota_metrics",
    "identity_metrics",
]

EPS = float(np.finfo(float).eps)
HOTA_ALPHAS = np.arange(0.05, 0.99, 0.05)
"""The IoU thresholds HOTA is averaged over (as TrackEval: 0.05, 0.10, ..., 0.95)."""


def _maximise(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A full assignment maximising the total score (as TrackEval's dense LSA)."""
    return linear_assignment(-score)


def _index(ids: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    unique = np.unique(np.concatenate(ids)) if ids else np.zeros(0, np.int64)
    return unique, [np.searchsorted(unique, i).astype(np.int64) for i in ids]


def clear_metrics(
    gt_ids: Sequence[np.ndarray],
    pred_ids: Sequence[np.ndarray],
    similarity: Sequence[np.ndarray],
    threshold: float = 0.5,
) -> dict[str, float]:
    """CLEAR MOT metrics of one sequence: MOTA, MOTP, ID switches, fragmentations, MT/PT/ML.

    Args:
        gt_ids: per frame, the (G,) ground-truth IDs.
        pred_ids: per frame, the (P,) predicted IDs.
        similarity: per frame, the (G, P) similarity (IoU) matrix.
        threshold: the smallest similarity of a match.

    Returns:
        ``MOTA``, ``MOTP``, ``MODA``, ``CLR_Re``, ``CLR_Pr``, ``IDSW``, ``Frag``,
        ``MT``, ``PT``, ``ML``, ``CLR_TP``, ``CLR_FN``, ``CLR_FP``, ``MOTP_sum``.

    Example:
        >>> import numpy as np
        >>> gt = [np.array([1, 2])] * 3
        >>> pr = [np.array([10, 20]), np.array([10, 30]), np.array([10, 30])]
        >>> sim = [np.array([[0.9, 0.1], [0.1, 0.8]])] * 3
        >>> m = clear_metrics(gt, pr, sim)
        >>> round(m["MOTA"], 4), m["IDSW"], m["MT"]
        (0.8333, 1, 2)
    """
    n_gt = sum(len(g) for g in gt_ids)
    n_pr = sum(len(p) for p in pred_ids)
    unique_gt, gt_idx = _index(gt_ids)
    out = {k: 0.0 for k in ("MOTA", "MOTP", "MODA", "CLR_Re", "CLR_Pr", "MOTP_sum")}
    out.update({k: 0 for k in ("IDSW", "Frag", "MT", "PT", "ML", "CLR_TP", "CLR_FN", "CLR_FP")})
    if n_pr == 0 or n_gt == 0:
        out["CLR_FN"], out["CLR_FP"] = n_gt, n_pr
        out["ML"] = len(unique_gt) if n_pr == 0 else 0
        return out
    g = len(unique_gt)
    id_count, matched_count, frag_count = np.zeros(g), np.zeros(g), np.zeros(g)
    prev_id = np.full(g, np.nan)  # the last prediction matched to each object
    prev_step_id = np.full(g, np.nan)  # the prediction matched in the previous frame
    tp = fn = fp = idsw = 0
    motp_sum = 0.0
    for gi, pr, sim in zip(gt_idx, pred_ids, similarity, strict=True):
        if len(gi) == 0:
            fp += len(pr)
            continue
        if len(pr) == 0:
            fn += len(gi)
            id_count[gi] += 1
            continue
        score = 1000.0 * (pr[None, :] == prev_step_id[gi][:, None]) + sim
        score[sim < threshold - EPS] = 0
        rows, cols = _maximise(score)
        ok = score[rows, cols] > EPS
        rows, cols = rows[ok], cols[ok]
        matched_gt, matched_pr = gi[rows], pr[cols].astype(np.float64)
        before = prev_id[matched_gt]
        idsw += int(np.sum(~np.isnan(before) & (matched_pr != before)))
        id_count[gi] += 1
        matched_count[matched_gt] += 1
        not_tracked = np.isnan(prev_step_id)
        prev_id[matched_gt] = matched_pr
        prev_step_id[:] = np.nan
        prev_step_id[matched_gt] = matched_pr
        frag_count += not_tracked & ~np.isnan(prev_step_id)
        tp += len(rows)
        fn += len(gi) - len(rows)
        fp += len(pr) - len(rows)
        motp_sum += float(sim[rows, cols].sum())
    ratio = matched_count[id_count > 0] / id_count[id_count > 0]
    mt = int(np.sum(ratio > 0.8))
    pt = int(np.sum(ratio >= 0.2)) - mt
    n = max(1, tp + fn)
    out.update(
        MOTA=(tp - fp - idsw) / n,
        MOTP=motp_sum / max(1, tp),
        MODA=(tp - fp) / n,
        CLR_Re=tp / n,
        CLR_Pr=tp / max(1, tp + fp),
        MOTP_sum=motp_sum,
        IDSW=idsw,
        Frag=int(np.sum(frag_count[frag_count > 0] - 1)),
        MT=mt,
        PT=pt,
        ML=g - mt - pt,
        CLR_TP=tp,
        CLR_FN=fn,
        CLR_FP=fp,
    )
    return out


def identity_metrics(
    gt_ids: Sequence[np.ndarray],
    pred_ids: Sequence[np.ndarray],
    similarity: Sequence[np.ndarray],
    threshold: float = 0.5,
) -> dict[str, float]:
    """Identity metrics of one sequence: IDF1, IDR, IDP, IDTP, IDFN, IDFP.

    The one-to-one matching of ground-truth to predicted IDs that maximises the frames
    in which they match (IoU >= ``threshold``); IDTP counts those frames.

    Example:
        >>> import numpy as np
        >>> gt = [np.array([1])] * 4
        >>> pr = [np.array([5]), np.array([5]), np.array([6]), np.array([6])]
        >>> sim = [np.array([[0.9]])] * 4
        >>> identity_metrics(gt, pr, sim)["IDF1"]
        0.5
    """
    n_gt = sum(len(g) for g in gt_ids)
    n_pr = sum(len(p) for p in pred_ids)
    if n_gt == 0 or n_pr == 0:
        return {"IDF1": 0.0, "IDR": 0.0, "IDP": 0.0, "IDTP": 0, "IDFN": n_gt, "IDFP": n_pr}
    unique_gt, gt_idx = _index(gt_ids)
    unique_pr, pr_idx = _index(pred_ids)
    counts = np.zeros((len(unique_gt), len(unique_pr)))
    for gi, pi, sim in zip(gt_idx, pr_idx, similarity, strict=True):
        if len(gi) and len(pi):
            r, c = np.nonzero(sim >= threshold)
            np.add.at(counts, (gi[r], pi[c]), 1)
    # maximum-weight matching of IDs (the same optimum as TrackEval's padded problem)
    rows, cols = _maximise(counts)
    idtp = round(counts[rows, cols].sum())
    idfn, idfp = n_gt - idtp, n_pr - idtp
    return {
        "IDF1": idtp / max(1.0, idtp + 0.5 * idfp + 0.5 * idfn),
        "IDR": idtp / max(1.0, idtp + idfn),
        "IDP": idtp / max(1.0, idtp + idfp),
        "IDTP": idtp,
        "IDFN": idfn,
        "IDFP": idfp,
    }


def hota_metrics(
    gt_ids: Sequence[np.ndarray],
    pred_ids: Sequence[np.ndarray],
    similarity: Sequence[np.ndarray],
) -> dict[str, float]:
    """HOTA of one sequence and its parts, averaged over ``HOTA_ALPHAS``.

    Returns:
        ``HOTA``, ``DetA``, ``AssA``, ``DetRe``, ``DetPr``, ``AssRe``, ``AssPr``,
        ``LocA``, and ``HOTA_TP``/``HOTA_FN``/``HOTA_FP`` summed over the thresholds.

    Example:
        >>> import numpy as np
        >>> gt = [np.array([1])] * 2
        >>> pr = [np.array([7])] * 2
        >>> sim = [np.array([[1.0]])] * 2
        >>> hota_metrics(gt, pr, sim)["HOTA"]
        1.0
    """
    a = len(HOTA_ALPHAS)
    tp, fn, fp, loc = np.zeros(a), np.zeros(a), np.zeros(a), np.zeros(a)
    ass_a, ass_re, ass_pr = np.zeros(a), np.zeros(a), np.zeros(a)
    n_gt = sum(len(g) for g in gt_ids)
    n_pr = sum(len(p) for p in pred_ids)
    if n_gt == 0 or n_pr == 0:
        fn[:], fp[:], loc[:] = n_gt, n_pr, 1.0
        return _hota_result(tp, fn, fp, ass_a, ass_re, ass_pr, loc)
    unique_gt, gt_idx = _index(gt_ids)
    unique_pr, pr_idx = _index(pred_ids)
    potential = np.zeros((len(unique_gt), len(unique_pr)))
    gt_count = np.zeros((len(unique_gt), 1))
    pr_count = np.zeros((1, len(unique_pr)))
    for gi, pi, sim in zip(gt_idx, pr_idx, similarity, strict=True):
        gt_count[gi] += 1
        pr_count[0, pi] += 1
        if len(gi) == 0 or len(pi) == 0:
            continue
        denom = sim.sum(0)[None, :] + sim.sum(1)[:, None] - sim
        sim_iou = np.zeros_like(sim)
        ok = denom > EPS
        sim_iou[ok] = sim[ok] / denom[ok]
        potential[gi[:, None], pi[None, :]] += sim_iou
    alignment = potential / (gt_count + pr_count - potential)
    matches = np.zeros((a, len(unique_gt), len(unique_pr)))
    for gi, pi, sim in zip(gt_idx, pr_idx, similarity, strict=True):
        if len(gi) == 0:
            fp += len(pi)
            continue
        if len(pi) == 0:
            fn += len(gi)
            continue
        rows, cols = _maximise(alignment[gi[:, None], pi[None, :]] * sim)
        matched_sim = sim[rows, cols]
        ok = matched_sim[None, :] >= HOTA_ALPHAS[:, None] - EPS
        n = ok.sum(axis=1)
        tp += n
        fn += len(gi) - n
        fp += len(pi) - n
        loc += (matched_sim[None, :] * ok).sum(axis=1)
        matches[:, gi[rows], pi[cols]] += ok
    for k in range(a):
        m = matches[k]
        ass_a[k] = np.sum(m * (m / np.maximum(1, gt_count + pr_count - m))) / max(1, tp[k])
        ass_re[k] = np.sum(m * (m / np.maximum(1, gt_count))) / max(1, tp[k])
        ass_pr[k] = np.sum(m * (m / np.maximum(1, pr_count))) / max(1, tp[k])
    loc = np.maximum(1e-10, loc) / np.maximum(1e-10, tp)
    return _hota_result(tp, fn, fp, ass_a, ass_re, ass_pr, loc)


def _hota_result(
    tp: np.ndarray,
    fn: np.ndarray,
    fp: np.ndarray,
    ass_a: np.ndarray,
    ass_re: np.ndarray,
    ass_pr: np.ndarray,
    loc: np.ndarray,
) -> dict[str, float]:
    det_re = tp / np.maximum(1, tp + fn)
    det_pr = tp / np.maximum(1, tp + fp)
    det_a = tp / np.maximum(1, tp + fn + fp)
    return {
        "HOTA": float(np.mean(np.sqrt(det_a * ass_a))),
        "DetA": float(np.mean(det_a)),
        "AssA": float(np.mean(ass_a)),
        "DetRe": float(np.mean(det_re)),
        "DetPr": float(np.mean(det_pr)),
        "AssRe": float(np.mean(ass_re)),
        "AssPr": float(np.mean(ass_pr)),
        "LocA": float(np.mean(loc)),
        "HOTA_TP": int(tp.sum()),
        "HOTA_FN": int(fn.sum()),
        "HOTA_FP": int(fp.sum()),
    }


# ----------------------------------------------------------------------------- sequences


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > EPS, inter / np.where(union > EPS, union, 1.0), 0.0)


def _median_side(table: Detections) -> dict[int, float]:
    ids = np.asarray(table.data[TRACKER_ID_KEY], dtype=np.int64)
    wh = (table.xyxy[:, 2:] - table.xyxy[:, :2]).astype(np.float64)
    side = np.sqrt(np.clip(wh[:, 0] * wh[:, 1], 0, None))
    return {int(i): float(np.median(side[ids == i])) for i in np.unique(ids)}


@dataclass(frozen=True)
class TrackMetrics:
    """HOTA, Identity and CLEAR metrics of one size bucket.

    Attributes:
        bucket: the bucket's name (``all`` for every object).
        gt_tracks: ground-truth tracks in the bucket.
        gt_boxes: their boxes.
        pred_tracks: predicted tracks evaluated.
        pred_boxes: predicted boxes evaluated.
        values: every metric by name (``HOTA``, ``IDF1``, ``MOTA``, ``IDSW``, ...).
    """

    bucket: str
    gt_tracks: int
    gt_boxes: int
    pred_tracks: int
    pred_boxes: int
    values: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return self.values[name]


_TABLE_COLUMNS = ("HOTA", "DetA", "AssA", "IDF1", "MOTA", "MOTP", "IDSW", "Frag", "MT", "ML")


@dataclass(frozen=True)
class TrackEvaluation:
    """The result of ``evaluate_tracks``: one ``TrackMetrics`` per bucket, ``all`` first.

    Attributes:
        buckets: bucket name to metrics.
        frames: frames evaluated.
        threshold: IoU of a match for CLEAR and Identity.
    """

    buckets: dict[str, TrackMetrics]
    frames: int
    threshold: float

    @property
    def overall(self) -> TrackMetrics:
        """The ``all`` bucket."""
        return self.buckets[ALL_RANGE.name]

    def table(self) -> str:
        """A plain-text table, one row per bucket."""
        head = ["bucket", "gt tracks", "gt boxes", *_TABLE_COLUMNS]
        rows = []
        for m in self.buckets.values():
            cells = [m.bucket, str(m.gt_tracks), str(m.gt_boxes)]
            for col in _TABLE_COLUMNS:
                v = m.values[col]
                cells.append(f"{v:.3f}" if col in ("HOTA", "DetA", "AssA", "IDF1", "MOTA", "MOTP")
                             else str(int(v)))  # fmt: skip
            rows.append(cells)
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready results."""
        return {
            "frames": self.frames,
            "threshold": self.threshold,
            "buckets": {k: asdict(v) for k, v in self.buckets.items()},
        }


def _split(table: Detections, frames: int) -> list[Detections]:
    frame = np.asarray(table.data[FRAME_KEY], dtype=np.int64)
    order = np.argsort(frame, kind="stable")
    bounds = np.searchsorted(frame[order], np.arange(frames + 1))
    sorted_table = table[order]
    return [sorted_table[int(a) : int(b)] for a, b in itertools.pairwise(bounds)]


def _check(table: Detections, name: str) -> None:
    if not isinstance(table, Detections):
        raise TilewiseError(f"{name} must be a Detections track table, got {type(table).__name__}")
    for key in (FRAME_KEY, TRACKER_ID_KEY):
        if key not in table.data:
            raise TilewiseError(f"{name} needs data[{key!r}] (see tilewise.tracking.mot)")
    frame = np.asarray(table.data[FRAME_KEY])
    if len(table) and frame.min() < 0:
        raise TilewiseError(f"{name} has negative frame indices")
    if not np.isfinite(table.xyxy).all():
        raise TilewiseError(f"{name} has non-finite boxes")
    for f in np.unique(frame):
        ids = np.asarray(table.data[TRACKER_ID_KEY])[frame == f]
        if len(np.unique(ids)) != len(ids):
            raise TilewiseError(f"{name}: an ID appears twice in frame {int(f) + 1} (1-based)")


def evaluate_tracks(
    ground_truth: Detections,
    predictions: Detections,
    *,
    area_ranges: Sequence[AreaRange] = TINY_AREA_RANGES,
    threshold: float = 0.5,
) -> TrackEvaluation:
    """HOTA, IDF1, MOTA, ID switches and more, overall and per size bucket.

    Args:
        ground_truth: a track table (``tilewise.tracking.mot``); rows with a negative
            ID are ignored.
        predictions: a track table; rows with a negative ID are ignored.
        area_ranges: size buckets besides ``all`` (default: the tiny buckets 2-8, 8-16,
            16-32 px); see the module docstring for how boxes are assigned.
        threshold: IoU of a match for CLEAR and Identity (HOTA averages over
            ``HOTA_ALPHAS``).

    Returns:
        A ``TrackEvaluation``.

    Raises:
        TilewiseError: not track tables, an ID twice in one frame, or a bad threshold.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> boxes = np.array([[0, 0, 8, 8], [6, 0, 14, 8], [12, 0, 20, 8]])
        >>> gt = Detections(boxes, data={"frame": [0, 1, 2], "tracker_id": [1, 1, 1]})
        >>> pred = Detections(boxes, data={"frame": [0, 1, 2], "tracker_id": [4, 4, 9]})
        >>> m = evaluate_tracks(gt, pred).overall
        >>> round(m["IDF1"], 3), m["IDSW"], m["MOTA"]
        (0.667, 1, 0.6666666666666666)
    """
    _check(ground_truth, "ground_truth")
    _check(predictions, "predictions")
    if not 0.0 < float(threshold) <= 1.0:
        raise TilewiseError(f"threshold must be in (0, 1], got {threshold}")
    gt = ground_truth[np.asarray(ground_truth.data[TRACKER_ID_KEY]) >= 0]
    pr = predictions[np.asarray(predictions.data[TRACKER_ID_KEY]) >= 0]
    last = [int(t.data[FRAME_KEY].max()) for t in (gt, pr) if len(t)]
    frames = max(last) + 1 if last else 0
    gt_frames, pr_frames = _split(gt, frames), _split(pr, frames)
    gt_side, pr_side = _median_side(gt), _median_side(pr)
    sims = [
        _iou(g.xyxy.astype(np.float64), p.xyxy.astype(np.float64))
        for g, p in zip(gt_frames, pr_frames, strict=True)
    ]
    ranges = [ALL_RANGE, *[r for r in area_ranges if r.name != ALL_RANGE.name]]
    names = [r.name for r in ranges]
    if len(set(names)) != len(names):
        raise TilewiseError(f"bucket names must be unique, got {names}")
    buckets = {
        r.name: _bucket(r, gt_frames, pr_frames, sims, gt_side, pr_side, float(threshold))
        for r in ranges
    }
    return TrackEvaluation(buckets=buckets, frames=frames, threshold=float(threshold))


def _in_range(r: AreaRange, side: dict[int, float], ids: np.ndarray) -> np.ndarray:
    return r.contains(np.array([side[int(i)] ** 2 for i in ids], dtype=np.float64))


def _bucket(
    r: AreaRange,
    gt_frames: list[Detections],
    pr_frames: list[Detections],
    sims: list[np.ndarray],
    gt_side: dict[int, float],
    pr_side: dict[int, float],
    threshold: float,
) -> TrackMetrics:
    everything = r.min_side == 0 and math.isinf(r.max_side)
    gt_ids, pr_ids, sim_list = [], [], []
    for g, p, sim in zip(gt_frames, pr_frames, sims, strict=True):
        gi = np.asarray(g.data[TRACKER_ID_KEY], dtype=np.int64)
        pi = np.asarray(p.data[TRACKER_ID_KEY], dtype=np.int64)
        if not everything:
            keep_g = _in_range(r, gt_side, gi)
            keep_p = _in_range(r, pr_side, pi)
            if len(gi) and len(pi):
                score = np.where(sim >= threshold - EPS, sim, 0.0)
                rows, cols = _maximise(score)
                ok = score[rows, cols] > EPS
                rows, cols = rows[ok], cols[ok]
                keep_p[cols] = keep_g[rows]  # matched predictions follow their object
            gi, pi, sim = gi[keep_g], pi[keep_p], sim[np.ix_(keep_g, keep_p)]
        gt_ids.append(gi)
        pr_ids.append(pi)
        sim_list.append(sim)
    values: dict[str, float] = {}
    values.update(hota_metrics(gt_ids, pr_ids, sim_list))
    values.update(identity_metrics(gt_ids, pr_ids, sim_list, threshold))
    values.update(clear_metrics(gt_ids, pr_ids, sim_list, threshold))
    all_gt = np.concatenate(gt_ids) if gt_ids else np.zeros(0)
    all_pr = np.concatenate(pr_ids) if pr_ids else np.zeros(0)
    return TrackMetrics(
        bucket=r.name,
        gt_tracks=len(np.unique(all_gt)),
        gt_boxes=len(all_gt),
        pred_tracks=len(np.unique(all_pr)),
        pred_boxes=len(all_pr),
        values=values,
    )
