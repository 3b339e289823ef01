"""Merging applied to Detections: the entry point for boxes and masks alike."""

from __future__ import annotations

from tilewise.detections import Detections
from tilewise.errors import TilewiseError
from tilewise.kernels import MergeResult, MetricLike
from tilewise.masks import CompactMasks
from tilewise.merge.box_merge import merge_boxes
from tilewise.merge.masks import merge_masked_detections
from tilewise.merge.method import MergeMethod, MergeMethodLike

__all__ = ["merge_detections", "nms", "nmm", "greedy_nmm", "wbf"]


def merge_detections(
    det: Detections,
    method: MergeMethodLike,
    *,
    threshold: float = 0.5,
    metric: MetricLike = "iou",
    class_agnostic: bool = False,
    mask_overlap: str = "mask",
) -> tuple[Detections, MergeResult]:
    """Merge duplicate detections with ``method``; return the output and the bookkeeping.

    Output rows follow ``result.keep`` (rank order). Each row carries its survivor's
    class, ``data`` rows and mask; the box and confidence depend on the method:

    - ``"none"``: the input unchanged, with ``MergeResult.identity``.
    - ``"nms"``: the survivors as they are.
    - ``"nmm"``, ``"greedy_nmm"``: the box enclosing the group, the survivor's (maximum)
      confidence.
    - ``"wbf"``: the confidence-weighted mean box and the mean confidence of the group.

    Detections with ``CompactMasks`` go to ``tilewise.merge.masks_masked_detections``:
    duplicates are decided on ``mask_overlap`` (``"mask"``: exact mask IoU/IoS; ``"box"``:
    box overlap) and ``nmm``/``greedy_nmm`` union the members' masks (``wbf`` is refused
    with masks). Any other ``MaskStore`` is carried from the survivor.

    Args:
        det: detections to merge; boxes and confidences must be finite
            (``det[det.finite_mask()]``).
        method: a MergeMethod or its name.
        threshold: overlap threshold of the method (see the kernels).
        metric: ``"iou"`` or ``"ios"``.
        class_agnostic: let detections of different classes merge.
        mask_overlap: with masks, ``"mask"`` or ``"box"`` (see above); ignored without.

    Returns:
        ``(merged, result)`` where ``result`` maps every input row to its survivor.

    Raises:
        TilewiseError: unknown method or metric, bad threshold, non-finite values.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> from tilewise.merge import merge_detections
        >>> det = Detections(np.array([[0, 0, 10, 10], [2, 0, 12, 10]]), confidence=[0.5, 0.75])
        >>> merged, result = merge_detections(det, "greedy_nmm", threshold=0.5)
        >>> merged.xyxy.tolist(), merged.confidence.tolist(), result.parent.tolist()
        ([[0.0, 0.0, 12.0, 10.0]], [0.75], [1, 1])
    """
    m = MergeMethod.parse(method)
    if not isinstance(det, Detections):
        raise TilewiseError(f"merge_detections takes Detections, got {type(det).__name__}")
    if m is MergeMethod.NONE:
        return det, MergeResult.identity(len(det))
    if isinstance(det.masks, CompactMasks):
        return merge_masked_detections(
            det,
            m,
            threshold=threshold,
            metric=metric,
            class_agnostic=class_agnostic,
            mask_overlap=mask_overlap,
        )
    return merge_boxes(det, m, threshold=threshold, metric=metric, class_agnostic=class_agnostic)


def nms(
    det: Detections,
    threshold: float = 0.5,
    metric: MetricLike = "iou",
    class_agnostic: bool = False,
) -> Detections:
    """Non-max suppression of Detections (see ``nms_kernel``): the survivors' rows.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> from tilewise.merge import nms
        >>> det = Detections(np.array([[0, 0, 10, 10], [1, 0, 11, 10]]), confidence=[0.6, 0.9])
        >>> nms(det).xyxy.tolist()
        [[1.0, 0.0, 11.0, 10.0]]
    """
    return merge_detections(
        det, MergeMethod.NMS, threshold=threshold, metric=metric, class_agnostic=class_agnostic
    )[0]


def nmm(
    det: Detections,
    threshold: float = 0.5,
    metric: MetricLike = "iou",
    class_agnostic: bool = False,
) -> Detections:
    """Non-max merge of Detections (see ``nmm_kernel``): enclosing boxes, top scores.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> from tilewise.merge import nmm
        >>> boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]])
        >>> nmm(Detections(boxes, confidence=[0.9, 0.8, 0.7]), threshold=0.2).xyxy.tolist()
        [[0.0, 0.0, 20.0, 10.0]]
    """
    return merge_detections(
        det, MergeMethod.NMM, threshold=threshold, metric=metric, class_agnostic=class_agnostic
    )[0]


def greedy_nmm(
    det: Detections,
    threshold: float = 0.5,
    metric: MetricLike = "iou",
    class_agnostic: bool = False,
) -> Detections:
    """Greedy non-max merge of Detections (see ``greedy_nmm_kernel``).

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> from tilewise.merge import greedy_nmm
        >>> boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]])
        >>> det = Detections(boxes, confidence=[0.9, 0.8, 0.7])
        >>> greedy_nmm(det, threshold=0.2).xyxy.tolist()
        [[0.0, 0.0, 15.0, 10.0], [10.0, 0.0, 20.0, 10.0]]
    """
    return merge_detections(
        det,
        MergeMethod.GREEDY_NMM,
        threshold=threshold,
        metric=metric,
        class_agnostic=class_agnostic,
    )[0]


def wbf(
    det: Detections,
    threshold: float = 0.5,
    metric: MetricLike = "iou",
    class_agnostic: bool = False,
) -> Detections:
    """Weighted boxes fusion of Detections (see ``wbf_kernel``): fused boxes, mean scores.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> from tilewise.merge import wbf
        >>> det = Detections(np.array([[0, 0, 10, 10], [4, 0, 14, 10]]), confidence=[0.75, 0.25])
        >>> out = wbf(det, threshold=0.4)
        >>> out.xyxy.tolist(), out.confidence.tolist()
        ([[1.0, 0.0, 11.0, 10.0]], [0.5])
    """
    return merge_detections(
        det, MergeMethod.WBF, threshold=threshold, metric=metric, class_agnostic=class_agnostic
    )[0]
