"""Choosing the kernel backend: environment variable, fallback warning, errors; O(N) groups."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise.errors import TilewiseError, TilewiseWarning
from tilewise.kernels import KernelBackend, MergeAction, MergeResult, active_backend, use_backend
from tilewise.kernels import backend as backend_module
from tilewise.kernels.result import stable_key_order


@pytest.fixture
def fresh_choice(monkeypatch: pytest.MonkeyPatch):
    """Forget the process-wide choice so the next call reads the environment again."""
    monkeypatch.setattr(backend_module, "_chosen", None)
    yield monkeypatch
    backend_module._chosen = None


@pytest.mark.parametrize(
    ("value", "built", "expected"),
    [
        ("native", True, KernelBackend.NATIVE),
        ("python", True, KernelBackend.PYTHON),
        ("PYTHON", False, KernelBackend.PYTHON),
        (" python ", True, KernelBackend.PYTHON),
        ("", True, KernelBackend.NATIVE),
    ],
)
def test_environment_picks_the_backend(fresh_choice, value, built, expected) -> None:
    fresh_choice.setenv(backend_module.ENV_VAR, value)
    fresh_choice.setattr(backend_module, "native_available", lambda: built)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert active_backend() is expected


def test_unknown_backend_name_is_refused(fresh_choice) -> None:
    fresh_choice.setenv(backend_module.ENV_VAR, "cuda")
    with pytest.raises(
        TilewiseError, match=r"TILEWISE_KERNELS must be one of \['native', 'python'\]"
    ):
        active_backend()


def test_native_requested_but_not_built_says_how_to_fix(fresh_choice) -> None:
    fresh_choice.setenv(backend_module.ENV_VAR, "native")
    fresh_choice.setattr(backend_module, "native_available", lambda: False)
    with pytest.raises(TilewiseError, match=r"not built.*TILEWISE_KERNELS=python"):
        active_backend()


def test_fallback_warns_once_and_names_the_cost(fresh_choice) -> None:
    fresh_choice.delenv(backend_module.ENV_VAR, raising=False)
    fresh_choice.setattr(backend_module, "native_available", lambda: False)
    with pytest.warns(TilewiseWarning, match="slower than the C extension") as record:
        first = active_backend()
    assert first is KernelBackend.PYTHON
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert active_backend() is KernelBackend.PYTHON  # chosen once, warned once
    assert len(record) == 1


def test_use_backend_restores_the_previous_choice() -> None:
    before = active_backend()
    with use_backend("python") as inside:
        assert inside is KernelBackend.PYTHON
        assert active_backend() is KernelBackend.PYTHON
    assert active_backend() is before
    with pytest.raises(RuntimeError), use_backend("python"):
        raise RuntimeError("boom")
    assert active_backend() is before


def test_use_backend_refuses_native_when_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend_module, "native_available", lambda: False)
    with pytest.raises(TilewiseError, match="not built"), use_backend("native"):
        pass


@pytest.mark.parametrize(
    ("keys", "n_keys"),
    [
        ([], 0),
        ([0], 1),
        ([3, 1, 3, 0, 1], 4),
        ([65535, 0, 65535], 65536),
        ([65536, 1, 65536, 0], 65537),
        ([2**33, 5, 2**32, 2**33, 5], 2**33 + 1),
    ],
)
def test_stable_key_order_table(keys, n_keys) -> None:
    keys = np.asarray(keys, dtype=np.int64)
    expected = np.argsort(keys, kind="stable")
    assert stable_key_order(keys, n_keys).tolist() == expected.tolist()


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 200_000).flatmap(
        lambda k: st.tuples(st.just(k), st.lists(st.integers(0, k - 1), max_size=300))
    )
)
def test_stable_key_order_is_a_stable_sort(case) -> None:
    n_keys, keys = case
    keys = np.asarray(keys, dtype=np.int64)
    assert np.array_equal(stable_key_order(keys, n_keys), np.argsort(keys, kind="stable"))


def test_members_groups_in_rank_order_beyond_16_bits() -> None:
    # 70,000 groups of two: more groups than one 16-bit radix pass can tell apart
    k = 70_000
    keep = np.arange(k, dtype=np.int64)
    parent = np.concatenate([keep, keep[::-1]])
    order = np.concatenate([keep, np.arange(k, 2 * k)])
    offsets, members = MergeResult(keep, parent, MergeAction.MERGED, order).members()
    assert offsets.tolist() == list(range(0, 2 * k + 1, 2))
    assert members[:4].tolist() == [0, 2 * k - 1, 1, 2 * k - 2]
    assert members[-2:].tolist() == [k - 1, k]
