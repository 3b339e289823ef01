"""linear_assignment: exact cases, the forbidden-pair rule and an exhaustive reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise import TilewiseError
from tilewise.tracking import linear_assignment


def _brute(cost: np.ndarray) -> tuple[int, float]:
    """(most allowed pairs, least total cost among those) by trying every matching."""
    nr, nc = cost.shape
    best = (0, 0.0)
    if nr <= nc:
        for perm in itertools.permutations(range(nc), nr):
            vals = [cost[i, j] for i, j in enumerate(perm) if np.isfinite(cost[i, j])]
            key = (len(vals), sum(vals))
            if key[0] > best[0] or (key[0] == best[0] and key[1] < best[1]):
                best = key
        return best
    return _brute(cost.T)


@pytest.mark.parametrize(
    ("cost", "rows", "cols"),
    [
        ([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]], [0, 1, 2], [1, 0, 2]),
        ([[1.0, 2.0], [1.0, 3.0], [0.0, 9.0]], [0, 2], [1, 0]),
        ([[np.inf, 1.0], [np.inf, 0.5]], [1], [1]),
        ([[np.inf]], [], []),
        ([[np.nan, 2.0]], [0], [1]),
        # two allowed pairs beat one cheaper pair: the matching is maximum first
        ([[0.0, 1.0], [5.0, np.inf]], [0, 1], [1, 0]),
    ],
)
def test_exact_cases(cost: list[list[float]], rows: list[int], cols: list[int]) -> None:
    r, c = linear_assignment(np.array(cost))
    assert r.tolist() == rows
    assert c.tolist() == cols


def test_empty_and_bad_shapes() -> None:
    r, c = linear_assignment(np.zeros((0, 3)))
    assert r.size == 0
    assert c.size == 0
    r, c = linear_assignment(np.zeros((3, 0)))
    assert r.size == 0
    assert c.size == 0
    with pytest.raises(TilewiseError, match="2-D"):
        linear_assignment(np.zeros(3))


def test_ties_are_broken_the_same_way_every_time() -> None:
    cost = np.ones((4, 4))
    first = linear_assignment(cost)
    for _ in range(3):
        again = linear_assignment(cost.copy())
        assert first[0].tolist() == again[0].tolist()
        assert first[1].tolist() == again[1].tolist()
    assert first[1].tolist() == [0, 1, 2, 3]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 5),
    st.integers(0, 5),
    st.integers(0, 2**31 - 1),
    st.floats(0.0, 0.8),
    st.booleans(),
)
def test_matches_exhaustive_search(nr: int, nc: int, seed: int, forbid: float, ints: bool) -> None:
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 4, (nr, nc)).astype(float) if ints else rng.normal(size=(nr, nc))
    cost[rng.random((nr, nc)) < forbid] = np.inf
    r, c = linear_assignment(cost)
    assert len(set(r.tolist())) == r.size
    assert len(set(c.tolist())) == c.size
    assert np.isfinite(cost[r, c]).all()
    if cost.size:
        count, total = _brute(cost)
        assert r.size == count
        assert cost[r, c].sum() == pytest.approx(total, abs=1e-9)


def test_large_sparse_problem_is_split_and_agrees_with_scipy() -> None:
    scipy_opt = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(0)
    n = 120
    cost = rng.random((n, n))
    r, c = linear_assignment(cost)
    sr, sc = scipy_opt.linear_sum_assignment(cost)
    assert cost[r, c].sum() == pytest.approx(cost[sr, sc].sum())
    # block-diagonal: two independent problems, solved separately
    block = np.full((2 * n, 2 * n), np.inf)
    block[:n, :n] = cost
    block[n:, n:] = cost[::-1]
    r, c = linear_assignment(block)
    assert r.size == 2 * n
    assert block[r, c].sum() == pytest.approx(2 * cost[sr, sc].sum())
