"""Overlap metrics between boxes."""

from __future__ import annotations

from enum import Enum

from tilewise.errors import TilewiseError

__all__ = ["Metric", "MetricLike"]


class Metric(str, Enum):
    """How the overlap of two boxes is measured.

    ``IOU``: intersection over union. ``IOS``: intersection over the smaller area, which
    scores a small piece inside a large box as 1 (useful for truncated slice detections).
    """

    IOU = "iou"
    IOS = "ios"

    @classmethod
    def parse(cls, value: MetricLike) -> Metric:
        """Turn ``"iou"``/``"ios"`` (any case) or a Metric into a Metric.

        Example:
            >>> from tilewise.boxes import Metric
            >>> Metric.parse("IoS")
            <Metric.IOS: 'ios'>
        """
        if isinstance(value, Metric):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise TilewiseError(
                f"metric must be one of {[m.value for m in cls]}, got {value!r}"
            ) from None


MetricLike = Metric | str
