"""In-memory images as sources: windows are read-only views, never copies."""

from __future__ import annotations

from typing import Any

import numpy as np

from tilewise.detections import GeoReference
from tilewise.errors import TilewiseError
from tilewise.images import as_rgb
from tilewise.sources.protocol import BaseSource
from tilewise.sources.window import Window

__all__ = ["ArraySource"]


class ArraySource(BaseSource):
    """An RGB array in memory, optionally with a valid-data mask and georeferencing.

    Args:
        pixels: ``H x W x 3`` uint8 RGB (grey and RGBA are accepted as by
            ``tilewise.images.as_rgb``).
        valid: optional ``H x W`` bool array, True where there is data.
        georef: optional ``GeoReference`` of the pixels.
        name: what the source is called in reports.

    Example:
        >>> import numpy as np
        >>> src = ArraySource(np.zeros((4, 6, 3), np.uint8))
        >>> src.image_wh, src.read(Window(2, 1, 3, 2)).shape
        ((6, 4), (2, 3, 3))
    """

    def __init__(
        self,
        pixels: np.ndarray,
        *,
        valid: np.ndarray | None = None,
        georef: GeoReference | None = None,
        name: str = "array",
    ) -> None:
        self.pixels = as_rgb(pixels)
        h, w = self.pixels.shape[:2]
        self.image_wh = (int(w), int(h))
        if valid is not None:
            valid = np.asarray(valid)
            if valid.dtype != bool or valid.shape != (h, w):
                raise TilewiseError(
                    f"valid must be a ({h}, {w}) bool array matching the image, "
                    f"got {valid.dtype} {valid.shape}"
                )
        self.valid = valid
        self.georef = georef
        self.name = name

    def read(self, window: Window) -> np.ndarray:
        """A read-only view of the window."""
        rows, cols = window.check_inside(self.image_wh, self.name).slices
        view = self.pixels[rows, cols]
        view.flags.writeable = False
        return view

    def valid_mask(self, window: Window) -> np.ndarray | None:
        """The window of ``valid`` (None without one)."""
        if self.valid is None:
            return None
        rows, cols = window.check_inside(self.image_wh, self.name).slices
        return self.valid[rows, cols]

    def describe(self) -> dict[str, Any]:
        """Kind, name, size, georeferencing and whether a valid mask was given."""
        return {**super().describe(), "valid_mask": self.valid is not None}
