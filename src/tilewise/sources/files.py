"""Image files as sources, read once by the one image reader (``tilewise.images``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.images import ImageRecord, ReadOptions, read_image
from tilewise.sources.protocol import BaseSource
from tilewise.sources.window import Window

__all__ = ["ImageFileSource"]


class ImageFileSource(BaseSource):
    """An image file (JPEG, PNG, TIFF...), decoded whole by ``tilewise.images.read_image``.

    The file is decoded once, on the first ``read`` (or ``record``) and held until
    ``close``; windows are read-only views of it. Files too large to decode whole are
    refused by the reader's pixel limit: read those window by window with
    ``tilewise.sources.raster.RasterSource``.

    Args:
        path: the image file.
        options: how it is read (EXIF orientation, truncation, 16-bit scaling...).

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> _ = cv2.imwrite(str(p), np.zeros((4, 6, 3), np.uint8))
        >>> src = ImageFileSource(p)
        >>> src.image_wh, src.read(Window(0, 0, 2, 2)).shape, src.record.image_wh
        ((6, 4), (2, 2, 3), (6, 4))
    """

    def __init__(self, path: str | os.PathLike[str], options: ReadOptions | None = None) -> None:
        self.path = Path(path)
        self.name = str(path)
        self.options = options or ReadOptions()
        self._pixels: np.ndarray | None = None
        self._record: ImageRecord | None = None

    def _load(self) -> np.ndarray:
        if self._pixels is None:
            loaded = read_image(self.path, self.options)
            self._pixels, self._record = loaded.pixels, loaded.record
        return self._pixels

    @property
    def image_wh(self) -> tuple[int, int]:  # type: ignore[override]
        """``(width, height)`` as read (after EXIF orientation)."""
        h, w = self._load().shape[:2]
        return (int(w), int(h))

    @property
    def record(self) -> ImageRecord:
        """How the file was read (``tilewise.images.ImageRecord``)."""
        self._load()
        assert self._record is not None
        return self._record

    def read(self, window: Window) -> np.ndarray:
        """A read-only view of the window of the decoded image."""
        pixels = self._load()
        rows, cols = window.check_inside(self.image_wh, self.name).slices
        view = pixels[rows, cols]
        view.flags.writeable = False
        return view

    def describe(self) -> dict[str, Any]:
        """Kind, name, size and the reader's record."""
        return {**super().describe(), "image": self.record.to_dict()}

    def close(self) -> None:
        """Drop the decoded pixels."""
        self._pixels = None
