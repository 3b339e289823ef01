"""tilewise: find small objects in large images by slicing, batching and merging."""

from __future__ import annotations

from tilewise.boxes import Metric
from tilewise.detections import Detections
from tilewise.errors import ModelOutputError, TilewiseError, TilewiseWarning
from tilewise.images import load_image
from tilewise.slicing import SliceGrid

__version__ = "0.1.0"

__all__ = [
    "Detections",
    "Metric",
    "ModelOutputError",
    "SliceGrid",
    "TilewiseError",
    "TilewiseWarning",
    "__version__",
    "load_image",
]
