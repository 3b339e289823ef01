"""What an image source is: size, windows of RGB pixels, optional validity and georeferencing."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from tilewise.detections import GeoReference
from tilewise.sources.window import Window

__all__ = ["ImageSource", "BaseSource"]


@runtime_checkable
class ImageSource(Protocol):
    """Anything the ``Slicer`` can read slices from.

    A source never has to hold its image: it answers one window at a time. In-memory
    arrays (``ArraySource``), image files (``ImageFileSource``) and rasters read window by
    window (``tilewise.sources.raster.RasterSource``, the ``geo`` extra) are sources;
    video frames or remote archives plug in the same way, with no special case in the
    slicer.

    Attributes:
        name: what the source is called in reports and errors (a path, ``"array"``).
        image_wh: ``(width, height)`` of the image in pixels.
        georef: where the pixels lie on the map, or None.

    ``read(window)`` returns the window's pixels as an ``h x w x 3`` uint8 RGB array
    (it may be a read-only view). ``valid_mask(window)`` returns an ``h x w`` bool array
    (True where there is data), or None when every pixel of the window is valid; the
    slicer skips windows with no valid pixel and drops detections centred on invalid
    ones. Windows are requested in row-major order, and ``valid_mask`` of a window is
    asked before its ``read``. ``describe()`` gives a JSON-ready account for reports.
    """

    @property
    def name(self) -> str:
        """What the source is called in reports and errors."""
        ...

    @property
    def image_wh(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        ...

    @property
    def georef(self) -> GeoReference | None:
        """Where the pixels lie on the map, or None."""
        ...

    def read(self, window: Window) -> np.ndarray:
        """The window's pixels as ``h x w x 3`` uint8 RGB."""
        ...

    def valid_mask(self, window: Window) -> np.ndarray | None:
        """``h x w`` bool (True where there is data), or None when all is valid."""
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON-ready account of the source for reports."""
        ...


class BaseSource:
    """Defaults for sources: no georeferencing, every pixel valid, nothing to close.

    Subclasses set ``name`` and ``image_wh`` and implement ``read``. Sources are context
    managers; ``close`` releases what they hold (files, datasets).
    """

    name: str = "source"
    image_wh: tuple[int, int] = (0, 0)
    georef: GeoReference | None = None

    def read(self, window: Window) -> np.ndarray:  # pragma: no cover - abstract
        """The window's pixels, ``h x w x 3`` uint8 RGB."""
        raise NotImplementedError

    def valid_mask(self, window: Window) -> np.ndarray | None:
        """None: every pixel is valid."""
        return None

    def describe(self) -> dict[str, Any]:
        """JSON-ready account: kind, name, size, georeferencing."""
        return {
            "kind": type(self).__name__,
            "name": self.name,
            "image_wh": list(self.image_wh),
            "georef": None if self.georef is None else self.georef.to_dict(),
        }

    def close(self) -> None:
        """Release what the source holds (nothing by default)."""

    def __enter__(self) -> BaseSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        w, h = self.image_wh
        return f"{type(self).__name__}({self.name!r}, {w}x{h})"
