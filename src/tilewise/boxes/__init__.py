"""Box geometry: areas, clipping, IoU/IoS and sparse overlap queries."""

from tilewise.boxes.metric import Metric, MetricLike
from tilewise.boxes.ops import (
    box_area,
    box_ios,
    box_iou,
    box_overlap,
    clip_boxes,
    paired_overlap,
)
from tilewise.boxes.pairs import overlapping_pairs

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
