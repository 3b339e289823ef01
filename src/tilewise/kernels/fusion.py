"""Boxes of merged groups, computed for all groups at once from a MergeResult."""

from __future__ import annotations

import numpy as np

from tilewise.kernels.result import MergeResult

__all__ = ["enclosing_boxes", "weighted_mean_boxes", "mean_confidence"]


def enclosing_boxes(xyxy: np.ndarray, result: MergeResult) -> np.ndarray:
    """(K, 4) box enclosing the members of each group, in ``result.keep`` order.

    Example:
        >>> import numpy as np
        >>> from tilewise.kernels import nmm_kernel
        >>> from tilewise.kernels.fusion import enclosing_boxes
        >>> boxes = np.array([[0, 0, 10, 10], [2, 1, 12, 10]], dtype=np.float32)
        >>> enclosing_boxes(boxes, nmm_kernel(boxes, [0.9, 0.8])).tolist()
        [[0.0, 0.0, 12.0, 10.0]]
    """
    xyxy = np.asarray(xyxy)
    if result.n_kept == 0:
        return np.zeros((0, 4), dtype=xyxy.dtype)
    offsets, members = result.members()
    grouped = xyxy[members]
    starts = offsets[:-1]
    return np.concatenate(
        [
            np.minimum.reduceat(grouped[:, :2], starts, axis=0),
            np.maximum.reduceat(grouped[:, 2:], starts, axis=0),
        ],
        axis=1,
    )


def weighted_mean_boxes(xyxy: np.ndarray, weights: np.ndarray, result: MergeResult) -> np.ndarray:
    """(K, 4) float64 weighted mean of each group's boxes, in ``result.keep`` order.

    A group of one keeps its box exactly; a group whose weights sum to 0 gets the plain
    mean. Each coordinate is clipped to its members' range, so rounding can never put a
    fused edge outside the group's enclosing box.

    Example:
        >>> import numpy as np
        >>> from tilewise.kernels import MergeAction, MergeResult
        >>> from tilewise.kernels.fusion import weighted_mean_boxes
        >>> boxes = np.array([[0, 0, 10, 10], [4, 0, 14, 10]])
        >>> r = MergeResult(np.array([0]), np.array([0, 0]), MergeAction.MERGED)
        >>> weighted_mean_boxes(boxes, np.array([3.0, 1.0]), r).tolist()
        [[1.0, 0.0, 11.0, 10.0]]
    """
    xyxy = np.asarray(xyxy, dtype=np.float64)
    if result.n_kept == 0:
        return np.zeros((0, 4), dtype=np.float64)
    offsets, members = result.members()
    starts = offsets[:-1]
    sizes = np.diff(offsets)
    grouped = xyxy[members]
    w = np.asarray(weights, dtype=np.float64)[members]
    w_sum = np.add.reduceat(w, starts)
    weighted = np.add.reduceat(grouped * w[:, None], starts, axis=0)
    plain = np.add.reduceat(grouped, starts, axis=0) / sizes[:, None]
    positive = w_sum > 0
    fused = plain
    fused[positive] = weighted[positive] / w_sum[positive, None]
    single = sizes == 1
    fused[single] = grouped[starts[single]]
    # each fused coordinate lies between its members' extremes; rounding must not leave them
    lowest = np.minimum.reduceat(grouped, starts, axis=0)
    highest = np.maximum.reduceat(grouped, starts, axis=0)
    np.clip(fused, lowest, highest, out=fused)
    return fused


def mean_confidence(confidence: np.ndarray, result: MergeResult) -> np.ndarray:
    """(K,) float64 mean confidence of each group, in ``result.keep`` order.

    Example:
        >>> import numpy as np
        >>> from tilewise.kernels import MergeAction, MergeResult
        >>> from tilewise.kernels.fusion import mean_confidence
        >>> r = MergeResult(np.array([1]), np.array([1, 1]), MergeAction.MERGED)
        >>> mean_confidence(np.array([0.5, 0.75]), r).tolist()
        [0.625]
    """
    if result.n_kept == 0:
        return np.zeros(0, dtype=np.float64)
    offsets, members = result.members()
    conf = np.asarray(confidence, dtype=np.float64)[members]
    return np.add.reduceat(conf, offsets[:-1]) / np.diff(offsets)
