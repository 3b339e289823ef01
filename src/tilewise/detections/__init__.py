"""The ``Detections`` interchange type and its converters."""

from tilewise.detections.convert import (
    from_coco_annotations,
    from_supervision,
    to_coco_results,
    to_supervision,
)
from tilewise.detections.core import Detections, Index, MaskStore

__all__ = [
    "Detections",
    "Index",
    "MaskStore",
    "from_coco_annotations",
    "from_supervision",
    "to_coco_results",
    "to_supervision",
]
