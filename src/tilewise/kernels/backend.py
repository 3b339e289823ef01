"""Which implementation runs the greedy grouping routine: the C extension or its numpy twin.

Both backends take the same inputs and give bit-identical results; the C extension
(``tilewise.kernels._native``) is several times faster. The backend is chosen once, on
first use, from the ``TILEWISE_KERNELS`` environment variable:

- ``native``: the C extension; an error if it was not built.
- ``python``: the pure-numpy twin (``tilewise.kernels._numpy``).
- unset or empty: ``native`` when built, else ``python`` with one ``TilewiseWarning``
  that names the speed cost.

``use_backend`` switches it for a block of code (tests run every kernel on both).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Protocol

import numpy as np

from tilewise.choices import Choice
from tilewise.errors import TilewiseError, TilewiseWarning

__all__ = [
    "ENV_VAR",
    "KernelBackend",
    "GroupingRoutines",
    "active_backend",
    "native_available",
    "routines",
    "use_backend",
]

ENV_VAR = "TILEWISE_KERNELS"
"""Environment variable that picks the backend: ``native`` or ``python``."""

SLOWDOWN_NOTE = (
    "the pure-numpy merge kernels run about 3-30x slower than the C extension "
    "(see benchmarks/RESULTS.md)"
)


class KernelBackend(Choice):
    """Implementation of the merge kernels and overlap queries.

    ``NATIVE``: the C extension built at install time. ``PYTHON``: the pure-numpy twin,
    always available, with bit-identical results.
    """

    NATIVE = "native"
    PYTHON = "python"

    @classmethod
    def option_name(cls) -> str:
        """Name used in error messages.

        Example:
            >>> KernelBackend.parse("Python")
            <KernelBackend.PYTHON: 'python'>
        """
        return ENV_VAR


class GroupingRoutines(Protocol):
    """What a backend module provides (``_native`` and ``_numpy`` alike)."""

    def group(
        self,
        boxes: np.ndarray,
        confidence: np.ndarray,
        offsets: np.ndarray,
        parent: np.ndarray,
        mode: int,
        metric: int,
        threshold: float,
    ) -> None:
        """Write each row's survivor row into ``parent`` (see ``_native.c``)."""

    def pairs(self, boxes: np.ndarray, offsets: np.ndarray) -> bytes | np.ndarray:
        """Same-segment pairs ``(i, j)``, ``i < j``, with a positive intersection."""


_lock = threading.Lock()
_chosen: KernelBackend | None = None


def _native_module() -> ModuleType | None:
    try:
        from tilewise.kernels import _native
    except ImportError:
        return None
    return _native


def native_available() -> bool:
    """Whether the C extension was built and imports.

    Example:
        >>> isinstance(native_available(), bool)
        True
    """
    return _native_module() is not None


def _from_environment() -> KernelBackend:
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        backend = KernelBackend.parse(value)
        if backend is KernelBackend.NATIVE and not native_available():
            raise TilewiseError(
                f"{ENV_VAR}=native, but the C extension tilewise.kernels._native is not "
                f"built; reinstall with a C compiler, or set {ENV_VAR}=python "
                f"({SLOWDOWN_NOTE})"
            )
        return backend
    if native_available():
        return KernelBackend.NATIVE
    warnings.warn(
        f"tilewise's C extension is not built: using the pure-numpy kernels; "
        f"{SLOWDOWN_NOTE}. Install from a wheel or with a C compiler for full speed, "
        f"or set {ENV_VAR}=python to silence this warning.",
        TilewiseWarning,
        stacklevel=3,
    )
    return KernelBackend.PYTHON


def active_backend() -> KernelBackend:
    """The backend in use, chosen on first call (see the module docs).

    Example:
        >>> active_backend() in (KernelBackend.NATIVE, KernelBackend.PYTHON)
        True
    """
    global _chosen
    with _lock:
        if _chosen is None:
            _chosen = _from_environment()
        return _chosen


def routines() -> GroupingRoutines:
    """The module implementing ``group`` and ``pairs`` for the active backend.

    Example:
        >>> hasattr(routines(), "group")
        True
    """
    if active_backend() is KernelBackend.NATIVE:
        module = _native_module()
        assert module is not None  # checked when the backend was chosen
        return module  # type: ignore[return-value]
    from tilewise.kernels import _numpy

    return _numpy  # type: ignore[return-value]


@contextmanager
def use_backend(backend: KernelBackend | str) -> Iterator[KernelBackend]:
    """Run a block with another backend, then restore the previous one.

    Not for concurrent use from several threads with different backends: the choice is
    process-wide.

    Args:
        backend: ``"native"`` or ``"python"``.

    Yields:
        The backend now active.

    Raises:
        TilewiseError: unknown name, or ``"native"`` without the C extension.

    Example:
        >>> import numpy as np
        >>> from tilewise.kernels import nms_kernel
        >>> with use_backend("python"):
        ...     nms_kernel([[0, 0, 4, 4], [0, 0, 4, 3]], [0.9, 0.8]).keep.tolist()
        [0]
    """
    global _chosen
    wanted = KernelBackend.parse(backend)
    if wanted is KernelBackend.NATIVE and not native_available():
        raise TilewiseError("the C extension tilewise.kernels._native is not built")
    previous = active_backend()
    with _lock:
        _chosen = wanted
    try:
        yield wanted
    finally:
        with _lock:
            _chosen = previous
