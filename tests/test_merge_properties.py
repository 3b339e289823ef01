"""Properties of the merges that hold for any input (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise import Detections
from tilewise.boxes import box_overlap
from tilewise.merge import (
    greedy_nmm_kernel,
    merge_detections,
    nmm_kernel,
    nms_kernel,
    wbf_kernel,
)

pytestmark = pytest.mark.usefixtures("kernel_backend")

KERNELS = {
    "nms": nms_kernel,
    "greedy_nmm": greedy_nmm_kernel,
    "nmm": nmm_kernel,
    "wbf": wbf_kernel,
}

finite = st.floats(0, 200, allow_nan=False, width=32)
side = st.floats(0, 60, allow_nan=False, width=32)
row = st.tuples(finite, finite, side, side, st.floats(0, 1, width=32), st.integers(0, 2))


@st.composite
def detections(draw, max_size=30):
    rows = draw(st.lists(row, max_size=max_size))
    a = np.array(rows, dtype=np.float64).reshape(-1, 6)
    xyxy = np.stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]], 1)
    return Detections(xyxy, a[:, 4], a[:, 5].astype(np.int64), data={"row": np.arange(len(rows))})


common = settings(max_examples=120, deadline=None)
methods = st.sampled_from(sorted(KERNELS))
metrics = st.sampled_from(["iou", "ios"])
thresholds = st.sampled_from([0.1, 0.3, 0.5, 0.8, 1.0])


@common
@given(det=detections(), method=methods, metric=metrics, thr=thresholds, agnostic=st.booleans())
def test_every_input_in_exactly_one_group(det, method, metric, thr, agnostic):
    res = KERNELS[method](
        det.xyxy,
        det.confidence,
        det.class_id,
        threshold=thr,
        metric=metric,
        class_agnostic=agnostic,
    )
    res.validate()
    offsets, members = res.members()
    assert sorted(members.tolist()) == list(range(len(det)))
    assert members[offsets[:-1]].tolist() == res.keep.tolist()  # survivor first
    for k, group in enumerate(res.groups()):
        assert (res.parent[group] == res.keep[k]).all()
        conf = det.confidence[group]
        assert (conf[0] >= conf).all()  # the survivor is the most confident member
        if not agnostic:
            assert (det.class_id[group] == det.class_id[group[0]]).all()


@common
@given(det=detections(), metric=metrics, thr=st.sampled_from([0.0, 0.1, 0.5, 0.9]))
def test_nms_survivors_do_not_overlap_above_threshold(det, metric, thr):
    res = nms_kernel(det.xyxy, det.confidence, det.class_id, threshold=thr, metric=metric)
    kept = det[res.keep]
    overlap = box_overlap(kept.xyxy, kept.xyxy, metric)
    same = kept.class_id[:, None] == kept.class_id[None, :]
    np.fill_diagonal(same, False)
    assert not (overlap[same] > thr).any()
    # every suppressed detection overlaps its survivor above the threshold
    gone = np.flatnonzero(res.parent != np.arange(len(det)))
    if len(gone):
        o = box_overlap(det.xyxy[gone], det.xyxy[res.parent[gone]], metric).diagonal()
        assert (o > thr).all()


@common
@given(det=detections(), metric=metrics, thr=thresholds)
def test_greedy_members_match_their_keeper(det, metric, thr):
    res = greedy_nmm_kernel(det.xyxy, det.confidence, det.class_id, threshold=thr, metric=metric)
    gone = np.flatnonzero(res.parent != np.arange(len(det)))
    if len(gone):
        o = box_overlap(det.xyxy[gone], det.xyxy[res.parent[gone]], metric).diagonal()
        assert (o >= thr).all()
    # the keepers are exactly NMS's survivors with >= in place of >
    kept = det[res.keep]
    overlap = box_overlap(kept.xyxy, kept.xyxy, metric)
    same = kept.class_id[:, None] == kept.class_id[None, :]
    np.fill_diagonal(same, False)
    assert not (overlap[same] >= thr).any()


@common
@given(
    det=detections(), method=st.sampled_from(["nmm", "greedy_nmm"]), metric=metrics, thr=thresholds
)
def test_merged_box_is_exactly_the_enclosing_box(det, method, metric, thr):
    out, res = merge_detections(det, method, threshold=thr, metric=metric)
    for k, group in enumerate(res.groups()):
        members = det.xyxy[group]
        expected = [*members[:, :2].min(0), *members[:, 2:].max(0)]
        assert out.xyxy[k].tolist() == expected
        assert out.confidence[k] == det.confidence[group].max()
        assert out.class_id[k] == det.class_id[group[0]]
        assert out.data["row"][k] == group[0]


@common
@given(det=detections(), metric=metrics, thr=thresholds)
def test_wbf_box_inside_members_and_mean_confidence(det, metric, thr):
    out, res = merge_detections(det, "wbf", threshold=thr, metric=metric)
    for k, group in enumerate(res.groups()):
        members = det.xyxy[group]
        lo, hi = members.min(0), members.max(0)
        assert (out.xyxy[k] >= lo).all()
        assert (out.xyxy[k] <= hi).all()
        assert np.isclose(out.confidence[k], det.confidence[group].astype(np.float64).mean())
        if len(group) == 1:
            assert out.xyxy[k].tolist() == members[0].tolist()


def tie_stable_permutation(conf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random permutation that keeps equally confident rows in their relative order."""
    perm = rng.permutation(len(conf))
    for value in np.unique(conf):
        slots = np.flatnonzero(conf[perm] == value)
        perm[slots] = np.sort(perm[slots])
    return perm


@common
@given(det=detections(), method=methods, metric=metrics, thr=thresholds, seed=st.integers(0, 99))
def test_independent_of_input_order(det, method, metric, thr, seed):
    """Relabelling the inputs relabels the result, as long as the rank order is the same.

    Ranks break confidence ties by input index, so exactly the permutations that keep
    tied rows in their relative order leave the result unchanged (up to relabelling).
    """
    perm = tie_stable_permutation(det.confidence, np.random.default_rng(seed))
    conf = det.confidence
    a = KERNELS[method](det.xyxy, conf, det.class_id, threshold=thr, metric=metric)
    b = KERNELS[method](
        det.xyxy[perm], conf[perm], det.class_id[perm], threshold=thr, metric=metric
    )
    assert perm[b.keep].tolist() == a.keep.tolist()
    assert perm[b.parent].tolist() == a.parent[perm].tolist()


@common
@given(det=detections(), method=methods, metric=metrics, thr=thresholds, seed=st.integers(0, 99))
def test_any_order_when_confidences_are_distinct(det, method, metric, thr, seed):
    conf = det.confidence.astype(np.float64) + np.arange(len(det)) * 1e-9
    perm = np.random.default_rng(seed).permutation(len(det))
    a = KERNELS[method](det.xyxy, conf, det.class_id, threshold=thr, metric=metric)
    b = KERNELS[method](
        det.xyxy[perm], conf[perm], det.class_id[perm], threshold=thr, metric=metric
    )
    assert perm[b.keep].tolist() == a.keep.tolist()
    assert perm[b.parent].tolist() == a.parent[perm].tolist()


@common
@given(det=detections(), method=methods, metric=metrics, thr=thresholds)
def test_per_class_equals_each_class_alone(det, method, metric, thr):
    res = KERNELS[method](det.xyxy, det.confidence, det.class_id, threshold=thr, metric=metric)
    for c in np.unique(det.class_id):
        idx = np.flatnonzero(det.class_id == c)
        alone = KERNELS[method](det.xyxy[idx], det.confidence[idx], threshold=thr, metric=metric)
        assert idx[alone.parent].tolist() == res.parent[idx].tolist()
