"""The numpy twin (``tilewise.kernels._numpy``) against the C extension, called directly.

Every case compares the ``parent`` arrays of ``group`` and the pairs of ``pairs`` exactly,
for all modes, both metrics and thresholds that hit ties and exact overlap values.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tilewise.kernels import (
    _numpy,
    _numpy_components,
    _numpy_grid,
    _numpy_near,
    _numpy_nmm,
    _numpy_nmm_batch,
    _numpy_suppress,
    _numpy_wbf,
    _numpy_wbf_batch,
)

native = pytest.importorskip("tilewise.kernels._native")

MODES = [0, 1, 2, 3]  # nms, greedy_nmm, nmm, wbf
METRICS = [0, 1]  # iou, ios
THRESHOLDS = [0.0, 0.1, 0.25, 1 / 3, 0.5, 0.75, 1.0]


def _inputs(boxes, conf=None, offsets=None):
    b = np.ascontiguousarray(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    n = b.shape[0]
    c = np.linspace(1.0, 0.1, n) if conf is None else np.asarray(conf, dtype=np.float64)
    off = np.array([0, n] if offsets is None else offsets, dtype=np.int64)
    return b, np.ascontiguousarray(c), off


def assert_same(boxes, conf=None, offsets=None, modes=MODES, thresholds=THRESHOLDS):
    b, c, off = _inputs(boxes, conf, offsets)
    n = b.shape[0]
    for mode in modes:
        for metric in METRICS:
            for thr in thresholds:
                want = np.full(n, -7, dtype=np.int64)
                got = np.full(n, -7, dtype=np.int64)
                native.group(b, c, off, want, mode, metric, thr)
                _numpy.group(b, c, off, got, mode, metric, thr)
                assert got.tolist() == want.tolist(), (mode, metric, thr)
    want_pairs = np.frombuffer(native.pairs(b, off), dtype=np.int64).reshape(-1, 2)
    got_pairs = np.frombuffer(_numpy.pairs(b, off), dtype=np.int64).reshape(-1, 2)
    assert got_pairs.tolist() == want_pairs.tolist()


def _chain(n, step):
    return [[i * step, 0, i * step + 10, 10] for i in range(n)]


CASES = {
    "empty": ([], None, None),
    "one": ([[0, 0, 10, 10]], None, None),
    "one-zero-area": ([[0, 0, 0, 10]], None, None),
    "chain": (_chain(12, 5), None, None),
    "chain-thin-steps": (_chain(30, 1), None, None),
    "equal-boxes": ([[0, 0, 10, 10]] * 6, None, None),
    "equal-boxes-equal-conf": ([[0, 0, 10, 10]] * 5, [0.5] * 5, None),
    "zero-area-among-boxes": (
        [[0, 0, 10, 10], [0, 0, 10, 0], [5, 5, 5, 9], [1, 1, 9, 9], [3, 3, 3, 3]],
        None,
        None,
    ),
    "inverted-boxes": ([[10, 10, 0, 0], [0, 0, 10, 10], [2, 2, 8, 8]], None, None),
    "touching-edges": (
        [[0, 0, 10, 10], [10, 0, 20, 10], [0, 10, 10, 20], [10, 10, 20, 20]],
        None,
        None,
    ),
    "touching-corner-and-overlap": (
        [[0, 0, 10, 10], [10, 10, 20, 20], [9, 9, 11, 11]],
        None,
        None,
    ),
    # IoU exactly 0.5 ([0, 10] vs [0, 5] in x, same y), IoU exactly 1/3 and 0.25.
    "exact-iou-half": ([[0, 0, 10, 10], [0, 0, 5, 10], [5, 0, 10, 10]], None, None),
    "exact-iou-third": ([[0, 0, 10, 10], [5, 0, 15, 10]], None, None),
    "exact-ios-half": ([[0, 0, 10, 10], [5, 0, 15, 4]], None, None),
    "ties-in-overlap": (
        [[0, 0, 10, 10], [20, 0, 30, 10], [5, 0, 25, 10], [10, 0, 20, 10]],
        None,
        None,
    ),
    "wbf-tie-smallest-rank": (
        [[0, 0, 10, 10], [10, 0, 20, 10], [5, 0, 15, 10]],
        [0.9, 0.8, 0.7],
        None,
    ),
    "huge-covers-small": (
        [[-1000, -1000, 1000, 1000]]
        + [[i * 20, j * 20, i * 20 + 5, j * 20 + 5] for i in range(5) for j in range(5)],
        None,
        None,
    ),
    "small-first-then-huge": (
        [[i * 20, j * 20, i * 20 + 5, j * 20 + 5] for i in range(4) for j in range(4)]
        + [[-1000, -1000, 1000, 1000]],
        None,
        None,
    ),
    "negative-coordinates": (
        [
            [-50, -50, -40, -40],
            [-45, -45, -35, -35],
            [-42.5, -48, -36, -41],
            [-1e6, -1e6, -1e6 + 3, -1e6 + 3],
        ],
        None,
        None,
    ),
    "nmm-grows-into-far-box": (
        [[0, 0, 10, 10], [8, 8, 18, 18], [16, 0, 19, 3], [0, 16, 3, 19], [20, 20, 30, 30]],
        None,
        None,
    ),
    "segments-with-empty-ones": (
        [[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [2, 2, 12, 12], [5, 5, 6, 6]],
        None,
        [0, 0, 2, 2, 2, 5, 5],
    ),
    "single-row-segments": (
        [[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]],
        None,
        [0, 1, 2, 3],
    ),
    "wbf-zero-weights": ([[0, 0, 10, 10], [1, 1, 11, 11], [2, 0, 12, 10]], [0.0, 0.0, 0.0], None),
    "wbf-fused-zero-area": (
        [[0, 0, 10, 10], [10, 0, 20, 10], [0, 0, 10, 1e-300]],
        [1.0, 1.0, 1.0],
        None,
    ),
    "wbf-negative-weights": (
        [[0, 0, 10, 10], [2, 2, 12, 12], [20, 20, 30, 30], [25, 25, 35, 35]],
        [0.5, -0.4, 0.3, -0.2],
        None,
    ),
    "tiny-and-subnormal": (
        [[0, 0, 1e-160, 1e-160], [0, 0, 1e-160, 5e-161], [0, 0, 5e-324, 5e-324], [0, 0, 1, 1]],
        None,
        None,
    ),
    "far-offset-canvas": (
        [[1e12, 1e12, 1e12 + 10, 1e12 + 10], [1e12 + 5, 1e12, 1e12 + 15, 1e12 + 10]],
        None,
        None,
    ),
    "mixed-sizes": (
        [[0, 0, 2**k, 2**k] for k in range(-20, 30, 3)] + [[1, 1, 3, 3], [0.5, 0.5, 1e6, 0.75]],
        None,
        None,
    ),
}


@pytest.mark.parametrize(("boxes", "conf", "offsets"), CASES.values(), ids=CASES.keys())
def test_exact_cases(boxes, conf, offsets):
    assert_same(boxes, conf, offsets, thresholds=[*THRESHOLDS, -0.5, 1.5, float("nan")])


@pytest.mark.parametrize("seed", range(4))
def test_dense_scenes_with_large_components(seed):
    """Hundreds of boxes on a small grid: components exceed the lockstep size."""
    rng = np.random.default_rng(seed)
    n = 700
    xy = rng.integers(0, 40, (n, 2)) / 2
    wh = rng.integers(0, 9, (n, 2)) / 2
    conf = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], n)
    order = np.argsort(-conf, kind="stable")
    boxes = np.concatenate([xy, xy + wh], axis=1)[order]
    assert_same(boxes, conf[order], [0, 250, n], thresholds=[0.0, 0.3, 0.5])


@pytest.mark.parametrize("seed", range(3))
def test_small_rounds_and_budgets(monkeypatch, seed):
    """Tiny rounds, budgets and size limits exercise every splitting path."""
    monkeypatch.setattr(_numpy_grid, "BUDGET", 5)
    monkeypatch.setattr(_numpy_grid, "_BLOCK", 7)
    monkeypatch.setattr(_numpy_suppress, "_ROUND", 3)
    monkeypatch.setattr(_numpy_suppress, "_WAVES", 1)
    monkeypatch.setattr(_numpy_nmm, "SMALL", 3)
    monkeypatch.setattr(_numpy_wbf, "SMALL", 3)
    _tiny_rounds(monkeypatch)
    rng = np.random.default_rng(100 + seed)
    n = 120
    xy = rng.integers(0, 12, (n, 2)).astype(float)
    wh = rng.integers(0, 5, (n, 2)).astype(float)
    boxes = np.concatenate([xy, xy + wh], axis=1)
    boxes[::17] = [-5, -5, 20, 20]
    assert_same(boxes, None, [0, 40, 41, n], thresholds=[0.0, 0.25, 0.5, 1.0])


def _tiny_rounds(monkeypatch):
    """Rounds of one or two seeds/rows and regions of two: every cut and escape path."""
    for mod in (_numpy_nmm_batch, _numpy_wbf_batch):
        monkeypatch.setattr(mod, "FIRST", 2)
        monkeypatch.setattr(mod, "MOST", 4)
        monkeypatch.setattr(mod, "REGION", 2)
    monkeypatch.setattr(_numpy_wbf_batch, "REBUILD", 3)


def _chained_scene(seed, n_obj, span, sigma=2.0, per=5, side=30.0):
    """Clusters of ``per`` jittered boxes whose components chain across the canvas."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, span, (n_obj, 2))
    c = centers[np.repeat(np.arange(n_obj), per)] + rng.normal(0, sigma, (n_obj * per, 2))
    conf = rng.uniform(0, 1, n_obj * per)
    order = np.argsort(-conf, kind="stable")
    half = side / 2
    return np.concatenate([c - half, c + half], 1)[order], conf[order]


@pytest.mark.parametrize("seed", range(3))
def test_dense_chained_components(seed):
    """One component of thousands of boxes: the batched NMM and WBF rounds."""
    boxes, conf = _chained_scene(seed, 400, 500.0)
    n = boxes.shape[0]
    assert_same(boxes, conf, [0, n // 3, n], modes=[2, 3], thresholds=[0.0, 0.5, 0.8])


@pytest.mark.parametrize("seed", range(3))
def test_dense_chained_tiny_rounds(monkeypatch, seed):
    """Chained scenes with rounds of two seeds: regions cut and seeds escaping often."""
    _tiny_rounds(monkeypatch)
    boxes, conf = _chained_scene(10 + seed, 80, 150.0, sigma=6.0, per=4, side=24.0)
    boxes[::13] = boxes[::13] * [1, 1, 1.6, 1.6]
    n = boxes.shape[0]
    assert_same(boxes, conf, [0, 100, n], modes=[2, 3], thresholds=[0.0, 0.2, 0.5])


def _whole_segments(monkeypatch):
    """Every segment takes the dense path: labelled one component, straight to the rounds."""
    monkeypatch.setattr(_numpy_components, "DENSE_ROWS", 0)
    monkeypatch.setattr(_numpy_components, "DENSE_COVER", 0.0)


@pytest.mark.parametrize(("boxes", "conf", "offsets"), CASES.values(), ids=CASES.keys())
def test_exact_cases_whole_segments(monkeypatch, boxes, conf, offsets):
    """The dense fast path (no component split) on the adversarial tables, tiny rounds."""
    _whole_segments(monkeypatch)
    _tiny_rounds(monkeypatch)
    assert_same(boxes, conf, offsets, modes=[2, 3], thresholds=[*THRESHOLDS, -0.5, 1.5])


# Ties in score, equal boxes and IoU exactly at the threshold, in a dense block of boxes
# on a half-pixel lattice (IoU 0.5 and 1/3 occur between many pairs).
def _lattice_scene(seed, n, span):
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 2 * span, (n, 2)) / 2
    wh = rng.choice([2.0, 4.0, 6.0], (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    boxes[1::7] = boxes[::7][: boxes[1::7].shape[0]]  # equal boxes
    conf = rng.choice([0.2, 0.5, 0.5, 0.9], n)  # ties in score
    order = np.argsort(-conf, kind="stable")
    return boxes[order], conf[order]


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("agnostic", [True, False], ids=["agnostic", "class-aware"])
def test_dense_path_taken_on_dense_segments(monkeypatch, seed, agnostic):
    """A dense segment beside a sparse one: only the dense one is taken whole."""
    monkeypatch.setattr(_numpy_components, "DENSE_ROWS", 150)
    dense, dconf = _lattice_scene(seed, 400, 16)
    sparse, sconf = _lattice_scene(seed + 50, 200, 300)
    boxes, conf = np.concatenate([dense, sparse]), np.concatenate([dconf, sconf])
    offsets = [0, boxes.shape[0]] if agnostic else [0, 400, boxes.shape[0]]
    if not agnostic:
        starts = np.array(offsets[:-1])
        assert _numpy_components.dense_segments(boxes, starts).tolist() == [True, False]
    assert_same(boxes, conf, offsets, modes=[2, 3], thresholds=[1 / 3, 0.5, 1.0])


@pytest.mark.parametrize("reach", [0.0, 0.1, 4.0])
def test_nmm_candidate_cache_reach(monkeypatch, reach):
    """Reach boxes from none (a new query at every growth) to wide (never one)."""
    monkeypatch.setattr(_numpy_near, "REACH", reach)
    _whole_segments(monkeypatch)
    boxes, conf = _chained_scene(7, 120, 200.0, sigma=5.0, per=4, side=24.0)
    boxes[::11] = boxes[::11] * [1, 1, 1.5, 1.5]
    n = boxes.shape[0]
    assert_same(boxes, conf, [0, 150, 151, n], modes=[2], thresholds=[0.0, 0.3, 0.5])


def test_interleaved_keeps_rank_order_inside_segments():
    seg = np.array([0, 0, 0, 0, 2, 2, 5, 7, 7, 7])
    order = _numpy_components.interleaved(seg)
    assert sorted(order.tolist()) == list(range(10))
    assert seg[order].tolist() == [0, 2, 5, 7, 0, 2, 7, 0, 7, 0]
    for s in np.unique(seg):
        mine = order[seg[order] == s]
        assert np.all(np.diff(mine) > 0)


def test_identical_boxes_stay_linear():
    boxes = np.tile([[0.0, 0.0, 10.0, 10.0]], (1000, 1))
    assert_same(boxes, None, None, thresholds=[0.5])


# ------------------------------------------------------------------ properties

COORDS = {
    "integer": st.integers(-4, 12).map(float),
    "half": st.integers(-8, 24).map(lambda v: v / 2),
    "float": st.floats(-50, 50, allow_nan=False, allow_infinity=False, width=64),
}


@st.composite
def scenes(draw):
    grid = draw(st.sampled_from(sorted(COORDS)))
    coord = COORDS[grid]
    n = draw(st.integers(0, 40))
    x1 = draw(st.lists(coord, min_size=n, max_size=n))
    y1 = draw(st.lists(coord, min_size=n, max_size=n))
    size = st.integers(0, 8).map(float) if grid != "float" else st.floats(0, 20)
    w = draw(st.lists(size, min_size=n, max_size=n))
    h = draw(st.lists(size, min_size=n, max_size=n))
    boxes = np.array([x1, y1, np.add(x1, w), np.add(y1, h)], dtype=np.float64).T.reshape(n, 4)
    conf = draw(st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.5, 0.9, 1.0]), min_size=n, max_size=n))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    return boxes, np.array(conf, dtype=np.float64), [0, *cuts, n]


THRESHOLD = st.one_of(
    st.sampled_from([0.0, 0.5, 1.0, 0.25, 1 / 3, 0.2, 0.8]),
    st.floats(0, 1, allow_nan=False),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene=scenes(), thr=THRESHOLD)
def test_property_twin_equals_native(scene, thr):
    boxes, conf, offsets = scene
    assert_same(boxes, conf, offsets, thresholds=[thr])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene=scenes(), thr=THRESHOLD)
def test_property_batched_rounds(scene, thr):
    """Every component through the batched NMM and WBF rounds, with tiny rounds."""
    boxes, conf, offsets = scene
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_numpy_nmm, "SMALL", 1)
        mp.setattr(_numpy_wbf, "SMALL", 1)
        _tiny_rounds(mp)
        assert_same(boxes, conf, offsets, modes=[2, 3], thresholds=[thr])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene=scenes(), thr=THRESHOLD, reach=st.sampled_from([0.0, 0.25, 2.0]))
def test_property_whole_segments(scene, thr, reach):
    """Every segment through the dense path (one component), tiny rounds, any reach."""
    boxes, conf, offsets = scene
    with pytest.MonkeyPatch.context() as mp:
        _whole_segments(mp)
        _tiny_rounds(mp)
        mp.setattr(_numpy_near, "REACH", reach)
        assert_same(boxes, conf, offsets, modes=[2, 3], thresholds=[thr])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene=scenes())
def test_property_threshold_zero(scene):
    boxes, conf, offsets = scene
    assert_same(boxes, conf, offsets, thresholds=[0.0])


# ------------------------------------------------------------------ errors


def _good():
    b, c, off = _inputs([[0, 0, 1, 1], [0, 0, 2, 2]])
    return b, c, off, np.empty(2, dtype=np.int64)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: {**a, "boxes": a["boxes"].ravel()[:7]}, "buffer sizes do not match"),
        (lambda a: {**a, "confidence": a["confidence"][:1]}, "buffer sizes do not match"),
        (lambda a: {**a, "parent": np.empty(3, np.int64)}, "buffer sizes do not match"),
        (lambda a: {**a, "offsets": np.zeros(0, np.int64)}, "buffer sizes do not match"),
        (lambda a: {**a, "offsets": np.zeros(3, np.int32)[:1]}, "buffer sizes do not match"),
        (lambda a: {**a, "mode": 4}, "unknown mode or metric"),
        (lambda a: {**a, "mode": -1}, "unknown mode or metric"),
        (lambda a: {**a, "metric": 2}, "unknown mode or metric"),
        (lambda a: {**a, "offsets": np.array([1, 2], np.int64)}, "bad segment offsets"),
        (lambda a: {**a, "offsets": np.array([0, 1], np.int64)}, "bad segment offsets"),
        (lambda a: {**a, "offsets": np.array([0, 2, 1, 2], np.int64)}, "bad segment offsets"),
    ],
)
def test_group_errors_match_native(change, message):
    b, c, off, parent = _good()
    args = change(
        {"boxes": b, "confidence": c, "offsets": off, "parent": parent, "mode": 0, "metric": 0}
    )
    call = [args[k] for k in ("boxes", "confidence", "offsets", "parent", "mode", "metric")]
    with pytest.raises(ValueError, match=message) as want:
        native.group(*call, 0.5)
    with pytest.raises(ValueError, match=message) as got:
        _numpy.group(*call, 0.5)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize(
    ("boxes", "offsets", "message"),
    [
        (np.zeros(7), np.array([0, 0], np.int64), "buffer sizes do not match"),
        (np.zeros((2, 4)), np.zeros(0, np.int64), "buffer sizes do not match"),
        (np.zeros((2, 4)), np.array([0, 3], np.int64), "bad segment offsets"),
        (np.zeros((2, 4)), np.array([0, 2, 1, 2], np.int64), "bad segment offsets"),
    ],
)
def test_pairs_errors_match_native(boxes, offsets, message):
    with pytest.raises(ValueError, match=message) as want:
        native.pairs(boxes, offsets)
    with pytest.raises(ValueError, match=message) as got:
        _numpy.pairs(boxes, offsets)
    assert str(got.value) == str(want.value)


def test_parent_must_be_writable():
    b, c, off, parent = _good()
    parent.flags.writeable = False
    with pytest.raises(TypeError):
        _numpy.group(b, c, off, parent, 0, 0, 0.5)


class _Frozen(bytes):
    """A read-only buffer type defined in Python: errors name it without its module."""


@pytest.mark.parametrize(
    ("position", "bad"),
    [
        (0, np.zeros((2, 8))[:, ::2]),
        (1, np.ones(4)[::2]),
        (2, np.array([0, 9, 2, 9], np.int64)[::2]),
        (3, np.zeros(4, np.int64)[::2]),
        (0, np.asfortranarray(np.zeros((2, 4)))),
        (1, memoryview(np.ones(4))[::2]),
        (3, memoryview(np.zeros(4, np.int64))[::2]),
        (3, bytes(16)),
        (3, _Frozen(16)),
        (3, int),
        (3, "ab"),
        (1, None),
        (3, None),
    ],
)
def test_bad_buffers_raise_what_native_raises(position, bad):
    # regression: the twin raised TypeError (memoryview.cast) on non-contiguous buffers
    args = list(_good())
    args[position] = bad
    with pytest.raises(Exception) as want:  # noqa: PT011 - the type is what we compare
        native.group(*args, 0, 0, 0.5)
    with pytest.raises(Exception) as got:  # noqa: PT011
        _numpy.group(*args, 0, 0, 0.5)
    assert (type(got.value), str(got.value)) == (type(want.value), str(want.value))


@pytest.mark.parametrize(
    ("boxes", "offsets"),
    [
        (np.zeros((2, 8))[:, ::2], np.array([0, 2], np.int64)),
        (np.zeros((2, 4)), np.array([0, 9, 2, 9], np.int64)[::2]),
        (memoryview(np.zeros(16))[::2], np.array([0, 2], np.int64)),
    ],
)
def test_pairs_bad_buffers_raise_what_native_raises(boxes, offsets):
    with pytest.raises(Exception) as want:  # noqa: PT011
        native.pairs(boxes, offsets)
    with pytest.raises(Exception) as got:  # noqa: PT011
        _numpy.pairs(boxes, offsets)
    assert (type(got.value), str(got.value)) == (type(want.value), str(want.value))
