"""tilewise: find small objects in large images by slicing, batching and merging."""

from __future__ import annotations

from tilewise._version import __version__
from tilewise.boxes import Metric
from tilewise.detections import Detections
from tilewise.errors import ModelOutputError, TilewiseError, TilewiseWarning
from tilewise.images import load_image
from tilewise.masks import CompactMasks
from tilewise.merge import MergeMethod, MergeResult, greedy_nmm, merge_detections, nmm, nms, wbf
from tilewise.slicing import SlicedPrediction, SliceGrid, Slicer, SliceReport, batched

__all__ = [
    "CompactMasks",
    "Detections",
    "MergeMethod",
    "MergeResult",
    "Metric",
    "ModelOutputError",
    "SliceGrid",
    "SliceReport",
    "SlicedPrediction",
    "Slicer",
    "TilewiseError",
    "TilewiseWarning",
    "__version__",
    "batched",
    "greedy_nmm",
    "load_image",
    "merge_detections",
    "nmm",
    "nms",
    "wbf",
]
