"""The NMM twin's cell-table index (``_numpy_cell_index``) and slot order (``_numpy_near.by_slot``).

``CellIndex.query_all`` must report every (query, box) pair of one segment that meets with
positive width and height exactly once, with dense tables and with binary searches, in
rounds of any size, for coordinates of any magnitude. Then the NMM twin built on it must
still give the C extension's groups bit for bit through every level layout.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tilewise.kernels import _numpy, _numpy_cell_index, _numpy_near, _numpy_nmm
from tilewise.kernels._numpy_cell_index import CellIndex, lifted
from tilewise.kernels._numpy_near import by_slot

native = pytest.importorskip("tilewise.kernels._native")


def rows(*boxes):
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


def found(boxes, seg, q, qseg, dense=None, budget=None):
    """Every reported (query, id) pair, checking none comes twice; ids are 10 * position.

    ``dense=0`` makes every level search its occupied cells (no table at all).
    """
    with pytest.MonkeyPatch.context() as mp:
        if dense == 0:
            mp.setattr(_numpy_cell_index, "_DENSE_FLOOR", 0)
        index = CellIndex(
            boxes, np.asarray(seg, np.int64), np.arange(boxes.shape[0], dtype=np.int64) * 10, dense
        )
    if dense == 0:
        assert all(lv.table is None for lv in index.levels)
    out = []
    for qi, item in index.query_all(q, np.asarray(qseg, np.int64), budget):
        assert (qi.dtype, item.dtype) == (np.int64, np.int64)
        out += zip(qi.tolist(), (item // 10).tolist(), strict=True)
    assert len(out) == len(set(out)), "a pair reported twice"
    return set(out)


def brute(boxes, seg, q, qseg):
    return {
        (a, i)
        for a in range(q.shape[0])
        for i in range(boxes.shape[0])
        if qseg[a] == seg[i]
        and q[a, 0] < boxes[i, 2]
        and boxes[i, 0] < q[a, 2]
        and q[a, 1] < boxes[i, 3]
        and boxes[i, 1] < q[a, 3]
    }


@pytest.mark.parametrize(
    ("exps", "want"),
    [
        ([], []),
        ([4], [4]),
        # 3 (1 box) joins 4 (2), then 3-4 (3) join 5 (3): lifts of 2 and 1
        ([3, 4, 4, 5, 5, 5, 9], [5, 5, 5, 5, 5, 5, 9]),
        # a level larger than the next stays: 4 (3 boxes) > 5 (1 box)
        ([4, 4, 4, 5], [4, 4, 4, 5]),
        # equal counts merge (no more boxes than the next level)
        ([2, 3], [3, 3]),
        # 0 joins 1 (1 <= 1 box); 0-1 (2 boxes) outnumber 2 (1 box) and stay on 1; 2 joins
        # 3, and 2-3 (2 boxes) join 4 (4 boxes) with a lift of 2
        ([0, 1, 2, 3, 4, 4, 4, 4], [1, 1, 4, 4, 4, 4, 4, 4]),
        # 0 would be lifted by 4 > LIFT: it stays
        ([0, 4, 4], [0, 4, 4]),
        # a lift of exactly LIFT (3) is allowed
        ([1, 4], [4, 4]),
        # order of boxes does not matter
        ([9, 5, 3, 5, 4, 4, 5], [9, 5, 5, 5, 5, 5, 5]),
    ],
)
def test_lifted_table(exps, want):
    assert lifted(np.array(exps, dtype=np.int64)).tolist() == want


def test_lifted_depends_on_the_lift_limit(monkeypatch):
    monkeypatch.setattr(_numpy_cell_index, "LIFT", 1)
    # 3 joins 4; 3-4 would need a lift of 2 to reach 5: they stay on 4
    assert lifted(np.array([3, 4, 4, 5, 5, 5])).tolist() == [4, 4, 4, 5, 5, 5]


A = [0, 0, 10, 10]


@pytest.mark.parametrize(
    ("boxes", "seg", "q", "qseg", "pairs"),
    [
        ([A], [0], [[5, 5, 6, 6]], [0], {(0, 0)}),
        ([A], [0], [[5, 5, 6, 6]], [1], set()),  # other segment
        ([A], [0], [[5, 5, 6, 6]], [-1], set()),  # a segment no box has
        ([A], [0], [[10, 0, 20, 10]], [0], set()),  # touching edge: no positive width
        ([A], [0], [[-10, 0, 0, 10]], [0], set()),
        ([A], [0], [[0, 10, 10, 20]], [0], set()),  # touching in y: no positive height
        ([A], [0], [[0, -10, 10, 0]], [0], set()),
        ([A], [0], [[-10, -10, 0, 0]], [0], set()),  # touching corner
        ([A], [0], [[9, 9, 19, 19]], [0], {(0, 0)}),  # one pixel square
        ([A], [0], [[-1e300, -1e300, 1e300, 1e300]], [0], {(0, 0)}),  # a huge query
        ([A], [0], [[1e9, 1e9, 1e9 + 1, 1e9 + 1]], [0], set()),  # far beyond the boxes
        ([A], [0], [[-1e9, -1e9, -1e9 + 1, -1e9 + 1]], [0], set()),  # far before them
        # the query's own cells are empty; the box's anchor cell lies one cell back (below
        # and to the left), from where the box reaches into the query
        ([[7, 7, 17, 17]], [0], [[16, 16, 30, 30]], [0], {(0, 0)}),
        # boxes on three levels (sides 1, 10, 100) around one query
        (
            [[0, 0, 1, 1], [5, 5, 15, 15], [-50, -50, 50, 50], [20, 20, 21, 21], [200, 0, 300, 90]],
            [0] * 5,
            [[0.5, 0.5, 12, 12], [20.5, 20.5, 250, 20.75]],
            [0, 0],
            {(0, 0), (0, 1), (0, 2), (1, 2), (1, 3), (1, 4)},
        ),
        # two segments holding the same boxes
        ([A, A, [20, 20, 30, 30]], [0, 1, 1], [[5, 5, 25, 25]] * 2, [1, 0],
         {(0, 1), (0, 2), (1, 0)}),
        # negative coordinates straddling zero, and a canvas offset 1e9
        ([[-5, -5, 1, 1], [1e9, 1e9, 1e9 + 2, 1e9 + 2]], [0, 0],
         [[0.5, 0.5, 3, 3], [1e9 + 1, 1e9 + 1, 1e9 + 3, 1e9 + 3]], [0, 0], {(0, 0), (1, 1)}),
    ],
)  # fmt: skip
@pytest.mark.parametrize("dense", [0, 4])
@pytest.mark.parametrize("budget", [None, 1])
def test_query_table(boxes, seg, q, qseg, pairs, dense, budget):
    assert found(rows(*boxes), seg, rows(*q), qseg, dense, budget) == pairs


def test_level_layout_table():
    # sides 3 (exp 2), 10 and 12 (exp 4), 100 (exp 7): levels 2 (1 box) and 4 (2 boxes)
    # merge at 4 (lift 2), 7 stays (1 box, lift 3 would be allowed but 4 holds more)
    boxes = rows([0, 0, 3, 3], [0, 0, 10, 10], [40, 0, 52, 12], [0, 0, 100, 100])
    index = CellIndex(boxes, np.zeros(4, np.int64))
    assert [lv.exp for lv in index.levels] == [4, 7]
    low = index.levels[0]
    # columns 2**(4 - COLUMN_SPLIT) = 4 wide from F(0) = 0 to F(40) = 10; rows 16 high
    assert low.xexp == 4 - _numpy_cell_index.COLUMN_SPLIT == 2
    assert (low.width, low.height) == (11, 1)
    assert low.ids.tolist() == [0, 1, 2]
    assert low.table is not None
    assert low.table.tolist() == [0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3]
    # a level with a table keeps no search arrays
    assert (low.cells.shape, low.starts.shape) == ((0,), (0,))


def test_sparse_levels_search_their_occupied_cells(monkeypatch):
    monkeypatch.setattr(_numpy_cell_index, "_DENSE_FLOOR", 0)
    boxes = rows([0, 0, 10, 10], [40, 0, 52, 12])
    level = CellIndex(boxes, np.zeros(2, np.int64), dense=0).levels[0]
    assert level.table is None
    assert (level.cells.tolist(), level.starts.tolist()) == ([0, 10], [0, 1, 2])


@pytest.mark.parametrize("dense", [0, 4])
def test_queries_whose_cells_overflow(dense):
    # cells of about 2**-29 for these boxes: a query reaching 1e300 has F = inf, which the
    # clipping to the level turns into its last column and row (or its first, for -inf)
    boxes = rows([0, 0, 1e-9, 1e-9], [-1e-9, 2e-9, 0, 3e-9])
    q = rows([-1e300, -1e300, 1e300, 1e300], [5e-10, -1e300, 1e300, 1e-9], [1e299, 0, 1e300, 1])
    assert found(boxes, [0, 0], q, [0, 0, 0], dense) == {(0, 0), (0, 1), (1, 0)}


def test_boxes_at_huge_coordinates():
    # a box's side is at least the spacing of doubles where it lies, so cells stay finite
    x = 2.0**1000
    boxes = rows([x, 0, np.nextafter(x, np.inf), 1], [-x, 0, np.nextafter(-x, np.inf), 1])
    q = rows([x, 0.5, 2 * x, 0.75], [-2 * x, 0, -x, 1], [0, 0, 1, 1])
    assert found(boxes, [0, 0], q, [0, 0, 0]) == {(0, 0)}


def test_an_empty_index_meets_nothing():
    index = CellIndex(np.zeros((0, 4)), np.zeros(0, np.int64))
    assert (index.levels, index.nseg) == ([], 0)
    assert list(index.query_all(rows(A), np.zeros(1, np.int64))) == []


def test_a_run_longer_than_the_budget_still_comes_out_whole():
    boxes = rows(*([A] * 6))
    q = rows([1, 1, 2, 2])
    index = CellIndex(boxes, np.zeros(6, np.int64))
    sizes = [qi.shape[0] for qi, _ in index.query_all(q, np.zeros(1, np.int64), budget=2)]
    assert sum(sizes) == 6


def test_default_budget_bounds_the_rounds(monkeypatch):
    monkeypatch.setattr(_numpy_cell_index, "BUDGET", 3)
    boxes = rows(*([[i, 0, i + 1, 1] for i in range(12)]))
    q = rows(*([[i + 0.5, 0.25, i + 0.75, 0.5] for i in range(12)]))
    index = CellIndex(boxes, np.zeros(12, np.int64))
    sizes = [qi.shape[0] for qi, _ in index.query_all(q, np.zeros(12, np.int64))]
    assert sum(sizes) == 12
    assert max(sizes) <= 3


def test_default_budget_takes_a_small_query_set_in_one_round():
    # a budget is a bound, not a round size: 12 queries of a few runs each come in one
    # round (a budget of 0 would make a round of every query)
    boxes = rows(*([[i, 0, i + 1, 1] for i in range(12)]))
    q = rows(*([[i + 0.5, 0.25, i + 0.75, 0.5] for i in range(12)]))
    index = CellIndex(boxes, np.zeros(12, np.int64))
    assert len(index.levels) == 1
    rounds = [qi.tolist() for qi, _ in index.query_all(q, np.zeros(12, np.int64))]
    assert [sorted(r) for r in rounds] == [list(range(12))]


def test_queries_beyond_a_block(monkeypatch):
    monkeypatch.setattr(_numpy_cell_index, "_BLOCK", 2)
    boxes = rows(*([[i, 0, i + 1, 1] for i in range(5)]))
    q = rows(*([[i + 0.5, 0.25, i + 0.75, 0.5] for i in range(5)]))
    assert found(boxes, [0] * 5, q, [0] * 5) == {(i, i) for i in range(5)}


coordinate = st.one_of(
    st.floats(-100, 100, allow_nan=False),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e150, -1e150, 1e-160]),
)
extent = st.sampled_from([1e-300, 1e-9, 0.5, 3.0, 64.0, 1e6, 1e140])


def _boxes(draw, n):
    out = []
    for _ in range(n):
        x, y = draw(coordinate), draw(coordinate)
        w, h = draw(extent) * draw(st.floats(0.1, 1.0)), draw(extent) * draw(st.floats(0.1, 1.0))
        if x + w > x and y + h > y:  # positive, finite area
            out.append([x, y, x + w, y + h])
    return rows(*out)


@st.composite
def query_scenes(draw):
    boxes = _boxes(draw, draw(st.integers(1, 24)))
    q = _boxes(draw, draw(st.integers(0, 12)))
    n, k = boxes.shape[0], q.shape[0]
    seg = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    qseg = draw(st.lists(st.integers(-1, 3), min_size=k, max_size=k))
    return boxes, np.array(seg, np.int64), q, np.array(qseg, np.int64)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene=query_scenes(), dense=st.sampled_from([0, 4]), budget=st.sampled_from([None, 1, 5]))
def test_property_every_meeting_pair_exactly_once(scene, dense, budget):
    boxes, seg, q, qseg = scene
    if boxes.shape[0] == 0:
        return
    assert found(boxes, seg, q, qseg, dense, budget) == brute(boxes, seg, q, qseg)


@pytest.mark.parametrize(
    ("q", "k", "want"),
    [
        ([], 0, []),
        ([2, 0, 2, 1, 0], 3, [1, 4, 3, 0, 2]),
        ([5, 5, 5], 6, [0, 1, 2]),
    ],
)
def test_by_slot_table(q, k, want):
    assert by_slot(np.array(q, dtype=np.int64), k).tolist() == want


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(q=st.lists(st.integers(0, 40), max_size=60), small=st.booleans())
def test_property_by_slot_is_the_stable_sort(q, small):
    arr = np.array(q, dtype=np.int64)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_numpy_near, "_SMALL_SLOTS", 64 if small else 0)
        got = by_slot(arr, 41)
    assert got.tolist() == np.argsort(arr, kind="stable").tolist()


def _nmm_same(boxes, conf, offsets, thr, metric):
    b = np.ascontiguousarray(boxes, dtype=np.float64)
    n = b.shape[0]
    c = np.ascontiguousarray(conf, dtype=np.float64)
    off = np.array(offsets, dtype=np.int64)
    want = np.full(n, -7, dtype=np.int64)
    got = np.full(n, -7, dtype=np.int64)
    native.group(b, c, off, want, 2, metric, thr)
    _numpy.group(b, c, off, got, 2, metric, thr)
    assert got.tolist() == want.tolist()


@st.composite
def mixed_size_scenes(draw):
    """Boxes of sizes spread over several levels, clustered so groups grow and meet."""
    n = draw(st.integers(1, 60))
    centers = draw(
        st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=6)
    )
    out = []
    for _ in range(n):
        cx, cy = draw(st.sampled_from(centers))
        dx, dy = draw(st.integers(-3, 3)), draw(st.integers(-3, 3))
        w = draw(st.sampled_from([0.5, 1.0, 2.0, 3.0, 6.0, 12.0, 30.0]))
        h = w * draw(st.sampled_from([0.5, 1.0, 1.5]))
        out.append([cx + dx, cy + dy, cx + dx + w, cy + dy + h])
    conf = draw(st.lists(st.sampled_from([0.1, 0.5, 0.9]), min_size=n, max_size=n))
    cut = draw(st.integers(0, n))
    return rows(*out), np.array(conf), [0, cut, n]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scene=mixed_size_scenes(),
    thr=st.sampled_from([0.0, 0.2, 0.5, 0.8]),
    metric=st.sampled_from([0, 1]),
    dense=st.sampled_from([0, 4]),
    lift=st.sampled_from([0, 3]),
    split=st.sampled_from([0, 2]),
)
def test_property_nmm_on_the_cell_index_equals_native(scene, thr, metric, dense, lift, split):
    """All components through the batched NMM (its index dense or searched, levels merged
    or not, columns split or not) give C's groups exactly."""
    boxes, conf, offsets = scene
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_numpy_nmm, "SMALL", 1)
        mp.setattr(_numpy_cell_index, "DENSE", dense)
        mp.setattr(_numpy_cell_index, "_DENSE_FLOOR", 0)
        mp.setattr(_numpy_cell_index, "LIFT", lift)
        mp.setattr(_numpy_cell_index, "COLUMN_SPLIT", split)
        _nmm_same(boxes, conf, offsets, thr, metric)
