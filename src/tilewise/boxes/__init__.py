"""Box geometry: areas, clipping, IoU/IoS and sparse overlap queries."""

from tilewise.boxes.ops import (
    box_area,
    box_ios,
    box_iou,
    box_overlap,
    clip_boxes,
    paired_overlap,
)
from tilewise.kernels import Metric, MetricLike, overlapping_pairs

__all__ = [
    "Metric",
    "MetricLike",
    "box_area",
    "box_ios",
    "box_iou",
    "box_overlap",
    "clip_boxes",
    "overlapping_pairs",
    "paired_overlap",
]
