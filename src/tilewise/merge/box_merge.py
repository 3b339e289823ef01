"""Merging Detections on box overlap: survivors' rows, with merged or fused boxes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tilewise.detections import Detections
from tilewise.kernels import (
    MergeResult,
    MetricLike,
    enclosing_boxes,
    greedy_nmm_kernel,
    mean_confidence,
    nmm_kernel,
    nms_kernel,
    wbf_kernel,
    weighted_mean_boxes,
)
from tilewise.merge.method import MergeMethod

__all__ = ["merge_boxes"]

_KERNELS: dict[MergeMethod, Callable[..., MergeResult]] = {
    MergeMethod.NMS: nms_kernel,
    MergeMethod.NMM: nmm_kernel,
    MergeMethod.GREEDY_NMM: greedy_nmm_kernel,
    MergeMethod.WBF: wbf_kernel,
}


def merge_boxes(
    det: Detections,
    m: MergeMethod,
    *,
    threshold: float,
    metric: MetricLike,
    class_agnostic: bool,
) -> tuple[Detections, MergeResult]:
    """Merge ``det`` with the box kernel of ``m`` (not ``NONE``), ignoring any masks' shapes.

    Rows follow ``result.keep`` and carry their survivor's class, ``data`` and mask.
    See ``tilewise.merge.merge_detections`` for what each method does to boxes and
    confidences.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> det = Detections(np.array([[0, 0, 10, 10], [1, 0, 11, 10]]), confidence=[0.6, 0.9])
        >>> out, result = merge_boxes(
        ...     det, MergeMethod.NMS, threshold=0.5, metric="iou", class_agnostic=False
        ... )
        >>> out.xyxy.tolist(), result.parent.tolist()
        ([[1.0, 0.0, 11.0, 10.0]], [1, 1])
    """
    result = _KERNELS[m](
        det.xyxy,
        det.confidence,
        det.class_id,
        threshold=threshold,
        metric=metric,
        class_agnostic=class_agnostic,
    )
    survivors = det[result.keep]
    if m is MergeMethod.NMS:
        return survivors, result
    if m is MergeMethod.WBF:
        boxes: Any = weighted_mean_boxes(det.xyxy, det.confidence, result)
        confidence = mean_confidence(det.confidence, result)
    else:
        boxes = enclosing_boxes(det.xyxy, result)
        confidence = survivors.confidence
    merged = Detections(
        boxes.astype(np.float32),
        confidence,
        survivors.class_id,
        masks=survivors.masks,
        data=survivors.data,
        georef=det.georef,
    )
    return merged, result
