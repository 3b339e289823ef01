"""The ``Detections`` interchange type and its converters."""

from tilewise.detections.core import Detections, Index, MaskStore

__all__ = ["Detections", "Index", "MaskStore"]
