"""Vectorised box operations on ``xyxy`` arrays."""

from __future__ import annotations

import numpy as np

from tilewise.kernels.metric import Metric, MetricLike

__all__ = [
    "box_area",
    "clip_boxes",
    "box_iou",
    "box_ios",
    "box_overlap",
    "paired_overlap",
]


def box_area(xyxy: np.ndarray) -> np.ndarray:
    """Areas of (N, 4) boxes; degenerate boxes have area 0.

    Example:
        >>> import numpy as np
        >>> box_area(np.array([[0, 0, 2, 3], [5, 5, 4, 4]], dtype=np.float32)).tolist()
        [6.0, 0.0]
    """
    xyxy = np.asarray(xyxy)
    w = np.clip(xyxy[..., 2] - xyxy[..., 0], 0, None)
    h = np.clip(xyxy[..., 3] - xyxy[..., 1], 0, None)
    return w * h


def clip_boxes(xyxy: np.ndarray, image_wh: tuple[int, int]) -> np.ndarray:
    """Clip boxes to ``[0, W] x [0, H]``; returns a new array of the same dtype.

    Example:
        >>> import numpy as np
        >>> clip_boxes(np.array([[-5, 2, 12, 30]], dtype=np.float32), (10, 20)).tolist()
        [[0.0, 2.0, 10.0, 20.0]]
    """
    xyxy = np.asarray(xyxy)
    w, h = image_wh
    out = xyxy.copy()
    out[..., [0, 2]] = np.clip(out[..., [0, 2]], 0, w)
    out[..., [1, 3]] = np.clip(out[..., [1, 3]], 0, h)
    return out


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[..., :2], b[..., :2])
    rb = np.minimum(a[..., 2:], b[..., 2:])
    wh = np.clip(rb - lt, 0, None)
    return wh[..., 0] * wh[..., 1]


def _ratio(inter: np.ndarray, denom: np.ndarray) -> np.ndarray:
    out = np.zeros_like(inter, dtype=np.float64)
    np.divide(inter, denom, out=out, where=denom > 0)
    return out


def _metric_from_parts(
    inter: np.ndarray, area_a: np.ndarray, area_b: np.ndarray, metric: Metric
) -> np.ndarray:
    if metric is Metric.IOU:
        return _ratio(inter, area_a + area_b - inter)
    return _ratio(inter, np.minimum(area_a, area_b))


def box_overlap(a: np.ndarray, b: np.ndarray, metric: MetricLike = "iou") -> np.ndarray:
    """Pairwise overlap matrix (M, N) between two box sets, float64.

    Builds the full matrix: use ``overlapping_pairs`` for large sets.

    Example:
        >>> import numpy as np
        >>> a = np.array([[0, 0, 10, 10]], dtype=np.float32)
        >>> b = np.array([[0, 0, 10, 5], [20, 20, 30, 30]], dtype=np.float32)
        >>> box_overlap(a, b, "iou").round(2).tolist(), box_overlap(a, b, "ios").tolist()
        ([[0.5, 0.0]], [[1.0, 0.0]])
    """
    m = Metric.parse(metric)
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    inter = _intersection(a[:, None, :], b[None, :, :])
    return _metric_from_parts(inter, box_area(a)[:, None], box_area(b)[None, :], m)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union, (M, N).

    Example:
        >>> import numpy as np
        >>> box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 0, 3, 2]])).round(3).tolist()
        [[0.333]]
    """
    return box_overlap(a, b, Metric.IOU)


def box_ios(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over the smaller of the two areas, (M, N).

    Example:
        >>> import numpy as np
        >>> box_ios(np.array([[0, 0, 4, 4]]), np.array([[1, 1, 2, 2]])).tolist()
        [[1.0]]
    """
    return box_overlap(a, b, Metric.IOS)


def paired_overlap(a: np.ndarray, b: np.ndarray, metric: MetricLike = "iou") -> np.ndarray:
    """Overlap of aligned pairs ``a[k]`` vs ``b[k]``, (K,) float64.

    Example:
        >>> import numpy as np
        >>> a = np.array([[0, 0, 2, 2], [0, 0, 1, 1]])
        >>> b = np.array([[1, 0, 3, 2], [5, 5, 6, 6]])
        >>> paired_overlap(a, b).round(3).tolist()
        [0.333, 0.0]
    """
    m = Metric.parse(metric)
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return _metric_from_parts(_intersection(a, b), box_area(a), box_area(b), m)
