"""Merge kernels on plain arrays: boxes, confidences, class ids in; a MergeResult out.

All four share one rank order (descending confidence, ties by input index), treat only
same-class pairs as candidates unless ``class_agnostic``, and never build an N x N
matrix: they run one sequential, deterministic greedy routine (``tilewise.kernels._native``,
GIL released) over a hierarchical grid. Time grows with N and with the number of
same-class box pairs that actually intersect (for IoU, only pairs whose areas are within
a factor ``1 / threshold`` of each other); typical sliced-inference output of 1M boxes
takes about a second. Inputs where every box overlaps thousands of others (huge boxes
by the thousand, with IoS) cost accordingly.

Overlaps are computed as in ``tilewise.boxes.box_overlap`` (float64), bit for bit. Boxes
of zero area overlap nothing: they always survive on their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.kernels.grouping import GroupingMode, run_grouping
from tilewise.kernels.inputs import (
    checked_boxes,
    checked_class_id,
    checked_confidence,
    checked_threshold,
)
from tilewise.kernels.metric import Metric, MetricLike
from tilewise.kernels.result import MergeAction, MergeResult

__all__ = ["nms_kernel", "nmm_kernel", "greedy_nmm_kernel", "wbf_kernel"]


def _kernel(
    mode: GroupingMode,
    xyxy: Any,
    confidence: Any,
    class_id: Any,
    threshold: Any,
    metric: MetricLike,
    class_agnostic: bool,
) -> MergeResult:
    m = Metric.parse(metric)
    thr = checked_threshold(threshold, allow_zero=mode is GroupingMode.NMS)
    boxes = checked_boxes(xyxy)
    n = boxes.shape[0]
    conf = checked_confidence(confidence, n)
    classes = checked_class_id(class_id, n)
    if not isinstance(class_agnostic, (bool, np.bool_)):
        raise TilewiseError(f"class_agnostic must be a bool, got {class_agnostic!r}")
    if mode is GroupingMode.WBF and n and conf.min() < 0:
        raise TilewiseError(
            "wbf weighs boxes by confidence, which must be >= 0; "
            f"got {conf.min()} at row {int(np.argmin(conf))}"
        )
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        action = MergeAction.SUPPRESSED if mode is GroupingMode.NMS else MergeAction.MERGED
        return MergeResult(empty, empty.copy(), action, empty.copy())
    return run_grouping(boxes, conf, None if class_agnostic else classes, mode, m, thr)


def nms_kernel(
    xyxy: Any,
    confidence: Any,
    class_id: Any = None,
    *,
    threshold: float = 0.5,
    metric: MetricLike = "iou",
    class_agnostic: bool = False,
) -> MergeResult:
    """Non-max suppression, as torchvision defines it.

    In rank order, a detection is suppressed when ``metric(i, j) > threshold`` against a
    kept detection ``i`` of the same class; its parent is the highest-ranked such ``i``.

    Args:
        xyxy: (N, 4) boxes.
        confidence: (N,) finite scores.
        class_id: (N,) integer classes; None puts all detections in one class.
        threshold: overlap above which a detection is suppressed, in [0, 1].
        metric: ``"iou"`` or ``"ios"``.
        class_agnostic: let detections of different classes suppress each other.

    Returns:
        MergeResult with action SUPPRESSED.

    Raises:
        TilewiseError: bad shapes, NaN/inf values, threshold outside [0, 1], unknown metric.

    Example:
        >>> import numpy as np
        >>> from tilewise.kernels import nms_kernel
        >>> boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 0, 30, 10]])
        >>> res = nms_kernel(boxes, [0.8, 0.9, 0.7], threshold=0.5)
        >>> res.keep.tolist(), res.parent.tolist()
        ([1, 2], [1, 1, 2])
    """
    return _kernel(GroupingMode.NMS, xyxy, confidence, class_id, threshold, metric, class_agnostic)


def greedy_nmm_kernel(
    xyxy: Any,
    confidence: Any,
    class_id: Any = None,
    *,
    threshold: float = 0.5,
    metric: MetricLike = "iou",
    class_agnostic: bool = False,
) -> MergeResult:
    """Greedy non-max merge (SAHI's default merge).

    Each unassigned detection, in rank order, becomes a keeper and absorbs every later
    unassigned detection of its class whose ``metric`` with the keeper's *own* box is
    ``>= threshold``. The keep set is that of NMS with ``>=`` instead of ``>``.
    (SAHI then re-checks each absorbed box against the growing merged box and silently
    drops the ones that no longer match; here every absorbed box stays in its group.)

    Args:
        xyxy: (N, 4) boxes.
        confidence: (N,) finite scores.
        class_id: (N,) integer classes; None puts all detections in one class.
        threshold: overlap at or above which a detection is absorbed, in (0, 1].
        metric: ``"iou"`` or ``"ios"``.
        class_agnostic: merge across classes.

    Returns:
        MergeResult with action MERGED; parent is the keeper.

    Raises:
        TilewiseError: bad shapes, NaN/inf values, threshold outside (0, 1], unknown metric.

    Example:
        >>> import numpy as np
        >>> from tilewise.kernels import greedy_nmm_kernel
        >>> boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]])
        >>> res = greedy_nmm_kernel(boxes, [0.9, 0.8, 0.7], threshold=0.2)
        >>> res.keep.tolist(), res.parent.tolist()
        ([0, 2], [0, 0, 2])
    """
    return _kernel(
        GroupingMode.GREEDY_NMM, xyxy, confidence, class_id, threshold, metric, class_agnostic
    )


def nmm_kernel(
    xyxy: Any,
    confidence: Any,
    class_id: Any = None,
    *,
    threshold: float = 0.5,
    metric: MetricLike = "iou",
    class_agnostic: bool = False,
) -> MergeResult:
    """Non-max merge around a growing box (as Roboflow supervision describes it).

    The most confident unassigned detection seeds a group with box ``B``. Repeatedly, the
    most confident unassigned detection of its class with ``metric(B, d) >= threshold``
    joins and ``B`` becomes the box enclosing both; when none matches, the next group
    starts. A growing ``B`` can capture detections the seed alone would not (and lose
    ones it would).

    Args:
        xyxy: (N, 4) boxes.
        confidence: (N,) finite scores.
        class_id: (N,) integer classes; None puts all detections in one class.
        threshold: overlap at or above which a detection joins, in (0, 1].
        metric: ``"iou"`` or ``"ios"``.
        class_agnostic: merge across classes.

    Returns:
        MergeResult with action MERGED; parent is the seed.

    Raises:
        TilewiseError: bad shapes, NaN/inf values, threshold outside (0, 1], unknown metric.

    Example:
        >>> import numpy as np
        >>> from tilewise.kernels import nmm_kernel
        >>> boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]])
        >>> res = nmm_kernel(boxes, [0.9, 0.8, 0.7], threshold=0.2)
        >>> res.keep.tolist(), res.parent.tolist()
        ([0], [0, 0, 0])
    """
    return _kernel(GroupingMode.NMM, xyxy, confidence, class_id, threshold, metric, class_agnostic)


def wbf_kernel(
    xyxy: Any,
    confidence: Any,
    class_id: Any = None,
    *,
    threshold: float = 0.5,
    metric: MetricLike = "iou",
    class_agnostic: bool = False,
) -> MergeResult:
    """Weighted boxes fusion (Solovyev et al.) of one model's detections: the clustering.

    In rank order, each detection joins the existing cluster of its class whose current
    fused box has the highest ``metric`` with it, if that is ``> threshold`` (ties: the
    earliest cluster); otherwise it starts a cluster. A cluster's fused box is its box
    while it has one member, then the confidence-weighted mean of its members' boxes (the
    plain mean when all their confidences are 0). ``wbf`` builds the fused boxes and the
    mean confidences from the result.

    Compared with ``ensemble_boxes.weighted_boxes_fusion`` 1.0.9 on one model
    (``conf_type="avg"``), which matches, breaks ties and scores the same way: boxes are
    not clipped to [0, 1], reordered or dropped (zero-area boxes stay as clusters of
    their own, none is skipped by score); ties in confidence are broken by input index
    (ensemble-boxes uses an unstable descending sort); fused boxes are kept in float64
    (ensemble-boxes rounds them to float32 after each update); ``metric="ios"`` is an
    extension; clusters come out in rank order of their first member (ensemble-boxes
    sorts by fused confidence).

    Args:
        xyxy: (N, 4) boxes.
        confidence: (N,) finite scores >= 0 (they are the weights).
        class_id: (N,) integer classes; None puts all detections in one class.
        threshold: overlap above which a detection joins a cluster, in (0, 1].
        metric: ``"iou"`` or ``"ios"``.
        class_agnostic: fuse across classes.

    Returns:
        MergeResult with action MERGED; parent is the cluster's first member.

    Raises:
        TilewiseError: bad shapes, NaN/inf or negative confidences, threshold outside
            (0, 1], unknown metric.

    Example:
        >>> import numpy as np
        >>> from tilewise.kernels import wbf_kernel
        >>> boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 0, 30, 10]])
        >>> res = wbf_kernel(boxes, [0.9, 0.6, 0.8], threshold=0.55)
        >>> res.keep.tolist(), res.parent.tolist()
        ([0, 2], [0, 0, 2])
    """
    return _kernel(GroupingMode.WBF, xyxy, confidence, class_id, threshold, metric, class_agnostic)
