"""Turning what a caller passes (array, path, source) into a source."""

from __future__ import annotations

import os

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.images import ReadOptions
from tilewise.sources.arrays import ArraySource
from tilewise.sources.files import ImageFileSource
from tilewise.sources.protocol import ImageSource

__all__ = ["SourceLike", "as_source"]

SourceLike = "np.ndarray | str | os.PathLike[str] | ImageSource"


def as_source(image: object, read: ReadOptions | None = None) -> tuple[ImageSource, bool]:
    """The source for an array, an image path or a source; and whether the caller owns it.

    Arrays become an ``ArraySource``, paths an ``ImageFileSource`` (read with ``read``),
    and sources are returned as they are. The flag is True when a new source was opened
    here (the caller closes it).

    Example:
        >>> import numpy as np
        >>> src, owned = as_source(np.zeros((2, 3, 3), np.uint8))
        >>> type(src).__name__, src.image_wh, owned
        ('ArraySource', (3, 2), True)
    """
    if isinstance(image, np.ndarray):
        return ArraySource(image, name="image"), True
    if isinstance(image, (str, os.PathLike)):
        return ImageFileSource(image, read), True
    if isinstance(image, ImageSource):
        return image, False
    raise TilewiseError(
        "image must be an RGB array, an image path or an image source "
        f"(tilewise.sources.ImageSource), got {type(image).__name__}"
    )
