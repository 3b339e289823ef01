"""Segmentation masks: compact per-detection storage, conversions, overlap and merging.

``CompactMasks`` stores each mask as a bit-packed crop inside its box, never as an
image-sized array; ``Detections(..., masks=...)`` accepts it (or a dense (N, H, W) bool
array, compacted against the boxes). Conversions go to dense arrays, COCO RLE
(pycocotools-compatible) and polygons; ``mask_overlap`` and ``union_groups`` work on
crop intersections only; ``merge_masked_detections`` is NMS / NMM / greedy NMM for
masked detections, on box or mask overlap.
"""

from tilewise.masks.merge import (
    MaskOverlap,
    MaskOverlapLike,
    mask_merge_kernel,
    merge_masked_detections,
)
from tilewise.masks.ops import candidate_pairs, mask_overlap, pairwise_intersection, union_groups
from tilewise.masks.polygons import crop_to_polygons, polygons_to_crop
from tilewise.masks.store import ClipCounts, CompactMasks, pixel_rects

__all__ = [
    "ClipCounts",
    "CompactMasks",
    "MaskOverlap",
    "MaskOverlapLike",
    "candidate_pairs",
    "crop_to_polygons",
    "mask_merge_kernel",
    "mask_overlap",
    "merge_masked_detections",
    "pairwise_intersection",
    "pixel_rects",
    "polygons_to_crop",
    "union_groups",
]
