"""Sparse overlap query: which boxes intersect, without an N x N matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.kernels.backend import routines
from tilewise.kernels.grouping import class_segments
from tilewise.kernels.inputs import checked_boxes, checked_class_id

__all__ = ["overlapping_pairs"]


def overlapping_pairs(
    xyxy: Any, class_id: Any = None, *, class_agnostic: bool = True
) -> np.ndarray:
    """Index pairs ``(i, j)``, ``i < j``, of boxes whose intersection has positive area.

    Boxes that only touch (a shared edge or corner) and zero-area boxes make no pair.
    Runs over a spatial index shared with the merge kernels, so the cost
    follows N and the number of pairs, never N x N; all-identical boxes do give N(N-1)/2
    pairs.

    Args:
        xyxy: (N, 4) boxes as x1, y1, x2, y2, finite.
        class_id: (N,) integer classes; only used when ``class_agnostic`` is False.
        class_agnostic: pair boxes of any classes; when False, only same-class pairs.

    Returns:
        (P, 2) int64 pairs, sorted lexicographically.

    Raises:
        TilewiseError: bad shapes, NaN/inf coordinates, or ``class_agnostic=False``
            without ``class_id``.

    Example:
        >>> import numpy as np
        >>> from tilewise.kernels import overlapping_pairs
        >>> boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [10, 0, 20, 6], [1, 1, 2, 2]])
        >>> overlapping_pairs(boxes).tolist()
        [[0, 1], [0, 3], [1, 2]]
        >>> overlapping_pairs(boxes, [0, 1, 1, 0], class_agnostic=False).tolist()
        [[0, 3], [1, 2]]
    """
    boxes = checked_boxes(xyxy)
    n = boxes.shape[0]
    classes = checked_class_id(class_id, n)
    if not class_agnostic and classes is None:
        raise TilewiseError("class_agnostic=False needs class_id")
    index = np.arange(n, dtype=np.int64)
    perm, offsets = class_segments(index, None if class_agnostic else classes)
    raw = routines().pairs(np.ascontiguousarray(boxes[perm]), offsets)
    pairs = np.frombuffer(raw, dtype=np.int64).reshape(-1, 2)
    if perm is index:
        return pairs.copy()
    pairs = np.sort(perm[pairs], axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
