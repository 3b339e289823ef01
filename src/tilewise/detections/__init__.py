"""The ``Detections`` interchange type and its converters."""

from tilewise.detections.convert import (
    from_coco_annotations,
    from_supervision,
    to_coco_results,
    to_supervision,
)
from tilewise.detections.core import Detections, Index, MaskStore
from tilewise.detections.georef import GeoReference

__all__ = [
    "Detections",
    "GeoReference",
    "Index",
    "MaskStore",
    "from_coco_annotations",
    "from_supervision",
    "to_coco_results",
    "to_supervision",
]
