"""Detections in pixel coordinates as JSON: the document ``tilewise predict IMAGE`` writes.

One builder for every adapter that returns it: ``predict`` (images, rasters without a
CRS) and the HTTP service (``tilewise.serve``), so the same detections give the same
document whichever way they were asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tilewise.detections.core import Detections

__all__ = ["detections_json"]


def detections_json(det: Detections, names: Sequence[str], **header: Any) -> dict[str, Any]:
    """Detections as a JSON-ready dict: ``header`` fields plus one entry per detection.

    Boxes are rounded to 0.01 px and confidences to 1e-4; ``class_name`` is the model's
    name for the class, or the id as text where the model names none.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> d = detections_json(Detections(np.array([[1, 2, 3, 4]]), [0.5], [1]), ["a", "b"])
        >>> d["detections"][0]
        {'xyxy': [1.0, 2.0, 3.0, 4.0], 'confidence': 0.5, 'class_id': 1, 'class_name': 'b'}
    """
    rows = []
    for box, conf, cls in zip(
        det.xyxy.tolist(), det.confidence.tolist(), det.class_id.tolist(), strict=True
    ):
        rows.append(
            {
                "xyxy": [round(v, 2) for v in box],
                "confidence": round(conf, 4),
                "class_id": int(cls),
                "class_name": names[cls] if 0 <= cls < len(names) else str(cls),
            }
        )
    return {**header, "count": len(rows), "detections": rows}
