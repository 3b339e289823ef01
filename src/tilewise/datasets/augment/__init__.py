"""Augmentations for small objects: box-, polygon- and mask-aware, on numpy and OpenCV."""

from tilewise.datasets.augment.geometry import apply_affine
from tilewise.datasets.augment.mosaic import mosaic4
from tilewise.datasets.augment.pipeline import SmallObjectAugment
from tilewise.datasets.augment.sample import BoxRules, DropCounts, DropWhy, Sample
from tilewise.datasets.augment.transforms import (
    bbox_safe_crop,
    crop,
    flip,
    rotate,
    rotate90,
    scale,
)

__all__ = [
    "BoxRules",
    "DropCounts",
    "DropWhy",
    "Sample",
    "SmallObjectAugment",
    "apply_affine",
    "bbox_safe_crop",
    "crop",
    "flip",
    "mosaic4",
    "rotate",
    "rotate90",
    "scale",
]
