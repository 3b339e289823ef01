"""Scales of multi-scale slicing: one slice grid and zoom each, with an optional size filter.

``Slicer(model, scales=[(320, 1.0), (160, 2.0, None, 32)])`` cuts the image with every
scale's grid, runs the model on all of them and fuses everything with one merge. A scale's
size filter keeps only the detections whose size (the square root of the box area, in
image pixels) lies in ``[min_size, max_size)``, so that each scale contributes the objects
it is good at (as in SNIP, and SAHI's full-image pass for large objects).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.slicing.grid import OverlapLike, SliceGrid, positive_int
from tilewise.slicing.zoom import check_zoom

__all__ = ["Scale", "ScaleLike", "ScaleStats", "parse_scales", "size_of"]


def _size_bound(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TilewiseError(f"{name} must be None or a number >= 0, got {value!r}")
    v = float(value)
    if math.isnan(v) or v < 0:
        raise TilewiseError(f"{name} must be None or a number >= 0, got {value!r}")
    return v


def size_of(xyxy: np.ndarray) -> np.ndarray:
    """Object size used by the scale filters: sqrt of the box area (px), 0 for degenerate boxes.

    Example:
        >>> size_of(np.array([[0, 0, 4, 9], [5, 5, 5, 9]], np.float32)).tolist()
        [6.0, 0.0]
    """
    w = np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None).astype(np.float64)
    h = np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None).astype(np.float64)
    return np.sqrt(w * h)


@dataclass(frozen=True)
class Scale:
    """One scale of multi-scale slicing.

    Args:
        slice_wh: slice size (int or (w, h)), or None for one image-sized slice (a
            full-frame pass that takes the zoom and the size filter).
        zoom: factor every slice of this scale is resized by before the model.
        overlap: this scale's overlap (default: the slicer's).
        min_size: keep detections at least this large (sqrt of box area, image px).
        max_size: keep detections smaller than this.

    Example:
        >>> Scale(160, 2.0, max_size=32).describe()
        '160x160 zoom 2 sizes [0, 32)'
        >>> Scale.parse((320, 1.0)).describe(), Scale.parse([None, 0.5, 48, None]).describe()
        ('320x320 zoom 1', 'full frame zoom 0.5 sizes [48, inf)')
    """

    slice_wh: tuple[int, int] | None
    zoom: float = 1.0
    overlap: OverlapLike | None = None
    min_size: float | None = None
    max_size: float | None = None

    def __post_init__(self) -> None:
        wh = self.slice_wh
        if wh is not None:
            if isinstance(wh, (tuple, list)):
                if len(wh) != 2:
                    raise TilewiseError(f"a scale's slice_wh must be an int or (w, h), got {wh!r}")
                pair = (positive_int(wh[0], "slice width"), positive_int(wh[1], "slice height"))
            else:
                side = positive_int(wh, "slice size")
                pair = (side, side)
            object.__setattr__(self, "slice_wh", pair)
            if self.overlap is not None:
                SliceGrid(pair, pair, self.overlap)  # validates the overlap now
        object.__setattr__(self, "zoom", check_zoom(self.zoom, "a scale's zoom"))
        lo = _size_bound(self.min_size, "min_size")
        hi = _size_bound(self.max_size, "max_size")
        if lo is not None and hi is not None and lo >= hi:
            raise TilewiseError(f"a scale's min_size must be < max_size, got [{lo}, {hi})")
        object.__setattr__(self, "min_size", lo)
        object.__setattr__(self, "max_size", hi)

    @classmethod
    def parse(cls, value: ScaleLike) -> Scale:
        """A ``Scale`` from itself, ``(slice_wh, zoom[, min_size, max_size])`` or a mapping.

        Raises:
            TilewiseError: anything else, or invalid values.
        """
        if isinstance(value, Scale):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"slice_wh", "zoom", "overlap", "min_size", "max_size"}
            if unknown:
                raise TilewiseError(f"unknown scale keys {sorted(unknown)}")
            return cls(**value)
        if isinstance(value, (tuple, list)) and len(value) in (2, 4):
            if len(value) == 2:
                return cls(value[0], value[1])
            return cls(value[0], value[1], min_size=value[2], max_size=value[3])
        raise TilewiseError(
            "a scale must be (slice_wh, zoom), (slice_wh, zoom, min_size, max_size), a "
            f"mapping or a Scale; got {value!r}"
        )

    @property
    def filtered(self) -> bool:
        """Whether this scale has a size filter."""
        return self.min_size is not None or self.max_size is not None

    def keep(self, xyxy: np.ndarray) -> np.ndarray:
        """(N,) bool: which boxes (image px) pass this scale's size filter."""
        size = size_of(xyxy)
        ok = np.ones(len(xyxy), dtype=bool)
        if self.min_size is not None:
            ok &= size >= self.min_size
        if self.max_size is not None:
            ok &= size < self.max_size
        return ok

    def grid(self, image_wh: tuple[int, int], overlap: OverlapLike) -> SliceGrid:
        """This scale's grid over an image (slices larger than it: one image-sized slice)."""
        wh = self.slice_wh or image_wh
        return SliceGrid(image_wh, wh, self.overlap if self.overlap is not None else overlap)

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form (the config files' ``scales`` entries)."""
        return {
            "slice_wh": None if self.slice_wh is None else list(self.slice_wh),
            "zoom": self.zoom,
            "overlap": list(self.overlap)
            if isinstance(self.overlap, (tuple, list))
            else self.overlap,
            "min_size": self.min_size,
            "max_size": self.max_size,
        }

    def describe(self) -> str:
        """Short text: size, zoom and filter."""
        size = "full frame" if self.slice_wh is None else "{}x{}".format(*self.slice_wh)
        text = f"{size} zoom {self.zoom:g}"
        if self.filtered:
            lo = self.min_size or 0
            hi = "inf" if self.max_size is None else f"{self.max_size:g}"
            text += f" sizes [{lo:g}, {hi})"
        return text


ScaleLike: TypeAlias = Scale | tuple[Any, ...] | list[Any] | Mapping[str, Any]


def parse_scales(scales: Sequence[ScaleLike] | None) -> tuple[Scale, ...] | None:
    """Validate a ``scales`` option: None, or a non-empty list of scales.

    Example:
        >>> [s.describe() for s in parse_scales([(320, 1), (160, 2, None, 24)])]
        ['320x320 zoom 1', '160x160 zoom 2 sizes [0, 24)']
    """
    if scales is None:
        return None
    if isinstance(scales, (str, bytes, Mapping)) or not isinstance(scales, Sequence):
        raise TilewiseError(f"scales must be a list of scales, got {scales!r}")
    if not scales:
        raise TilewiseError("scales must hold at least one scale (or be None)")
    return tuple(Scale.parse(s) for s in scales)


@dataclass
class ScaleStats:
    """What one scale of a multi-scale run contributed.

    Attributes:
        scale: the scale.
        slices: slices of its grid.
        first_slice: its first slice's index in ``raw_slice_index``.
        model_detections: detections the model returned on its slices.
        dropped_size: detections dropped by its size filter.
        raw: detections it gave to the merge.
        output: merged detections it produced (survivors of its own rows).
        model_scale: model input pixels per image pixel (see ``zoom.model_scale``).
    """

    scale: Scale
    slices: int
    first_slice: int
    model_detections: int = 0
    dropped_size: int = 0
    raw: int = 0
    output: int = 0
    model_scale: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scale": self.scale.to_json(),
            "slices": self.slices,
            "model_detections": self.model_detections,
            "dropped_size": self.dropped_size,
            "raw": self.raw,
            "output": self.output,
            "model_scale": self.model_scale,
        }
