"""Merging duplicate detections: NMS, NMM, greedy NMM and WBF, on arrays or Detections."""

from tilewise.merge.detections_merge import greedy_nmm, merge_detections, nmm, nms, wbf
from tilewise.merge.kernels import greedy_nmm_kernel, nmm_kernel, nms_kernel, wbf_kernel
from tilewise.merge.method import MergeMethod, MergeMethodLike
from tilewise.merge.result import MergeAction, MergeResult

__all__ = [
    "MergeAction",
    "MergeMethod",
    "MergeMethodLike",
    "MergeResult",
    "greedy_nmm",
    "greedy_nmm_kernel",
    "merge_detections",
    "nmm",
    "nmm_kernel",
    "nms",
    "nms_kernel",
    "wbf",
    "wbf_kernel",
]
