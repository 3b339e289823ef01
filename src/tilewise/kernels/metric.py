"""Overlap metrics between boxes."""

from __future__ import annotations

from tilewise.choices import Choice

__all__ = ["Metric", "MetricLike"]


class Metric(Choice):
    """How the overlap of two boxes is measured.

    ``IOU``: intersection over union. ``IOS``: intersection over the smaller area, which
    scores a small piece inside a large box as 1 (useful for truncated slice detections).
    """

    IOU = "iou"
    IOS = "ios"

    @classmethod
    def option_name(cls) -> str:
        """Name used in error messages.

        Example:
            >>> from tilewise.boxes import Metric
            >>> Metric.parse("IoS")
            <Metric.IOS: 'ios'>
        """
        return "metric"


MetricLike = Metric | str
