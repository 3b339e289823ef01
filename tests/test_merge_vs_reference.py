"""The kernels against plain O(N^2) implementations of the same definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import merge_reference as ref
from tilewise.boxes import paired_overlap
from tilewise.merge import greedy_nmm_kernel, nmm_kernel, nms_kernel, wbf_kernel

pytestmark = pytest.mark.usefixtures("kernel_backend")

KERNELS = {
    "nms": nms_kernel,
    "greedy_nmm": greedy_nmm_kernel,
    "nmm": nmm_kernel,
    "wbf": wbf_kernel,
}
THRESHOLDS = [0.1, 0.25, 0.3, 0.5, 0.7, 1.0]


def reference(method, boxes, conf, cls, thr, metric):
    args = (boxes.tolist(), conf.tolist(), None if cls is None else cls.tolist(), thr, metric)
    if method == "wbf":
        keep, parent, _ = ref.wbf(*args)
        return keep, parent
    return ref.REFERENCES[method](*args)


def check_all(boxes, conf, cls, rng):
    for method, kernel in KERNELS.items():
        for metric in ("iou", "ios"):
            choices = THRESHOLDS + ([0.0] if method == "nms" else [])
            thr = float(rng.choice(choices))
            res = kernel(boxes, conf, cls, threshold=thr, metric=metric)
            keep, parent = reference(method, boxes, conf, cls, thr, metric)
            assert res.keep.tolist() == keep, (method, metric, thr)
            assert res.parent.tolist() == parent, (method, metric, thr)
            res.validate()


def integer_boxes(rng, n):
    """Small integer grid: many exact ties in coordinates, overlaps and confidences."""
    xy = rng.integers(0, 16, (n, 2))
    wh = rng.integers(0, 8, (n, 2))
    conf = rng.integers(0, 4, n) / 4
    return np.concatenate([xy, xy + wh], 1).astype(np.float64), conf


def clustered_boxes(rng, n):
    """Sliced-inference-like duplicates: jittered copies of a few objects."""
    centers = rng.uniform(0, 200, (max(n // 4, 1), 2))
    sizes = rng.uniform(8, 40, (len(centers), 2))
    pick = rng.integers(0, len(centers), n)
    c = centers[pick] + rng.normal(0, 2, (n, 2))
    s = sizes[pick] * rng.uniform(0.7, 1.3, (n, 2))
    boxes = np.concatenate([c - s / 2, c + s / 2], 1).astype(np.float32)
    return boxes, rng.uniform(0, 1, n).astype(np.float32)


def mixed_size_boxes(rng, n):
    """Sizes over several orders of magnitude, so several grid levels are in use."""
    xy = rng.uniform(0, 300, (n, 2))
    wh = np.exp(rng.uniform(-1, 6, (n, 2)))
    return np.concatenate([xy, xy + wh], 1), rng.uniform(0, 1, n)


@pytest.mark.parametrize(
    ("make", "seed"), [(integer_boxes, 101), (clustered_boxes, 202), (mixed_size_boxes, 303)]
)
def test_random_inputs(make, seed):
    # a fixed seed: hash(str) changes from process to process, so a failure would not replay
    rng = np.random.default_rng(seed)
    for trial in range(60):
        n = int(rng.integers(1, 45))
        boxes, conf = make(rng, n)
        cls = rng.integers(0, 3, n) if trial % 2 else None
        check_all(boxes, conf, cls, rng)


def test_structured_inputs():
    rng = np.random.default_rng(7)
    i = np.arange(40, dtype=np.float64)
    falling = np.linspace(1, 0, 40)
    cases = [
        np.stack([i * 3, 0 * i, i * 3 + 10, 0 * i + 10], 1),  # horizontal chain
        np.stack([i * 3, i * 3, i * 3 + 10, i * 3 + 10], 1),  # diagonal chain
        np.stack([0 * i, 0 * i, 10 + i * 0.5, 10 + i * 0.5], 1),  # nested, growing
        np.stack([0 * i - i, 0 * i, 10 + i, 10 + 0 * i], 1),  # growing both ways
        np.stack([0 * i, i * 3, 0 * i + 10, i * 3 + 10], 1),  # downward chain
        np.stack([0 * i, -i * 3, 0 * i + 10, -i * 3 + 10], 1),  # upward chain
        np.stack([-i * 3, 0 * i, -i * 3 + 10, 0 * i + 10], 1),  # leftward chain
        np.stack([-i * 2, -i * 2, 10 - i, 10 - i], 1),  # growing up-left
        np.tile([[0.0, 0, 10, 10]], (40, 1)),  # all identical
        np.concatenate([[[-500.0, -500, 500, 500]], np.stack([i * 7, i, i * 7 + 9, i + 9], 1)]),
    ]
    for boxes in cases:
        for conf in (
            falling[: len(boxes)],
            falling[: len(boxes)][::-1],
            rng.uniform(0, 1, len(boxes)),
        ):
            if len(conf) < len(boxes):
                conf = np.append(conf, 0.5)
            check_all(boxes, conf, None, rng)


@pytest.mark.parametrize("seed", range(4))
def test_wbf_clusters_drifting_across_cells(seed):
    """Fused boxes that move far from their first member (they change grid cells)."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(12):
        x = np.cumsum(rng.uniform(0.5, 3.0, 30)) + rng.uniform(0, 50)
        y = r * 11 + rng.normal(0, 1.5, 30)
        w = rng.uniform(8, 14, 30)
        rows.append(np.stack([x, y, x + w, y + w], 1))
    boxes = np.concatenate(rows)
    conf = rng.uniform(0.05, 1, len(boxes))
    for thr in (0.1, 0.3, 0.5):
        for metric in ("iou", "ios"):
            res = wbf_kernel(boxes, conf, threshold=thr, metric=metric)
            keep, parent = reference("wbf", boxes, conf, None, thr, metric)
            assert res.keep.tolist() == keep
            assert res.parent.tolist() == parent


def test_reference_overlap_matches_library():
    rng = np.random.default_rng(3)
    boxes, _ = integer_boxes(rng, 200)
    a, b = boxes[:100], boxes[100:]
    for metric in ("iou", "ios"):
        expected = paired_overlap(a, b, metric)
        got = [ref.overlap(x, y, metric) for x, y in zip(a.tolist(), b.tolist(), strict=True)]
        assert got == expected.tolist()


def test_wbf_fused_boxes_match_reference():
    from tilewise import Detections
    from tilewise.merge import wbf

    rng = np.random.default_rng(11)
    for _ in range(20):
        boxes, conf = clustered_boxes(rng, 30)
        out = wbf(Detections(boxes, conf), threshold=0.4)
        keep, _, fused = ref.wbf(
            boxes.astype(np.float64).tolist(), conf.astype(np.float64).tolist(), None, 0.4, "iou"
        )
        assert len(out) == len(keep)
        np.testing.assert_allclose(out.xyxy, np.array(fused), rtol=1e-6, atol=1e-4)


coords = st.integers(0, 12)
box = st.tuples(coords, coords, st.integers(0, 6), st.integers(0, 6)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]]
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(box, st.integers(0, 3), st.integers(0, 1)), max_size=25),
    method=st.sampled_from(sorted(KERNELS)),
    metric=st.sampled_from(["iou", "ios"]),
    thr=st.sampled_from([0.2, 0.25, 1 / 3, 0.5, 2 / 3, 1.0]),
    agnostic=st.booleans(),
)
def test_hypothesis_integer_grid(rows, method, metric, thr, agnostic):
    boxes = np.array([r[0] for r in rows], dtype=np.float64).reshape(-1, 4)
    conf = np.array([r[1] / 4 for r in rows], dtype=np.float64)
    cls = np.array([r[2] for r in rows], dtype=np.int64)
    res = KERNELS[method](boxes, conf, cls, threshold=thr, metric=metric, class_agnostic=agnostic)
    keep, parent = reference(method, boxes, conf, None if agnostic else cls, thr, metric)
    assert res.keep.tolist() == keep
    assert res.parent.tolist() == parent
