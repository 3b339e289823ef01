"""Rank order, class segments and the call into the greedy-grouping routine of the backend."""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from tilewise.kernels.backend import routines
from tilewise.kernels.metric import Metric
from tilewise.kernels.result import MergeAction, MergeResult

__all__ = ["METRIC_CODES", "GroupingMode", "class_segments", "rank_order", "run_grouping"]


class GroupingMode(IntEnum):
    """Modes of the grouping routine (values shared with ``_native.c`` and ``_numpy``)."""

    NMS = 0
    GREEDY_NMM = 1
    NMM = 2
    WBF = 3


_ACTIONS = {
    GroupingMode.NMS: MergeAction.SUPPRESSED,
    GroupingMode.GREEDY_NMM: MergeAction.MERGED,
    GroupingMode.NMM: MergeAction.MERGED,
    GroupingMode.WBF: MergeAction.MERGED,
}
METRIC_CODES = {Metric.IOU: 0, Metric.IOS: 1}
"""Metric codes of the grouping routine (shared with ``_native.c`` and ``_numpy``)."""


def rank_order(confidence: np.ndarray) -> np.ndarray:
    """Indices by descending confidence, ties by input index.

    Example:
        >>> import numpy as np
        >>> rank_order(np.array([0.2, 0.9, 0.2, 0.9])).tolist()
        [1, 3, 0, 2]
    """
    return np.argsort(-np.asarray(confidence), kind="stable").astype(np.int64, copy=False)


def class_segments(order: np.ndarray, class_id: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Reorder ``order`` by class (stably) and return it with the class segment bounds.

    Without ``class_id`` all rows form one segment.

    Example:
        >>> import numpy as np
        >>> perm, offsets = class_segments(np.array([2, 0, 1, 3]), np.array([1, 0, 1, 0]))
        >>> perm.tolist(), offsets.tolist()
        ([1, 3, 2, 0], [0, 2, 4])
    """
    n = order.shape[0]
    if class_id is None or n == 0:
        return order, np.array([0, n], dtype=np.int64)
    ranked = class_id[order]
    by_class = np.argsort(ranked, kind="stable")
    ranked = ranked[by_class]
    starts = np.flatnonzero(ranked[1:] != ranked[:-1]) + 1
    offsets = np.concatenate([[0], starts, [n]]).astype(np.int64)
    return order[by_class], offsets


def run_grouping(
    boxes: np.ndarray,
    confidence: np.ndarray,
    class_id: np.ndarray | None,
    mode: GroupingMode,
    metric: Metric,
    threshold: float,
) -> MergeResult:
    """Run the backend's routine on checked float64 inputs and build the MergeResult.

    ``class_id`` None means class-agnostic. Inputs must come from the ``checked_*``
    helpers in ``tilewise.kernels.inputs``.

    Example:
        >>> import numpy as np
        >>> from tilewise.boxes import Metric
        >>> boxes = np.array([[0.0, 0, 10, 10], [0, 0, 10, 9]])
        >>> r = run_grouping(boxes, np.array([0.5, 0.6]), None, GroupingMode.NMS, Metric.IOU, 0.5)
        >>> r.keep.tolist(), r.parent.tolist()
        ([1], [1, 1])
    """
    n = boxes.shape[0]
    order = rank_order(confidence)
    perm, offsets = class_segments(order, class_id)
    local = np.empty(n, dtype=np.int64)
    routines().group(
        np.ascontiguousarray(boxes[perm]),
        np.ascontiguousarray(confidence[perm]),
        offsets,
        local,
        int(mode),
        METRIC_CODES[metric],
        float(threshold),
    )
    parent = np.empty(n, dtype=np.int64)
    parent[perm] = perm[local]
    survivor = parent == np.arange(n)
    keep = order[survivor[order]]
    return MergeResult(keep, parent, _ACTIONS[mode], order)
