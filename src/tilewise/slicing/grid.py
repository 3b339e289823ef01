"""The slice grid shared by sliced inference and dataset tiling."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TypeAlias

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["SliceGrid", "SizeLike", "OverlapLike"]

SizeLike: TypeAlias = int | tuple[int, int]
OverlapLike: TypeAlias = float | int | tuple[float, float] | tuple[int, int]


def _pair(value: object, name: str) -> tuple[object, object]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise TilewiseError(f"{name} must be a number or a (x, y) pair, got {value!r}")
        return value[0], value[1]
    return value, value


def positive_int(value: object, name: str) -> int:
    """Validate a positive integer option (bools rejected); used by grid and slicer alike."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TilewiseError(f"{name} must be a positive int, got {value!r}")
    if value <= 0:
        raise TilewiseError(f"{name} must be a positive int, got {value}")
    return int(value)


def _overlap_px(value: object, slice_len: int, axis: str) -> int:
    """Overlap in pixels: a float in [0, 1) is a ratio of the slice size, an int is pixels."""
    if isinstance(value, bool):
        raise TilewiseError(f"overlap ({axis}) must be a float ratio or int pixels, got a bool")
    if isinstance(value, (int, np.integer)):
        px = int(value)
        if px < 0:
            raise TilewiseError(f"overlap ({axis}) in pixels must be >= 0, got {px}")
    elif isinstance(value, (float, np.floating)):
        if not 0.0 <= float(value) < 1.0:
            raise TilewiseError(
                f"overlap ({axis}) as a ratio must be in [0, 1), got {value}; "
                "pass an int for pixels"
            )
        # a valid ratio never fails: rounding is capped one pixel below the slice size
        return min(round(float(value) * slice_len), slice_len - 1)
    else:
        raise TilewiseError(f"overlap ({axis}) must be a float ratio or int pixels, got {value!r}")
    if px >= slice_len:
        raise TilewiseError(
            f"overlap ({axis}) of {px} px must be smaller than the slice size {slice_len} px"
        )
    return px


def _axis_starts(length: int, size: int, overlap: int) -> np.ndarray:
    """Slice starts along one axis; the last slice is shifted back inside the image."""
    if length <= size:
        return np.zeros(1, dtype=np.int64)
    stride = size - overlap
    count = math.ceil((length - size) / stride) + 1
    starts = np.arange(count, dtype=np.int64) * stride
    starts[-1] = length - size
    return np.unique(starts)


class SliceGrid:
    """A grid of overlapping, full-size slices covering an image.

    Slices are laid out row-major. Every pixel is covered; every slice has the full slice
    size wherever the image allows (the last row and column are shifted back inside the
    image rather than producing sliver slices). Along an axis where the image is smaller
    than a slice there is one slice of the image's size.

    Args:
        image_wh: image width and height in pixels.
        slice_wh: slice size, an int for square slices or a (w, h) pair.
        overlap: a float in [0, 1) is a ratio of the slice size, an int >= 0 is pixels;
            or an (x, y) pair of either.

    Attributes:
        boxes: (K, 4) int64 slice boxes as xyxy, row-major.
        overlap_px: the overlap in pixels along x and y.

    Example:
        >>> from tilewise import SliceGrid
        >>> grid = SliceGrid(image_wh=(1000, 600), slice_wh=512, overlap=0.25)
        >>> grid.boxes.tolist()
        [[0, 0, 512, 512], [384, 0, 896, 512], [488, 0, 1000, 512], [0, 88, 512, 600], \
[384, 88, 896, 600], [488, 88, 1000, 600]]
    """

    def __init__(
        self, image_wh: tuple[int, int], slice_wh: SizeLike = 640, overlap: OverlapLike = 0.2
    ) -> None:
        iw, ih = _pair(image_wh, "image_wh")
        self.image_wh = (positive_int(iw, "image width"), positive_int(ih, "image height"))
        sw, sh = _pair(slice_wh, "slice_wh")
        self.slice_wh = (positive_int(sw, "slice width"), positive_int(sh, "slice height"))
        ox, oy = _pair(overlap, "overlap")
        self.overlap_px = (
            _overlap_px(ox, self.slice_wh[0], "x"),
            _overlap_px(oy, self.slice_wh[1], "y"),
        )
        w = min(self.slice_wh[0], self.image_wh[0])
        h = min(self.slice_wh[1], self.image_wh[1])
        xs = _axis_starts(self.image_wh[0], w, self.overlap_px[0])
        ys = _axis_starts(self.image_wh[1], h, self.overlap_px[1])
        self.columns = len(xs)
        self.rows = len(ys)
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        x1 = xx.ravel()
        y1 = yy.ravel()
        self.boxes = np.stack([x1, y1, x1 + w, y1 + h], axis=1).astype(np.int64)
        self.boxes.setflags(write=False)

    @property
    def offsets(self) -> np.ndarray:
        """(K, 2) int64 top-left corner of every slice."""
        return self.boxes[:, :2]

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def __iter__(self) -> Iterator[tuple[int, int, int, int]]:
        for row in self.boxes.tolist():
            yield tuple(row)  # type: ignore[misc]

    def inner_edges(self) -> np.ndarray:
        """(K, 4) bool: which sides (left, top, right, bottom) of each slice lie inside the image.

        A detection touching an inner edge may be a truncated piece of an object that a
        neighbouring slice sees whole.

        Example:
            >>> from tilewise import SliceGrid
            >>> SliceGrid((20, 10), slice_wh=10, overlap=0).inner_edges().tolist()
            [[False, False, True, False], [True, False, False, False]]
        """
        w, h = self.image_wh
        b = self.boxes
        return np.stack([b[:, 0] > 0, b[:, 1] > 0, b[:, 2] < w, b[:, 3] < h], axis=1)

    def __repr__(self) -> str:
        return (
            f"SliceGrid(image_wh={self.image_wh}, slice_wh={self.slice_wh}, "
            f"overlap_px={self.overlap_px}, slices={len(self)} ({self.rows}x{self.columns}))"
        )
