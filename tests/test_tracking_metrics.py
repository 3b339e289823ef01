"""Tracking metrics: hand-computed tables, TrackEval parity and size buckets."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise import Detections, TilewiseError
from tilewise.evaluation.buckets import AreaRange
from tilewise.tracking import (
    clear_metrics,
    evaluate_tracks,
    hota_metrics,
    identity_metrics,
)


def table(rows: list[tuple[int, int, float, float, float]]) -> Detections:
    """(frame, id, x, y, side) rows as a track table of square boxes."""
    arr = np.array(rows, dtype=float).reshape(-1, 5)
    xyxy = np.stack([arr[:, 2], arr[:, 3], arr[:, 2] + arr[:, 4], arr[:, 3] + arr[:, 4]], 1)
    return Detections(xyxy, data={"frame": arr[:, 0].astype(int), "tracker_id": arr[:, 1]})


# One object over 4 frames. The tracker follows it with ID 5 for two frames, then ID 6,
# and adds a false positive far away in the last frame. By hand:
#   CLEAR:    TP 4, FN 0, FP 1, IDSW 1 (5 -> 6);  MOTA = (4 - 1 - 1) / 4 = 0.5;  MOTP 1
#   Identity: best ID pair (1, 5) or (1, 6) covers 2 frames: IDTP 2, IDFN 2, IDFP 3,
#             IDF1 = 2 / (2 + 1.5 + 1) = 4/9, IDR 1/2, IDP 2/5
#   HOTA:     at every alpha TP 4, FN 0, FP 1: DetA 4/5; each of (1, 5), (1, 6) matches
#             2 frames, A = 2 / (4 + 2 - 2) = 1/2, AssA = (2 * 1/2 + 2 * 1/2) / 4 = 1/2;
#             HOTA = sqrt(4/5 * 1/2) = sqrt(0.4); LocA 1
GT = table([(t, 1, 10.0 * t, 0, 8) for t in range(4)])
PRED = table([(0, 5, 0, 0, 8), (1, 5, 10, 0, 8), (2, 6, 20, 0, 8), (3, 6, 30, 0, 8),
              (3, 9, 200, 200, 8)])  # fmt: skip


def test_hand_computed_table() -> None:
    m = evaluate_tracks(GT, PRED).overall
    expected = {
        "CLR_TP": 4, "CLR_FN": 0, "CLR_FP": 1, "IDSW": 1, "MOTA": 0.5, "MOTP": 1.0,
        "Frag": 0, "MT": 1, "PT": 0, "ML": 0,
        "IDTP": 2, "IDFN": 2, "IDFP": 3, "IDF1": 4 / 9, "IDR": 0.5, "IDP": 0.4,
        "DetA": 0.8, "AssA": 0.5, "HOTA": math.sqrt(0.4), "LocA": 1.0,
    }  # fmt: skip
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, abs=1e-12), key
    assert (m.gt_tracks, m.gt_boxes, m.pred_tracks, m.pred_boxes) == (1, 4, 3, 5)


def test_perfect_and_empty() -> None:
    perfect = evaluate_tracks(GT, GT).overall
    for key in ("HOTA", "IDF1", "MOTA", "DetA", "AssA"):
        assert perfect[key] == pytest.approx(1.0)
    assert perfect["IDSW"] == 0
    empty = table([])
    none = evaluate_tracks(GT, empty).overall
    assert (none["HOTA"], none["IDF1"], none["MOTA"], none["CLR_FN"], none["ML"]) == (
        0.0, 0.0, 0.0, 4, 1,
    )  # fmt: skip
    ghost = evaluate_tracks(empty, GT).overall
    assert (ghost["CLR_FP"], ghost["IDFP"]) == (4, 4)
    assert evaluate_tracks(empty, empty).frames == 0


def test_fragmentation_and_mostly_lost() -> None:
    gt = table([(t, 1, 0, 0, 10) for t in range(10)])
    # tracked, lost (a false positive elsewhere meanwhile), found again
    pred = table(
        [(t, 1, 0, 0, 10) for t in (0, 1, 4, 5)] + [(2, 9, 90, 90, 10), (3, 9, 90, 90, 10)]
    )
    m = evaluate_tracks(gt, pred).overall
    assert (m["Frag"], m["PT"], m["MT"], m["ML"], m["IDSW"]) == (1, 1, 0, 0, 0)
    assert m["MOTA"] == pytest.approx((4 - 2) / 10)
    # as in TrackEval, a frame without any prediction does not break the run
    m = evaluate_tracks(gt, table([(t, 1, 0, 0, 10) for t in (0, 1, 4, 5)])).overall
    assert m["Frag"] == 0


def test_iou_threshold() -> None:
    gt = table([(0, 1, 0, 0, 10)])
    pred = table([(0, 1, 4, 0, 10)])  # IoU 6/14
    assert evaluate_tracks(gt, pred).overall["CLR_TP"] == 0
    assert evaluate_tracks(gt, pred, threshold=0.4).overall["CLR_TP"] == 1
    with pytest.raises(TilewiseError, match="threshold"):
        evaluate_tracks(gt, pred, threshold=0)


def test_size_buckets_keep_their_objects_and_drop_matched_predictions() -> None:
    small = [(t, 1, 10.0 * t, 0, 6) for t in range(3)]
    large = [(t, 2, 10.0 * t, 100, 12) for t in range(3)]
    gt = table(small + large)
    # the large object is tracked; the small one is missed; a 6 px false positive
    pred = table([(t, 7, 10.0 * t, 100, 12) for t in range(3)] + [(0, 8, 300, 300, 6)])
    res = evaluate_tracks(gt, pred, area_ranges=[AreaRange("a", 0, 8), AreaRange("b", 8, 16)])
    assert list(res.buckets) == ["all", "a", "b"]
    a, b = res.buckets["a"], res.buckets["b"]
    assert (a.gt_tracks, a["CLR_TP"], a["CLR_FN"], a["CLR_FP"]) == (1, 0, 3, 1)
    assert (b.gt_tracks, b["CLR_TP"], b["CLR_FN"], b["CLR_FP"]) == (1, 3, 0, 0)
    assert b["IDF1"] == pytest.approx(1.0)
    assert "bucket" in res.table()
    assert res.to_dict()["buckets"]["b"]["values"]["IDF1"] == pytest.approx(1.0)


def test_negative_ids_are_ignored_and_bad_tables_rejected() -> None:
    pred = table([(0, -1, 0, 0, 8), (0, 5, 0, 0, 8)])
    assert evaluate_tracks(GT, pred).overall["CLR_FP"] == 0
    with pytest.raises(TilewiseError, match="twice"):
        evaluate_tracks(GT, table([(0, 5, 0, 0, 8), (0, 5, 9, 9, 8)]))
    with pytest.raises(TilewiseError, match=r"data\['frame'\]"):
        evaluate_tracks(GT, Detections(np.zeros((1, 4))))
    with pytest.raises(TilewiseError, match="unique"):
        evaluate_tracks(GT, GT, area_ranges=[AreaRange("x", 0, 8), AreaRange("x", 8, 16)])


# ----------------------------------------------------------------------------- TrackEval


def _random_sequence(seed: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    frames, n_gt, n_pr = int(rng.integers(1, 15)), int(rng.integers(1, 6)), int(rng.integers(1, 8))
    gts, prs, sims = [], [], []
    for _ in range(frames):
        g = np.sort(rng.choice(n_gt, int(rng.integers(0, n_gt + 1)), replace=False))
        p = np.sort(rng.choice(n_pr, int(rng.integers(0, n_pr + 1)), replace=False))
        s = rng.random((len(g), len(p))) * (rng.random((len(g), len(p))) < 0.6)
        gts.append(g + 1)
        prs.append(p + 11)
        sims.append(s)
    return gts, prs, sims


@pytest.mark.peers
@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_equal_to_trackeval(seed: int) -> None:
    pytest.importorskip("trackeval")
    from trackeval.metrics import CLEAR, HOTA, Identity

    gts, prs, sims = _random_sequence(seed)
    if not sum(map(len, gts)) or not sum(map(len, prs)):
        return
    ug, up = np.unique(np.concatenate(gts)), np.unique(np.concatenate(prs))
    data = {
        "num_gt_ids": len(ug), "num_tracker_ids": len(up), "num_timesteps": len(gts),
        "num_gt_dets": sum(map(len, gts)), "num_tracker_dets": sum(map(len, prs)),
        "gt_ids": [np.searchsorted(ug, g) for g in gts],
        "tracker_ids": [np.searchsorted(up, p) for p in prs],
        "similarity_scores": sims,
    }  # fmt: skip
    ref: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for metric in (HOTA(), CLEAR({"PRINT_CONFIG": False}), Identity({"PRINT_CONFIG": False})):
            for key, value in metric.eval_sequence(data).items():
                ref[key] = float(np.mean(value))
    ours = {**hota_metrics(gts, prs, sims), **clear_metrics(gts, prs, sims)}
    ours.update(identity_metrics(gts, prs, sims))
    keys = ("HOTA", "DetA", "AssA", "LocA", "AssRe", "AssPr", "MOTA", "MOTP", "IDSW", "Frag",
            "MT", "PT", "ML", "IDF1", "IDTP", "IDFN", "IDFP", "CLR_FP", "CLR_FN")  # fmt: skip
    for key in keys:
        assert float(ours[key]) == pytest.approx(ref[key], abs=1e-9), key
