"""One training sample (image + boxes + optional polygons or masks) and the drop rules."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np

from tilewise.datasets.dataset import Dataset
from tilewise.datasets.segments import SegmentKind
from tilewise.errors import TilewiseError
from tilewise.masks.rle import rle_decode

__all__ = ["BoxRules", "DropCounts", "DropWhy", "Sample"]


class DropWhy(str, Enum):
    """Why an augmentation dropped an object."""

    LOW_VISIBILITY = "low_visibility"
    TOO_SMALL = "too_small"


@dataclass
class DropCounts:
    """Objects kept and dropped by augmentations, per reason and per class (never silent).

    Example:
        >>> c = DropCounts(); c.add(np.array([0, 1, 1]), np.array([True, False, True]),
        ...                         np.array([False, True, False]))
        >>> c.kept, c.dropped, c.by_class
        (2, {'low_visibility': 1, 'too_small': 0}, {1: 1})
    """

    kept: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {w.value: 0 for w in DropWhy})
    by_class: dict[int, int] = field(default_factory=dict)

    def add(self, class_id: np.ndarray, keep: np.ndarray, low_visibility: np.ndarray) -> None:
        """Count one transform's decisions (``low_visibility`` marks the visibility drops)."""
        self.kept += int(keep.sum())
        lost = ~keep
        self.dropped[DropWhy.LOW_VISIBILITY.value] += int(np.sum(lost & low_visibility))
        self.dropped[DropWhy.TOO_SMALL.value] += int(np.sum(lost & ~low_visibility))
        for c in class_id[lost].tolist():
            self.by_class[int(c)] = self.by_class.get(int(c), 0) + 1

    def merge(self, other: DropCounts) -> None:
        """Add another count into this one."""
        self.kept += other.kept
        for k, v in other.dropped.items():
            self.dropped[k] = self.dropped.get(k, 0) + v
        for k, v in other.by_class.items():
            self.by_class[k] = self.by_class.get(k, 0) + v

    @property
    def total_dropped(self) -> int:
        """All dropped objects."""
        return sum(self.dropped.values())


@dataclass(frozen=True)
class BoxRules:
    """When a transformed object is kept.

    Args:
        min_visibility: fraction of the object (its polygon, mask or box area after the
            transform) that must remain inside the output image.
        min_size: minimum width and height of the resulting box, px.

    Example:
        >>> BoxRules(0.5, 2).min_visibility
        0.5
    """

    min_visibility: float = 0.3
    min_size: float = 2.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_visibility <= 1 or self.min_size < 0:
            raise TilewiseError("min_visibility must be in [0, 1] and min_size >= 0")


@dataclass(frozen=True, eq=False)
class Sample:
    """An image with its objects, for augmentation.

    Attributes:
        image: H x W x C uint8.
        boxes: (N, 4) float64 xyxy.
        class_id: (N,) int64.
        polygons: per object, a list of (k, 2) rings (or an empty list), or None.
        masks: (N, H, W) bool masks, or None.

    Example:
        >>> s = Sample(np.zeros((4, 6, 3), np.uint8), np.array([[1, 1, 3, 3]]), np.array([0]))
        >>> s.wh, len(s)
        ((6, 4), 1)
    """

    image: np.ndarray
    boxes: np.ndarray
    class_id: np.ndarray
    polygons: list[list[np.ndarray]] | None = None
    masks: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", np.asarray(self.boxes, np.float64).reshape(-1, 4))
        object.__setattr__(self, "class_id", np.asarray(self.class_id, np.int64).reshape(-1))
        n = self.boxes.shape[0]
        if self.class_id.shape[0] != n:
            raise TilewiseError("class_id must have one entry per box")
        if self.polygons is not None and len(self.polygons) != n:
            raise TilewiseError("polygons must have one entry per box")
        if self.masks is not None and self.masks.shape != (n, *self.image.shape[:2]):
            raise TilewiseError(f"masks must have shape ({n}, H, W)")

    @property
    def wh(self) -> tuple[int, int]:
        """Image (width, height)."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def replace(self, **changes: object) -> Sample:
        """A copy with some fields replaced."""
        return replace(self, **changes)

    @classmethod
    def from_dataset(cls, ds: Dataset, image: int, pixels: np.ndarray | None = None) -> Sample:
        """Image ``image`` of a dataset (pixels loaded from disk unless given).

        Polygons are kept as polygons; RLE masks become dense masks (then every object has
        a mask: objects without one get their box filled).

        Example:
            >>> from tilewise.datasets import DatasetBuilder
            >>> b = DatasetBuilder(["a"]); b.add_box(b.add_image("x.png", 6, 4), [1, 1, 3, 3], 0)
            >>> Sample.from_dataset(b.build(), 0, np.zeros((4, 6, 3), np.uint8)).boxes.tolist()
            [[1.0, 1.0, 3.0, 3.0]]
        """
        from tilewise.images import load_image

        img = load_image(ds.image_path(image) if pixels is None else pixels)
        sl = ds.annotations_of(image)
        kinds = ds.segments.kind[sl]
        polygons = masks = None
        if np.any(kinds == SegmentKind.RLE):
            h, w = img.shape[:2]
            masks = np.zeros((sl.stop - sl.start, h, w), dtype=bool)
            for k, j in enumerate(range(sl.start, sl.stop)):
                runs = ds.segments.rle(j)
                if runs is not None:
                    masks[k] = rle_decode(runs, (h, w))
                else:
                    x1, y1, x2, y2 = np.round(ds.boxes[j]).astype(int)
                    masks[k, max(y1, 0) : y2, max(x1, 0) : x2] = True
        elif np.any(kinds == SegmentKind.POLYGON):
            polygons = [ds.segments.polygon(j) for j in range(sl.start, sl.stop)]
        return cls(img, ds.boxes[sl].copy(), ds.class_id[sl].copy(), polygons, masks)
