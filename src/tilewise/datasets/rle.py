"""COCO run-length encoded masks: re-exported from ``tilewise.masks.rle``, where the codec lives.

The codec moved to the mask package so that ``Detections`` masks and datasets share one
pycocotools-compatible implementation; this module keeps the dataset imports working.
"""

from __future__ import annotations

from tilewise.masks.rle import (
    crop_to_rle,
    rle_area,
    rle_bbox,
    rle_crop,
    rle_decode,
    rle_encode,
    rle_from_string,
    rle_to_crop,
    rle_to_rings,
    rle_to_string,
)

__all__ = [
    "crop_to_rle",
    "rle_area",
    "rle_bbox",
    "rle_crop",
    "rle_decode",
    "rle_encode",
    "rle_from_string",
    "rle_to_crop",
    "rle_to_rings",
    "rle_to_string",
]
