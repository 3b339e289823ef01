"""Merging duplicate Detections: NMS, NMM, greedy NMM and WBF, for boxes and masks alike.

The array kernels and ``MergeResult`` live on the ground floor (``tilewise.kernels``) and
are re-exported here; this package applies them to ``Detections``, including those that
carry ``CompactMasks`` (``merge_masked_detections``).
"""

from tilewise.kernels import (
    MergeAction,
    MergeResult,
    greedy_nmm_kernel,
    nmm_kernel,
    nms_kernel,
    wbf_kernel,
)
from tilewise.merge.box_merge import merge_boxes
from tilewise.merge.detections_merge import greedy_nmm, merge_detections, nmm, nms, wbf
from tilewise.merge.masks import (
    MaskOverlap,
    MaskOverlapLike,
    mask_merge_kernel,
    merge_masked_detections,
)
from tilewise.merge.method import MergeMethod, MergeMethodLike

__all__ = [
    "MaskOverlap",
    "MaskOverlapLike",
    "MergeAction",
    "MergeMethod",
    "MergeMethodLike",
    "MergeResult",
    "greedy_nmm",
    "greedy_nmm_kernel",
    "mask_merge_kernel",
    "merge_boxes",
    "merge_detections",
    "merge_masked_detections",
    "nmm",
    "nmm_kernel",
    "nms",
    "nms_kernel",
    "wbf",
    "wbf_kernel",
]
