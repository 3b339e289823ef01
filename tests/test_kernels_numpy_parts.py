"""The numpy twin's parts, on hand-worked cases: the overlap arithmetic and the grid index
(``_numpy_grid``), and NMS / greedy NMM in rounds (``_numpy_suppress``).

``test_kernels_twin.py`` compares the whole twin with the C extension; these pin each part's
own contract with exact values, one round or many. (Added for the mutation scores of the
kernel twin; see docs/testing.md.)
"""

from __future__ import annotations

import itertools
import re
import signal

import numpy as np
import pytest

from tilewise.kernels import _numpy, _numpy_cells, _numpy_grid, _numpy_suppress
from tilewise.kernels._numpy_grid import (
    GridIndex,
    area_of,
    area_window,
    expand_ranges,
    inter_of,
    intersects,
    overlap_of,
    prefix_within,
)
from tilewise.kernels._numpy_suppress import _survivors, suppress

IOU, IOS = 0, 1
NAN = float("nan")


def rows(*boxes):
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


# ----------------------------------------------------------------------------- arithmetic


def test_area_of_clips_each_side_at_zero():
    boxes = rows(
        [0, 0, 4, 3], [4, 0, 0, 3], [0, 3, 4, 0], [1, 1, 1, 5], [0, 0, NAN, 2], [-2, -1, 0, 0]
    )
    assert area_of(boxes).tolist() == [12.0, 0.0, 0.0, 0.0, 0.0, 2.0]


@pytest.mark.parametrize(
    ("a", "b", "meets", "inter"),
    [
        ([0, 0, 10, 10], [5, 5, 15, 15], True, 25.0),
        ([0, 0, 10, 10], [10, 0, 20, 10], False, 0.0),  # touching edge
        ([0, 0, 10, 10], [0, 10, 10, 20], False, 0.0),
        ([0, 0, 10, 10], [2, 3, 4, 7], True, 8.0),  # inside
        ([5, 5, 15, 15], [0, 0, 10, 10], True, 25.0),
        ([0, 0, 10, 10], [-5, 2, 1, 3], True, 1.0),
        ([0, 0, 10, 10], [11, 11, 12, 12], False, 0.0),
    ],
)
def test_intersection_table(a, b, meets, inter):
    assert intersects(rows(a), rows(b)).tolist() == [meets]
    assert intersects(rows(b), rows(a)).tolist() == [meets]
    assert inter_of(rows(a), rows(b)).tolist() == [inter]


@pytest.mark.parametrize(
    ("a", "b", "metric", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 5], IOU, 0.5),  # 50 / (100 + 50 - 50)
        ([0, 0, 10, 10], [5, 0, 15, 10], IOU, 50 / 150),
        ([0, 0, 10, 10], [5, 0, 15, 4], IOS, 20 / 40),  # over the smaller box
        ([0, 0, 10, 10], [2, 2, 4, 4], IOS, 1.0),
        ([0, 0, 10, 10], [2, 2, 4, 4], IOU, 0.04),
        ([0, 0, 10, 10], [20, 0, 30, 10], IOU, 0.0),
        ([0, 0, 10, 10], [3, 3, 3, 9], IOS, 0.0),  # zero area: denominator 0 gives 0
        ([0, 0, 0, 0], [0, 0, 0, 0], IOU, 0.0),
    ],
)
def test_overlap_table(a, b, metric, expected):
    ra, rb = rows(a), rows(b)
    got = overlap_of(ra, area_of(ra), rb, area_of(rb), metric)
    assert got.tolist() == [expected]


@pytest.mark.parametrize(
    ("metric", "thr", "lo", "hi"),
    [
        (IOU, 0.5, 0.5 * 8.0 * (1.0 - 1e-9), 8.0 / 0.5 * (1.0 + 1e-9)),
        (IOU, 0.25, 0.25 * 8.0 * (1.0 - 1e-9), 8.0 / 0.25 * (1.0 + 1e-9)),
        (IOU, 0.0, 0.0, np.inf),  # no window at threshold 0
        (IOU, -0.5, 0.0, np.inf),
        (IOS, 0.5, 0.0, np.inf),  # none for IoS
    ],
)
def test_area_window_table(metric, thr, lo, hi):
    got_lo, got_hi = area_window(np.array([8.0]), metric, thr)
    assert (got_lo.tolist(), got_hi.tolist()) == ([lo], [hi])


@pytest.mark.parametrize(
    ("starts", "counts", "expected"),
    [
        ([], [], []),
        ([5], [0], []),
        ([5, 0, 9], [2, 0, 3], [5, 6, 9, 10, 11]),
        ([3, 1], [1, 2], [3, 1, 2]),
    ],
)
def test_expand_ranges_table(starts, counts, expected):
    got = expand_ranges(np.array(starts, np.int64), np.array(counts, np.int64))
    assert got.tolist() == expected
    assert got.dtype == np.int64


@pytest.mark.parametrize(
    ("costs", "budget", "expected"),
    [
        ([], 10, 0),
        ([4, 4, 4], 8, 2),  # 4 + 4 fits exactly
        ([4, 4, 4], 7, 1),
        ([4, 4, 4], 100, 3),
        ([20, 1], 5, 1),  # at least one, even over budget
    ],
)
def test_prefix_within_table(costs, budget, expected):
    assert prefix_within(np.array(costs, np.int64), budget) == expected


# ----------------------------------------------------------------------------- grid index


def brute_pairs(q, qseg, boxes, seg):
    return {
        (i, j)
        for i, j in itertools.product(range(len(q)), range(len(boxes)))
        if qseg[i] == seg[j] and intersects(q[i : i + 1], boxes[j : j + 1])[0]
    }


def scene(seed, n, spread=40.0):
    """Boxes of very different sizes (several index levels), some in a second segment."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-spread / 4, spread, (n, 2))
    side = rng.choice([0.25, 1.0, 3.0, 7.0, 20.0, 60.0], (n, 2)) * rng.uniform(0.5, 1.0, (n, 2))
    boxes = np.concatenate([xy, xy + side], axis=1)
    seg = (rng.uniform(size=n) < 0.3).astype(np.int64)
    return boxes, seg


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("budget", [None, 1, 7])
def test_grid_query_finds_exactly_the_intersecting_boxes(seed, budget):
    boxes, seg = scene(seed, 60)
    ids = np.arange(100, 160, dtype=np.int64)
    index = GridIndex(boxes, seg, ids)
    q, qseg = scene(seed + 50, 25)
    found = set()
    start = 0
    while start < len(q):  # every query in rounds of at most ``budget`` candidates
        qpos, items, used = index.query(q[start:], qseg[start:], budget=budget)
        assert 1 <= used <= len(q) - start
        assert np.all(qpos < used)
        found |= {(int(a) + start, int(b) - 100) for a, b in zip(qpos, items, strict=True)}
        start += used
    assert found == brute_pairs(q, qseg, boxes, seg)


@pytest.mark.parametrize("seed", range(4))
def test_grid_query_all_in_small_blocks(monkeypatch, seed):
    monkeypatch.setattr(_numpy_grid, "_BLOCK", 3)
    boxes, seg = scene(seed, 40)
    index = GridIndex(boxes, seg)
    q, qseg = scene(seed + 9, 17)
    found = set()
    for qpos, items in index.query_all(q, qseg, budget=4):
        found |= set(zip(qpos.tolist(), items.tolist(), strict=True))
    assert found == brute_pairs(q, qseg, boxes, seg)


@pytest.mark.parametrize("seed", range(4))
def test_grid_boxes_queried_with_themselves_meet_every_pair_from_both_sides(seed):
    boxes, seg = scene(seed, 50)
    index = GridIndex(boxes, seg)
    qpos, items, used = index.query(boxes, seg)
    assert used == len(boxes)
    found = set(zip(qpos.tolist(), items.tolist(), strict=True))
    assert found == brute_pairs(boxes, seg, boxes, seg)  # (i, i) and both (i, j), (j, i)


def test_grid_levels_by_box_size():
    # canvas 64 wide: finest exponent frexp(64)[1] - 30 = -23; sides below 2**e, rounded up
    # to every second exponent from there
    boxes = rows([0, 0, 1, 1], [0, 0, 3, 1], [0, 0, 4, 4], [0, 0, 64, 2], [0, 0, 0.5, 0.25])
    index = GridIndex(boxes, np.zeros(5, np.int64))
    assert index.finest == -23
    assert index.exponents(boxes).tolist() == [1, 3, 3, 7, 1]
    assert [lv.exp for lv in index.levels] == [1, 3, 7]
    assert index.oy == 0.0


def test_grid_empty_index_and_empty_query():
    empty = GridIndex(np.zeros((0, 4)), np.zeros(0, np.int64))
    qpos, items, used = empty.query(rows([0, 0, 1, 1]), np.zeros(1, np.int64))
    assert (qpos.tolist(), items.tolist(), used) == ([], [], 1)
    index = GridIndex(rows([0, 0, 1, 1]), np.zeros(1, np.int64))
    qpos, items, used = index.query(np.zeros((0, 4)), np.zeros(0, np.int64))
    assert (qpos.tolist(), items.tolist(), used) == ([], [], 0)
    qpos, items, used = index.query(rows([5, 5, 6, 6]), np.zeros(1, np.int64))
    assert (qpos.tolist(), items.tolist(), used) == ([], [], 1)


# ----------------------------------------------------------------------------- suppress

A = [0, 0, 10, 10]
HALF_LOW = [0, 0, 10, 5]  # IoU with A 0.5
HALF_HIGH = [0, 5, 10, 10]  # IoU with A 0.5, touches HALF_LOW
RIGHT = [5, 0, 15, 10]  # IoU with A 1/3
FAR = [10, 0, 20, 10]  # touches A, IoU with RIGHT 1/3
SMALL = [0, 0, 2, 2]  # IoU with A 0.04, IoS 1
FLAT = [0, 0, 0, 10]  # zero area: never matches
UNKNOWN = [NAN, 0, 5, 5]  # a NaN side gives area 0: never matches either
TINY = [0, 0, 0.5, 0.5]  # area 0.25: a participant like any other
NINE = [0, 0, 10, 9]  # IoU with A 0.9, touches FAR


@pytest.fixture
def fails_if_stuck():
    """A round that makes no progress (a broken loop) fails the test instead of stalling
    the suite: SIGALRM after 60 s, where the calls take milliseconds."""

    def stuck(signum, frame):
        raise RuntimeError("no progress for 60 s: a round loop that never ends")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    ("boxes", "seg", "metric", "thr", "strict", "parent"),
    [
        ([A, HALF_LOW, HALF_HIGH], [0, 0, 0], IOU, 0.5, True, [0, 1, 2]),  # 0.5 > 0.5: no
        ([A, HALF_LOW, HALF_HIGH], [0, 0, 0], IOU, 0.5, False, [0, 0, 0]),  # 0.5 >= 0.5
        ([A, HALF_LOW, HALF_HIGH], [0, 0, 0], IOU, 0.49, True, [0, 0, 0]),
        # a taken row takes nothing: FAR survives though RIGHT reaches it
        ([A, RIGHT, FAR], [0, 0, 0], IOU, 0.3, False, [0, 0, 2]),
        ([RIGHT, A, FAR], [0, 0, 0], IOU, 0.3, False, [0, 0, 0]),
        ([A, RIGHT, FAR], [0, 0, 0], IOU, 0.34, False, [0, 1, 2]),
        # rank decides: the smaller box, first, takes the larger one
        ([HALF_LOW, A], [0, 0], IOU, 0.5, False, [0, 0]),
        ([A, A], [0, 1], IOU, 0.5, False, [0, 1]),  # other segment
        ([A, FLAT, A], [0, 0, 0], IOU, 0.0, False, [0, 1, 0]),
        ([A, UNKNOWN, A], [0, 0, 0], IOU, 0.5, False, [0, 1, 0]),
        ([TINY, TINY], [0, 0], IOU, 0.5, False, [0, 0]),
        # RIGHT is reached by two survivors: it goes to the first (and NINE to A)
        ([A, FAR, NINE, RIGHT], [0, 0, 0, 0], IOU, 0.0, False, [0, 1, 0, 0]),
        ([FLAT, A, FLAT, A], [0, 0, 0, 0], IOS, 0.0, False, [0, 1, 2, 1]),
        ([A, SMALL], [0, 0], IOS, 0.9, True, [0, 0]),
        ([A, SMALL], [0, 0], IOU, 0.9, True, [0, 1]),
        ([A, SMALL], [0, 0], IOU, 0.04, False, [0, 0]),
        # threshold 0: touching boxes do not intersect, so they stay apart
        ([A, FAR, RIGHT], [0, 0, 0], IOU, 0.0, False, [0, 1, 0]),
        # the second source decides the third: no round may skip it
        ([[100, 100, 110, 110], A, HALF_LOW], [0, 0, 0], IOU, 0.5, False, [0, 1, 1]),
        ([A], [0], IOU, 0.5, False, [0]),
        ([], [], IOU, 0.5, False, []),
    ],
)
@pytest.mark.parametrize("rounds", ["one", "default", "tiny"])
@pytest.mark.usefixtures("fails_if_stuck")
def test_suppress_table(monkeypatch, boxes, seg, metric, thr, strict, parent, rounds):
    if rounds != "one":  # the path in rounds (taken past _ONE_PASS_EDGES edges)
        monkeypatch.setattr(_numpy_suppress, "_ONE_PASS_EDGES", -1)
    if rounds == "tiny":  # every source in a round of its own; waves give way to the loop
        monkeypatch.setattr(_numpy_grid, "BUDGET", 1)
        monkeypatch.setattr(_numpy_suppress, "_ROUND", 1)
        monkeypatch.setattr(_numpy_suppress, "_WAVES", 1)
    got = suppress(rows(*boxes), np.array(seg, np.int64), metric, thr, strict)
    assert got.tolist() == parent
    assert got.dtype == np.int64


@pytest.mark.usefixtures("fails_if_stuck")
def test_suppress_chain_in_rounds(monkeypatch):
    # 12 boxes, each 1/3 IoU with the next: survivors every second row whatever the rounds
    chain = rows(*[[5 * i, 0, 5 * i + 10, 10] for i in range(12)])
    seg = np.zeros(12, np.int64)
    expected = [0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10]
    assert suppress(chain, seg, IOU, 0.3, False).tolist() == expected
    for round_size, budget in [(1, 1), (2, 3), (5, 2), (3, 100)]:
        monkeypatch.setattr(_numpy_suppress, "_ROUND", round_size)
        monkeypatch.setattr(_numpy_grid, "BUDGET", budget)
        assert suppress(chain, seg, IOU, 0.3, False).tolist() == expected
    monkeypatch.setattr(_numpy_suppress, "_ONE_PASS_EDGES", -1)  # never the one-round path
    assert suppress(chain, seg, IOU, 0.3, False).tolist() == expected


@pytest.mark.parametrize(
    ("k", "src", "dst", "survives"),
    [
        (1, [], [], [True]),
        (3, [0, 1], [1, 2], [True, False, True]),  # 1 is taken, so 2 survives
        (3, [0, 1], [2, 2], [True, True, False]),
        (4, [0, 1, 2], [1, 2, 3], [True, False, True, False]),
        (4, [0, 0, 1], [2, 3, 3], [True, True, False, False]),
        (5, [1, 2, 3], [2, 3, 4], [True, True, False, True, False]),
    ],
)
@pytest.mark.parametrize("waves", [8, 1, 0])
def test_survivors_table(monkeypatch, k, src, dst, survives, waves):
    monkeypatch.setattr(_numpy_suppress, "_WAVES", waves)
    got = _survivors(k, np.array(src, np.int64), np.array(dst, np.int64))
    assert got.tolist() == survives


FAR_A = [100, 100, 110, 110]
FAR_HALF = [100, 100, 110, 105]  # IoU with FAR_A 0.5


@pytest.mark.parametrize(
    ("k", "src", "dst", "status", "live"),
    [
        # a chain: the first source survives and takes the second; the edge from the taken
        # one is dropped, the third and fourth wait for the next wave
        (5, [0, 1, 2, 3], [1, 2, 3, 4], [1, 2, 0, 0, 0], [(2, 3), (3, 4)]),
        # an edge from an undecided source to a taken row stays (only its source is read)
        (4, [0, 0, 1, 2], [1, 3, 2, 3], [1, 2, 0, 2], [(2, 3)]),
        # two sources without an in-edge survive in the same wave; 2 is taken by both
        (4, [0, 1, 2], [2, 2, 3], [1, 1, 2, 0], []),
        (3, [], [], [1, 1, 1], []),
    ],
)
def test_one_wave_table(k, src, dst, status, live):
    got = np.zeros(k, dtype=np.int8)
    s, d = _numpy_suppress._wave(got, np.array(src, np.int64), np.array(dst, np.int64))
    assert got.tolist() == status
    assert list(zip(s.tolist(), d.tolist(), strict=True)) == live


@pytest.mark.parametrize(("k", "waves"), [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (16, 8)])
def test_waves_stop_once_every_source_is_decided(monkeypatch, k, waves):
    # a chain of k sources, each reaching the next, needs ceil(k / 2) waves (one survivor
    # and its target per wave); past _WAVES (8) the rest is settled one by one
    calls = []

    def counted(*args):
        calls.append(1)
        return wave(*args)

    wave = _numpy_suppress._wave
    monkeypatch.setattr(_numpy_suppress, "_wave", counted)
    chain = np.arange(k - 1, dtype=np.int64)
    got = _survivors(k, chain, chain + 1)
    assert got.tolist() == [i % 2 == 0 for i in range(k)]
    assert len(calls) == waves


def _settle_calls(monkeypatch):
    calls = []

    def recorded(sources, source, target, parent, is_open):
        edges = sorted(zip(source.tolist(), target.tolist(), strict=True))
        calls.append((sources.tolist(), edges))
        settle(sources, source, target, parent, is_open)

    settle = _numpy_suppress._settle
    monkeypatch.setattr(_numpy_suppress, "_settle", recorded)
    return calls


def test_one_pass_settles_every_row_at_once_without_an_index(monkeypatch):
    def no_index(*args):
        raise AssertionError("the one-pass path builds no grid index")

    monkeypatch.setattr(_numpy_suppress, "GridIndex", no_index)
    calls = _settle_calls(monkeypatch)
    boxes = rows(A, HALF_LOW, HALF_HIGH, FLAT, RIGHT)
    got = suppress(boxes, np.zeros(5, np.int64), IOU, 0.5, False)
    assert got.tolist() == [0, 0, 0, 3, 4]
    # every participant is a source of the single round; edges go forward only
    assert calls == [([0, 1, 2, 4], [(0, 1), (0, 2)])]


@pytest.mark.usefixtures("fails_if_stuck")
def test_rounds_hand_each_round_its_forward_edges_to_open_rows(monkeypatch):
    # rounds of 2 rows: the first round (sources 0, 1) takes 1 and 2; the second starts
    # after source 1, at rows 2 and 3, of which 3 alone is open; the third, at row 4 (taken),
    # has no source. No round gets an edge from a source to itself or to an earlier row
    monkeypatch.setattr(_numpy_suppress, "_ONE_PASS_EDGES", -1)
    monkeypatch.setattr(_numpy_suppress, "_ROUND", 2)
    calls = _settle_calls(monkeypatch)
    boxes = rows(A, HALF_LOW, HALF_HIGH, FAR_A, FAR_HALF)
    got = suppress(boxes, np.zeros(5, np.int64), IOU, 0.5, False)
    assert got.tolist() == [0, 0, 0, 3, 3]
    assert calls == [([0, 1], [(0, 1), (0, 2)]), ([3], [(3, 4)])]


@pytest.mark.parametrize(
    ("boxes", "parent"),
    [
        # a round whose every row was taken before it (row 1) must not end the walk: rows
        # 2 and 3 still meet after it
        ([A, HALF_LOW, FAR_A, FAR_HALF], [0, 0, 2, 2]),
        # two sources in a round, each taking a row of a later round: the second source's
        # target is not the first one's, and no round may skip the second source
        ([A, FAR_A, HALF_LOW, FAR_HALF], [0, 1, 0, 1]),
    ],
)
@pytest.mark.parametrize(
    ("round_size", "budget"), [(1, 1), (2, None), (2, 1), (3, 1), (3, None), (None, None)]
)
@pytest.mark.usefixtures("fails_if_stuck")
def test_suppress_rounds_of_every_size_settle_later_rows(
    monkeypatch, boxes, parent, round_size, budget
):
    monkeypatch.setattr(_numpy_suppress, "_ONE_PASS_EDGES", -1)
    if round_size is not None:
        monkeypatch.setattr(_numpy_suppress, "_ROUND", round_size)
    if budget is not None:
        monkeypatch.setattr(_numpy_grid, "BUDGET", budget)
    got = suppress(rows(*boxes), np.zeros(len(boxes), np.int64), IOU, 0.5, False)
    assert got.tolist() == parent


def _edges(boxes):
    b = rows(*boxes)
    n = b.shape[0]
    decide = _numpy_suppress._Decide(b, area_of(b), IOU, 0.5, False)
    return _numpy_suppress._all_edges(decide, np.arange(n), b, np.zeros(n, np.int64))


def test_one_pass_edges_by_default():
    source, target = _edges([A, A, A, A])
    assert sorted(zip(source.tolist(), target.tolist(), strict=True)) == list(
        itertools.combinations(range(4), 2)
    )


@pytest.mark.parametrize("chunk", [1, 2, None])
def test_one_pass_up_to_its_edge_limit_counted_over_every_chunk(monkeypatch, chunk):
    # 4 equal boxes: 6 edges, found in chunks of 3, 2 and 1 pair (chunk budget 1), or fewer
    if chunk is not None:
        monkeypatch.setattr(_numpy_cells, "BUDGET", chunk)
    monkeypatch.setattr(_numpy_suppress, "_ONE_PASS_EDGES", 6)
    source, target = _edges([A, A, A, A])
    assert sorted(zip(source.tolist(), target.tolist(), strict=True)) == list(
        itertools.combinations(range(4), 2)
    )
    monkeypatch.setattr(_numpy_suppress, "_ONE_PASS_EDGES", 5)  # one edge too many: rounds
    assert _edges([A, A, A, A]) is None


# ----------------------------------------------------------------------------- entry points

RIGHT_PAIR = np.array([A, RIGHT], dtype=np.float64)  # IoU 1/3


def test_group_and_pairs_take_read_only_bytes():
    off = np.array([0, 2], np.int64)
    parent = np.full(2, -1, np.int64)
    conf = np.array([1.0, 0.5])
    _numpy.group(RIGHT_PAIR.tobytes(), conf.tobytes(), off.tobytes(), parent, 1, IOU, 0.3)
    assert parent.tolist() == [0, 0]
    assert _numpy.pairs(RIGHT_PAIR.tobytes(), off.tobytes()).tolist() == [[0, 1]]


def test_one_offset_and_no_boxes_is_valid():
    # offsets [0]: no segment at all, not a size error
    off = np.array([0], np.int64)
    _numpy.group(np.zeros((0, 4)), np.zeros(0), off, np.zeros(0, np.int64), 0, IOU, 0.5)
    assert _numpy.pairs(np.zeros((0, 4)), off).shape == (0, 2)


def test_pairs_need_a_positive_intersection_area():
    # both boxes have area, their overlap (1e-160 x 1e-170) underflows to 0: no pair
    boxes = rows([0, 0, 1e-160, 1], [0, 0, 1, 1e-170], [0, 0, 1, 1])
    got = _numpy.pairs(boxes, np.array([0, 3], np.int64)).tolist()
    assert got == [[0, 2], [1, 2]]


def test_read_only_parent_refused_with_its_message():
    # worded as the C extension's ``w*`` argument words it
    parent = np.zeros(2, np.int64)
    parent.flags.writeable = False
    message = "^argument 4 must be read-write bytes-like object, not numpy.ndarray$"
    with pytest.raises(TypeError, match=message):
        _numpy.group(RIGHT_PAIR, np.ones(2), np.array([0, 2], np.int64), parent, 0, IOU, 0.5)


STRIDED = np.zeros(8)[::2]  # four float64, every second one: not C-contiguous


class Plain:
    """A class defined in Python (a heap type): C names it bare, without its module."""


@pytest.mark.parametrize(
    ("arg", "bad", "error", "message"),
    [
        (0, np.zeros((2, 8))[:, ::2], ValueError, "ndarray is not C-contiguous"),
        (1, STRIDED[:2], ValueError, "ndarray is not C-contiguous"),
        (2, np.zeros(4, np.int64)[::2], ValueError, "ndarray is not C-contiguous"),
        (
            1,
            memoryview(np.zeros(4))[::2],
            BufferError,
            "memoryview: underlying buffer is not C-contiguous",
        ),
        (1, [1.0, 1.0], TypeError, "a bytes-like object is required, not 'list'"),
        (
            3,
            np.zeros(4, np.int64)[::2],
            TypeError,
            "argument 4 must be read-write bytes-like object, not numpy.ndarray",
        ),
        (3, bytes(16), TypeError, "argument 4 must be read-write bytes-like object, not bytes"),
        (3, None, TypeError, "argument 4 must be read-write bytes-like object, not None"),
        (3, Plain(), TypeError, "argument 4 must be read-write bytes-like object, not Plain"),
    ],
)
def test_group_refuses_bad_buffers_as_the_c_extension_does(arg, bad, error, message):
    # regression: a non-contiguous buffer raised TypeError from memoryview.cast
    args = [RIGHT_PAIR, np.ones(2), np.array([0, 2], np.int64), np.zeros(2, np.int64)]
    args[arg] = bad
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        _numpy.group(*args, 0, IOU, 0.5)


@pytest.mark.parametrize(
    ("boxes", "offsets"),
    [
        (np.zeros((2, 8))[:, ::2], np.array([0, 2], np.int64)),
        (np.zeros((2, 4)), np.zeros(4, np.int64)[::2]),
    ],
)
def test_pairs_refuses_a_non_contiguous_ndarray(boxes, offsets):
    with pytest.raises(ValueError, match=r"^ndarray is not C-contiguous$"):
        _numpy.pairs(boxes, offsets)


def test_pairs_skip_boxes_without_area():
    boxes = rows(A, UNKNOWN, RIGHT, [3, 3, 3, 8])  # a NaN side and a zero width: no area
    assert _numpy.pairs(boxes, np.array([0, 4], np.int64)).tolist() == [[0, 2]]


@pytest.mark.parametrize(
    ("off", "n", "good"),
    [
        ([0, 2**31 - 2], 2**31 - 2, True),  # the largest segment the C kernels index
        ([0, 2**31 - 1], 2**31 - 1, False),  # a segment of 2**31 - 1 rows or more: refused
        ([0, 2**31], 2**31, False),
        ([0, 5, 2**31 + 3], 2**31 + 3, True),  # rows in all may pass it, segments may not
        ([0, 5, 2**31 + 4], 2**31 + 4, False),
        ([0, 3, 2, 4], 4, False),  # a decreasing offset
        ([1, 4], 4, False),  # not starting at 0
        ([0, 3], 4, False),  # not ending at n
        ([0], 0, True),
        ([0, 0, 3, 3], 3, True),  # empty segments are fine (as in C)
    ],
)
def test_segment_offsets_table(off, n, good):
    # checked on the offsets alone (no box is read), so segment sizes near 2**31 need no
    # 64 GiB input
    assert _numpy._good_offsets(np.array(off, np.int64), n) is good
