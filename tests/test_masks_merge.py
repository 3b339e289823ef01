"""Mask overlap, unions and mask-aware merging, against plain dense implementations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tilewise import Detections, TilewiseError
from tilewise.masks import (
    CompactMasks,
    candidate_pairs,
    mask_overlap,
    pairwise_intersection,
    union_groups,
)
from tilewise.masks import ops as mask_ops
from tilewise.merge import (
    MaskOverlap,
    MergeAction,
    mask_merge_kernel,
    merge_detections,
    merge_masked_detections,
)

pytestmark = pytest.mark.usefixtures("kernel_backend")

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def scenes(draw: st.DrawFn, max_n: int = 8, side: int = 40) -> tuple[np.ndarray, ...]:
    """Dense blob masks with tight boxes, confidences (ties possible) and 2 classes."""
    n = draw(st.integers(1, max_n))
    dense = np.zeros((n, side, side), dtype=np.uint8)
    for i in range(n):
        cx, cy = draw(st.integers(0, side - 1)), draw(st.integers(0, side - 1))
        ax, ay = draw(st.integers(1, 14)), draw(st.integers(1, 14))
        cv2.ellipse(dense[i], (cx, cy), (ax, ay), draw(st.integers(0, 179)), 0, 360, 1, -1)
        if draw(st.booleans()):  # a second blob, or a duplicate of the previous mask
            if i and draw(st.booleans()):
                dense[i] = dense[i - 1]
            else:
                cv2.circle(
                    dense[i],
                    (draw(st.integers(0, side)), draw(st.integers(0, side))),
                    draw(st.integers(1, 6)),
                    1,
                    -1,
                )
    masks = dense.astype(bool)
    boxes = np.zeros((n, 4), dtype=np.float32)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    conf = np.array(
        draw(st.lists(st.sampled_from([0.3, 0.5, 0.7, 0.9]), min_size=n, max_size=n)),
        dtype=np.float32,
    )
    cls = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=np.int64)
    return masks, boxes, conf, cls


def dense_metric(a: np.ndarray, b: np.ndarray, metric: str) -> float:
    inter = int(np.count_nonzero(a & b))
    sa, sb = int(a.sum()), int(b.sum())
    denom = sa + sb - inter if metric == "iou" else min(sa, sb)
    return inter / denom if denom else 0.0


def dense_merge(
    masks: np.ndarray,
    conf: np.ndarray,
    cls: np.ndarray,
    method: str,
    thr: float,
    metric: str,
    agnostic: bool,
) -> tuple[list[int], list[int], list[np.ndarray]]:
    """Textbook greedy merging on full-image dense masks: (keep, parent, merged masks)."""
    n = len(masks)
    order = np.argsort(-conf.astype(np.float64), kind="stable").tolist()
    parent = list(range(n))
    assigned = [False] * n
    keep: list[int] = []
    merged: list[np.ndarray] = []
    for pos, i in enumerate(order):
        if assigned[i]:
            continue
        assigned[i] = True
        keep.append(i)
        union = masks[i].copy()
        if method in ("nms", "greedy_nmm"):
            for j in order[pos + 1 :]:
                if assigned[j] or (not agnostic and cls[j] != cls[i]):
                    continue
                value = dense_metric(masks[i], masks[j], metric)
                if (value > thr) if method == "nms" else (value >= thr):
                    assigned[j] = True
                    parent[j] = i
                    union |= masks[j]
        else:
            while True:
                joined = next(
                    (
                        j
                        for j in order
                        if not assigned[j]
                        and (agnostic or cls[j] == cls[i])
                        and dense_metric(union, masks[j], metric) >= thr
                    ),
                    -1,
                )
                if joined < 0:
                    break
                assigned[joined] = True
                parent[joined] = i
                union |= masks[joined]
        merged.append(masks[i] if method == "nms" else union)
    return keep, parent, merged


# ---------------------------------------------------------------- overlap


@pytest.mark.parametrize("window", [0, 10**9])
@SETTINGS
@given(hnp.arrays(bool, st.tuples(st.integers(1, 6), st.integers(1, 20), st.integers(1, 20))))
def test_pairwise_overlap_equals_dense(window: int, dense: np.ndarray) -> None:
    old = mask_ops.WINDOW_PIXELS, mask_ops.CHUNK_PIXELS
    mask_ops.WINDOW_PIXELS, mask_ops.CHUNK_PIXELS = window, 37
    try:
        masks = CompactMasks.from_dense(dense)
        n = len(dense)
        pairs = np.array([(i, j) for i in range(n) for j in range(n)], dtype=np.int64)
        inter = pairwise_intersection(masks, pairs)
        iou = mask_overlap(masks, pairs, "iou")
        ios = mask_overlap(masks, pairs, "ios")
    finally:
        mask_ops.WINDOW_PIXELS, mask_ops.CHUNK_PIXELS = old
    for k, (i, j) in enumerate(pairs.tolist()):
        assert inter[k] == np.count_nonzero(dense[i] & dense[j])
        assert iou[k] == pytest.approx(dense_metric(dense[i], dense[j], "iou"), abs=0, rel=1e-12)
        assert ios[k] == pytest.approx(dense_metric(dense[i], dense[j], "ios"), abs=0, rel=1e-12)


@SETTINGS
@given(scenes())
def test_candidate_pairs_cover_every_intersecting_pair(scene: tuple[np.ndarray, ...]) -> None:
    masks_dense, _, _, cls = scene
    masks = CompactMasks.from_dense(masks_dense)
    found = {tuple(p) for p in candidate_pairs(masks).tolist()}
    same = {tuple(p) for p in candidate_pairs(masks, cls, class_agnostic=False).tolist()}
    n = len(masks_dense)
    for i in range(n):
        for j in range(i + 1, n):
            if (masks_dense[i] & masks_dense[j]).any():
                assert (i, j) in found
                assert ((i, j) in same) == (cls[i] == cls[j])


def test_pairwise_intersection_rejects_bad_indices() -> None:
    masks = CompactMasks.from_dense(np.ones((2, 3, 3), dtype=bool))
    with pytest.raises(TilewiseError, match="outside"):
        pairwise_intersection(masks, [[0, 2]])
    assert pairwise_intersection(masks, np.zeros((0, 2))).shape == (0,)


@SETTINGS
@given(scenes(), st.data())
def test_union_groups_equals_dense_or(scene: tuple[np.ndarray, ...], data: st.DataObject) -> None:
    dense = scene[0]
    n = len(dense)
    group = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    labels = np.unique(group)
    members = np.concatenate([np.flatnonzero(group == g) for g in labels])
    offsets = np.concatenate([[0], np.cumsum([np.sum(group == g) for g in labels])])
    unions = union_groups(CompactMasks.from_dense(dense), offsets, members)
    assert len(unions) == labels.size
    for k, g in enumerate(labels):
        np.testing.assert_array_equal(unions.mask(k), dense[group == g].any(axis=0))


# ---------------------------------------------------------------- merging


@SETTINGS
@given(
    scenes(),
    st.sampled_from(["nms", "greedy_nmm", "nmm"]),
    st.sampled_from([0.1, 0.3, 0.5, 0.8, 1.0]),
    st.sampled_from(["iou", "ios"]),
    st.booleans(),
)
def test_mask_mode_equals_dense_reference(
    scene: tuple[np.ndarray, ...], method: str, thr: float, metric: str, agnostic: bool
) -> None:
    dense, boxes, conf, cls = scene
    det = Detections(boxes, conf, cls, masks=dense)
    out, result = merge_masked_detections(
        det, method, threshold=thr, metric=metric, class_agnostic=agnostic, mask_overlap="mask"
    )
    result.validate()
    keep, parent, merged = dense_merge(dense, conf, cls, method, thr, metric, agnostic)
    assert result.keep.tolist() == keep
    assert result.parent.tolist() == parent
    assert result.action is (MergeAction.SUPPRESSED if method == "nms" else MergeAction.MERGED)
    np.testing.assert_array_equal(out.masks.to_dense(), np.array(merged).reshape(-1, 40, 40))
    for k, g in enumerate(result.groups()):
        expected = (
            boxes[g[0]]
            if method == "nms"
            else np.concatenate([boxes[g, :2].min(axis=0), boxes[g, 2:].max(axis=0)])
        )
        np.testing.assert_array_equal(out.xyxy[k], expected)
    np.testing.assert_array_equal(out.confidence, conf[result.keep])
    np.testing.assert_array_equal(out.class_id, cls[result.keep])


@SETTINGS
@given(
    scenes(),
    st.sampled_from(["nms", "greedy_nmm", "nmm"]),
    st.sampled_from([0.1, 0.5, 0.9]),
    st.sampled_from(["iou", "ios"]),
)
def test_box_mode_groups_like_the_box_kernels_and_unions_masks(
    scene: tuple[np.ndarray, ...], method: str, thr: float, metric: str
) -> None:
    dense, boxes, conf, cls = scene
    det = Detections(boxes, conf, cls, masks=dense)
    out, result = merge_masked_detections(
        det, method, threshold=thr, metric=metric, mask_overlap=MaskOverlap.BOX
    )
    plain, expected = merge_detections(
        Detections(boxes, conf, cls), method, threshold=thr, metric=metric
    )
    assert result.keep.tolist() == expected.keep.tolist()
    assert result.parent.tolist() == expected.parent.tolist()
    np.testing.assert_array_equal(out.xyxy, plain.xyxy)
    for k, g in enumerate(result.groups()):
        want = dense[g[0]] if method == "nms" else dense[g].any(axis=0)
        np.testing.assert_array_equal(out.masks.mask(k), want)


def test_merge_keeps_data_and_handles_edge_cases() -> None:
    dense = np.zeros((3, 10, 10), dtype=bool)
    dense[0, 0:5, 0:5] = True
    dense[1, 1:5, 0:5] = True
    dense[2, 7:9, 7:9] = True
    det = Detections(
        np.array([[0, 0, 5, 5], [0, 1, 5, 5], [7, 7, 9, 9]]),
        [0.6, 0.9, 0.5],
        data={"tag": np.array(["a", "b", "c"])},
        masks=dense,
    )
    out, res = merge_masked_detections(det, "nmm", threshold=0.5)
    assert out.data["tag"].tolist() == ["b", "c"]
    assert out.masks.area.tolist() == [25, 4]
    assert res.members()[1].tolist() == [1, 0, 2]
    same, ident = merge_masked_detections(det, "none")
    assert same is det
    assert ident.keep.tolist() == [0, 1, 2]
    empty, r = merge_masked_detections(det[[]], "nmm")
    assert len(empty) == 0
    assert r.n_inputs == 0
    assert len(merge_masked_detections(det[[]], "nms", mask_overlap="box")[0]) == 0


def test_empty_masks_never_merge() -> None:
    dense = np.zeros((2, 6, 6), dtype=bool)
    det = Detections(np.array([[0, 0, 4, 4], [0, 0, 4, 4]]), [0.9, 0.8], masks=dense)
    for method in ("nms", "nmm", "greedy_nmm"):
        out, _ = merge_masked_detections(det, method, threshold=0.1, metric="ios")
        assert len(out) == 2
    boxed, _ = merge_masked_detections(det, "nmm", threshold=0.1, mask_overlap="box")
    assert len(boxed) == 1
    assert boxed.masks.area.tolist() == [0]


def test_merge_refuses_bad_input() -> None:
    dense = np.ones((1, 4, 4), dtype=bool)
    det = Detections(np.array([[0, 0, 4, 4]]), masks=dense)
    with pytest.raises(TilewiseError, match="wbf"):
        merge_masked_detections(det, "wbf")
    with pytest.raises(TilewiseError, match="mask_overlap must be one of"):
        merge_masked_detections(det, "nms", mask_overlap="pixels")
    with pytest.raises(TilewiseError, match="CompactMasks"):
        merge_masked_detections(Detections(np.array([[0, 0, 4, 4]])), "nms")
    with pytest.raises(TilewiseError, match=r"threshold must be in \(0, 1\]"):
        merge_masked_detections(det, "nmm", threshold=0)
    with pytest.raises(TilewiseError, match="threshold must be a number"):
        merge_masked_detections(det, "nms", threshold="high")
    with pytest.raises(TilewiseError, match="finite"):
        merge_masked_detections(Detections(np.array([[0, 0, np.nan, 4]]), masks=dense), "nms")
    with pytest.raises(TilewiseError, match="supports nms, nmm and greedy_nmm"):
        mask_merge_kernel(det.masks, [1.0], method="wbf")
    with pytest.raises(TilewiseError, match="confidence"):
        mask_merge_kernel(det.masks, [1.0, 2.0])
    with pytest.raises(TilewiseError, match="class_id"):
        mask_merge_kernel(det.masks, [1.0], [1, 2])
    with pytest.raises(TilewiseError, match="CompactMasks"):
        mask_merge_kernel(dense, [1.0])


@pytest.mark.parametrize("method", ["nmm", "greedy_nmm"])
@pytest.mark.parametrize("mask_overlap", ["mask", "box"])
def test_top_level_merges_union_compact_masks(method, mask_overlap):
    """Regression: merge_detections on masked Detections used to keep only the survivor's mask."""
    import tilewise

    dense = np.zeros((2, 12, 16), dtype=bool)
    dense[0, 2:6, 1:6] = True
    dense[1, 2:6, 4:9] = True
    det = tilewise.Detections(np.array([[1, 2, 6, 6], [4, 2, 9, 6]]), [0.9, 0.8], masks=dense)
    merged, result = tilewise.merge_detections(
        det, method, threshold=0.2, mask_overlap=mask_overlap
    )
    assert result.parent.tolist() == [0, 0]
    assert merged.masks.area.tolist() == [int((dense[0] | dense[1]).sum())]
    via_function = getattr(tilewise, method)(det, threshold=0.2)
    assert via_function.masks.area.tolist() == merged.masks.area.tolist()


def test_top_level_wbf_refuses_masks():
    import tilewise

    dense = np.ones((1, 4, 4), dtype=bool)
    det = tilewise.Detections(np.array([[0, 0, 4, 4]]), [0.9], masks=dense)
    with pytest.raises(tilewise.TilewiseError, match="wbf"):
        tilewise.wbf(det)
