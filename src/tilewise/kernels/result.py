"""What a merge did: which inputs survived and which survivor each input went to."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cached_property

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["MergeAction", "MergeResult", "stable_key_order"]

_DIGIT_BITS = 16


def stable_key_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """Stable sorting permutation of integer ``keys`` in ``[0, n_keys)``, in O(N).

    A least-significant-digit radix sort on 16-bit digits: each pass is numpy's stable
    sort of a ``uint16`` array, which numpy runs as a counting (radix) sort, so the cost
    is one linear pass per 16 bits of ``n_keys`` (two passes up to 4 billion groups).

    Example:
        >>> import numpy as np
        >>> stable_key_order(np.array([2, 0, 2, 1, 0]), 3).tolist()
        [1, 4, 3, 0, 2]
        >>> keys = np.array([70000, 3, 70000, 65536])
        >>> stable_key_order(keys, 70001).tolist()
        [1, 3, 0, 2]
    """
    keys = np.asarray(keys, dtype=np.int64)
    perm = np.arange(keys.shape[0], dtype=np.int64)
    shift = 0
    while True:
        digit = ((keys[perm] >> shift) & 0xFFFF).astype(np.uint16)
        perm = perm[np.argsort(digit, kind="stable")]
        shift += _DIGIT_BITS
        if (max(int(n_keys) - 1, 0) >> shift) == 0:
            return perm


class MergeAction(str, Enum):
    """What happened to the inputs that did not survive."""

    KEPT_ALL = "kept_all"
    SUPPRESSED = "suppressed"
    MERGED = "merged"


@dataclass(frozen=True, eq=False)
class MergeResult:
    """The outcome of a merge kernel, as index arrays over its N inputs.

    Every input belongs to exactly one group; each group has one survivor, its
    highest-ranked member (rank: descending confidence, ties by input index).

    Attributes:
        keep: (K,) int64 input indices of the survivors, in output order (rank order).
        parent: (N,) int64 input index of the survivor each input belongs to; a
            survivor is its own parent.
        action: whether the non-survivors were suppressed or merged.
        order: (N,) int64 rank order of the inputs (``np.argsort(-confidence,
            kind="stable")``); ``None`` means the inputs are already in rank order.

    Example:
        >>> import numpy as np
        >>> from tilewise.kernels import nms_kernel
        >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]])
        >>> res = nms_kernel(boxes, np.array([0.5, 0.9, 0.7]))
        >>> res.keep.tolist(), res.parent.tolist(), res.action.value
        ([1, 2], [1, 1, 2], 'suppressed')
        >>> res.groups()
        [array([1, 0]), array([2])]
    """

    keep: np.ndarray
    parent: np.ndarray
    action: MergeAction
    order: np.ndarray | None = None

    @classmethod
    def identity(cls, n: int, order: np.ndarray | None = None) -> MergeResult:
        """Result of keeping all ``n`` inputs (method ``"none"``).

        Args:
            n: number of inputs.
            order: optional rank order; ``keep`` follows it when given, else input order.

        Example:
            >>> from tilewise.kernels import MergeResult
            >>> r = MergeResult.identity(3)
            >>> r.keep.tolist(), r.parent.tolist(), r.n_kept
            ([0, 1, 2], [0, 1, 2], 3)
        """
        idx = np.arange(n, dtype=np.int64)
        if order is None:
            return cls(idx, idx.copy(), MergeAction.KEPT_ALL)
        order = np.asarray(order, dtype=np.int64)
        return cls(order.copy(), idx, MergeAction.KEPT_ALL, order)

    # ------------------------------------------------------------------ sizes
    @property
    def n_inputs(self) -> int:
        """Number of inputs N."""
        return int(self.parent.shape[0])

    @property
    def n_kept(self) -> int:
        """Number of survivors K."""
        return int(self.keep.shape[0])

    @property
    def rank_order(self) -> np.ndarray:
        """(N,) rank order of the inputs (``order``, or ``arange(N)`` when it is None)."""
        if self.order is None:
            return np.arange(self.n_inputs, dtype=np.int64)
        return self.order

    @property
    def group_index(self) -> np.ndarray:
        """(N,) position in ``keep`` of the group each input belongs to.

        Example:
            >>> import numpy as np
            >>> from tilewise.kernels import MergeAction, MergeResult
            >>> r = MergeResult(
            ...     np.array([2, 0]), np.array([0, 2, 2]), MergeAction.MERGED, np.array([2, 1, 0])
            ... )
            >>> r.group_index.tolist()
            [1, 0, 0]
        """
        position = np.empty(self.n_inputs, dtype=np.int64)
        position[self.keep] = np.arange(self.n_kept, dtype=np.int64)
        return position[self.parent]

    @property
    def group_sizes(self) -> np.ndarray:
        """(K,) number of inputs in each group (1 for a survivor that absorbed nothing).

        Example:
            >>> import numpy as np
            >>> from tilewise.kernels import MergeAction, MergeResult
            >>> r = MergeResult(
            ...     np.array([2, 0]), np.array([0, 2, 2]), MergeAction.MERGED, np.array([2, 1, 0])
            ... )
            >>> r.group_sizes.tolist()
            [2, 1]
        """
        return np.bincount(self.group_index, minlength=self.n_kept).astype(np.int64)

    # ------------------------------------------------------------------ groups
    def members(self) -> tuple[np.ndarray, np.ndarray]:
        """The groups in CSR form: ``(offsets (K+1,), members (N,))``.

        Group ``k`` (survivor ``keep[k]``) is ``members[offsets[k]:offsets[k + 1]]``, in
        rank order, so its survivor comes first.

        Example:
            >>> import numpy as np
            >>> from tilewise.kernels import MergeAction, MergeResult
            >>> r = MergeResult(
            ...     np.array([2, 0]), np.array([0, 2, 2]), MergeAction.MERGED, np.array([2, 1, 0])
            ... )
            >>> offsets, members = r.members()
            >>> offsets.tolist(), members.tolist()
            ([0, 2, 3], [2, 1, 0])
        """
        return self._csr

    @cached_property
    def _csr(self) -> tuple[np.ndarray, np.ndarray]:
        # computed once per result: fusion needs it for boxes and confidences alike
        order = self.rank_order
        grouped = order[stable_key_order(self.group_index[order], self.n_kept)]
        offsets = np.zeros(self.n_kept + 1, dtype=np.int64)
        np.cumsum(self.group_sizes, out=offsets[1:])
        offsets.setflags(write=False)
        grouped.setflags(write=False)
        return offsets, grouped

    def groups(self) -> list[np.ndarray]:
        """The members of each group as a list of K arrays (survivor first).

        Example:
            >>> from tilewise.kernels import MergeResult
            >>> [g.tolist() for g in MergeResult.identity(2).groups()]
            [[0], [1]]
        """
        offsets, members = self.members()
        return np.split(members, offsets[1:-1]) if self.n_kept else []

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Check the invariants; raise TilewiseError naming the first one broken.

        Every input belongs to exactly one group, survivors are their own parents and
        appear once in ``keep``, every parent is a survivor, and with ``order`` given,
        ``keep`` follows it and every member ranks after its survivor.

        Example:
            >>> import numpy as np
            >>> from tilewise.kernels import MergeAction, MergeResult
            >>> MergeResult.identity(3).validate()
            >>> bad = MergeResult(np.array([0]), np.array([0, 2, 0]), MergeAction.MERGED)
            >>> bad.validate()
            Traceback (most recent call last):
            ...
            tilewise.errors.TilewiseError: parent must point at survivors (inputs listed in keep)
        """
        keep, parent = self.keep, self.parent
        if keep.ndim != 1 or parent.ndim != 1:
            raise TilewiseError("keep and parent must be 1-D index arrays")
        if not (np.issubdtype(keep.dtype, np.integer) and np.issubdtype(parent.dtype, np.integer)):
            raise TilewiseError("keep and parent must hold integers")
        n = self.n_inputs
        for name, arr in (("keep", keep), ("parent", parent)):
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                raise TilewiseError(f"{name} holds indices outside [0, {n})")
        is_kept = np.zeros(n, dtype=bool)
        is_kept[keep] = True
        if int(is_kept.sum()) != keep.size:
            raise TilewiseError("keep lists an input more than once")
        if not is_kept[parent].all():
            raise TilewiseError("parent must point at survivors (inputs listed in keep)")
        if not np.array_equal(parent == np.arange(n), is_kept):
            raise TilewiseError("survivors must be their own parents, and only survivors")
        if self.order is None:
            return
        order = self.order
        if order.shape != (n,) or not np.array_equal(np.sort(order), np.arange(n)):
            raise TilewiseError(f"order must be a permutation of range({n})")
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        if np.any(np.diff(rank[keep]) <= 0):
            raise TilewiseError("keep must follow the rank order")
        if np.any(rank[parent] > rank):
            raise TilewiseError("every member must rank after its survivor")
