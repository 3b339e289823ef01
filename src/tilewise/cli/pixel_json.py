"""Detections in pixel coordinates as JSON: what ``predict`` writes for images.

Shared by ``predict_cmd`` (images) and ``predict_raster`` (rasters without a CRS).
"""

from __future__ import annotations

from typing import Any

__all__ = ["detections_json"]


def detections_json(det: Any, names: Any, **header: Any) -> dict[str, Any]:
    """Detections as a JSON-ready dict: ``header`` fields plus one entry per detection.

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
