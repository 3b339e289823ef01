"""Segmentation masks: compact per-detection storage, conversions, geometry and overlap.

``CompactMasks`` stores each mask as a bit-packed crop inside its box, never as an
image-sized array; ``Detections(..., masks=...)`` accepts it (or a dense (N, H, W) bool
array, compacted against the boxes). Conversions go to dense arrays, COCO RLE
(pycocotools-compatible) and polygons; ``mask_overlap`` and ``union_groups`` work on
crop intersections only. Merging masked detections lives a floor up, in
``tilewise.merge`` (``merge_masked_detections``): this package never imports it.
"""

from tilewise.masks.ops import candidate_pairs, mask_overlap, pairwise_intersection, union_groups
from tilewise.masks.polygons import crop_to_polygons, polygons_to_crop
from tilewise.masks.store import ClipCounts, CompactMasks, pixel_rects

__all__ = [
    "ClipCounts",
    "CompactMasks",
    "candidate_pairs",
    "crop_to_polygons",
    "mask_overlap",
    "pairwise_intersection",
    "pixel_rects",
    "polygons_to_crop",
    "union_groups",
]
