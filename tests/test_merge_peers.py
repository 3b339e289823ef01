"""Parity with peer libraries on inputs where the definitions agree."""

from __future__ import annotations

import numpy as np
import pytest

from tilewise import Detections
from tilewise.merge import greedy_nmm_kernel, merge_detections, nms_kernel

pytestmark = [pytest.mark.peers, pytest.mark.usefixtures("kernel_backend")]


def normalised_clusters(rng, n):
    """Boxes inside [0, 1] with positive area and distinct scores (no ties to break)."""
    centers = rng.uniform(0.1, 0.9, (max(n // 3, 1), 2))
    pick = rng.integers(0, len(centers), n)
    c = centers[pick] + rng.normal(0, 0.01, (n, 2))
    s = rng.uniform(0.03, 0.1, (n, 2))
    boxes = np.clip(np.concatenate([c - s / 2, c + s / 2], 1), 0, 1)
    scores = rng.permutation(n) / n * 0.9 + 0.05
    return boxes, scores


@pytest.mark.parametrize("seed", range(12))
def test_wbf_matches_ensemble_boxes_single_model(seed):
    eb = pytest.importorskip("ensemble_boxes")
    rng = np.random.default_rng(seed)
    n = 60
    boxes, scores = normalised_clusters(rng, n)
    labels = rng.integers(0, 3, n)
    thr = [0.3, 0.55, 0.7][seed % 3]
    ref_boxes, ref_scores, ref_labels = eb.weighted_boxes_fusion(
        [boxes.tolist()], [scores.tolist()], [labels.tolist()], iou_thr=thr, skip_box_thr=0.0
    )
    det = Detections(boxes, scores, labels)
    out, _ = merge_detections(det, "wbf", threshold=thr)
    assert len(out) == len(ref_boxes)

    # ensemble-boxes sorts by fused score, tilewise by the clusters' first member: pair
    # each fused detection with its nearest counterpart, one to one
    ours = np.column_stack([out.class_id, out.confidence, out.xyxy]).astype(np.float64)
    theirs = np.column_stack([ref_labels, ref_scores, ref_boxes]).astype(np.float64)
    distance = np.abs(ours[:, None, :] - theirs[None, :, :]).max(-1)
    nearest = distance.argmin(1)
    assert sorted(nearest.tolist()) == list(range(len(theirs)))
    assert distance[np.arange(len(ours)), nearest].max() < 2e-6


def sahi_predictions(rng, n):
    xy = rng.uniform(0, 300, (n, 2))
    wh = rng.uniform(10, 60, (n, 2))
    scores = rng.permutation(n) / n * 0.9 + 0.05  # distinct: SAHI breaks ties differently
    return np.column_stack([xy, xy + wh, scores, rng.integers(0, 2, n)])


@pytest.fixture
def sahi_numpy():
    pytest.importorskip("sahi")
    from sahi.postprocess import backends, combine

    backends.set_postprocess_backend("numpy")
    yield combine
    backends.set_postprocess_backend("auto")


@pytest.mark.parametrize("metric", ["IOU", "IOS"])
@pytest.mark.parametrize("seed", range(4))
def test_nms_matches_sahi(sahi_numpy, metric, seed):
    p = sahi_predictions(np.random.default_rng(seed), 150)
    keep = sahi_numpy.batched_nms(p, metric, 0.4)
    ours = nms_kernel(p[:, :4], p[:, 4], p[:, 5].astype(int), threshold=0.4, metric=metric)
    assert sorted(keep) == sorted(ours.keep.tolist())


@pytest.mark.parametrize("metric", ["IOU", "IOS"])
@pytest.mark.parametrize("seed", range(4))
def test_greedy_nmm_groups_match_sahi(sahi_numpy, metric, seed):
    p = sahi_predictions(np.random.default_rng(100 + seed), 150)
    theirs = sahi_numpy.batched_greedy_nmm(p, metric, 0.4)
    ours = greedy_nmm_kernel(p[:, :4], p[:, 4], p[:, 5].astype(int), threshold=0.4, metric=metric)
    groups = {int(g[0]): sorted(g[1:].tolist()) for g in ours.groups()}
    assert groups == {k: sorted(v) for k, v in theirs.items()}
