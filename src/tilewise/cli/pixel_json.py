"""Detections in pixel coordinates as JSON: what ``predict`` writes for images.

Shared by ``predict_cmd`` (images) and ``predict_raster`` (rasters without a CRS); the
builder lives in ``tilewise.detections.pixel_json``, so the HTTP service
(``tilewise.serve``) returns the very same document.
"""

from __future__ import annotations

from tilewise.detections.pixel_json import detections_json

__all__ = ["detections_json"]
