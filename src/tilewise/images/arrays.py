"""Image arrays: validation of in-memory images as H x W x 3 uint8 RGB."""

from __future__ import annotations

import os
from typing import TypeAlias

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["ImageLike", "as_rgb"]

ImageLike: TypeAlias = "np.ndarray | str | os.PathLike[str]"


def as_rgb(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Validate an image array and return it as H x W x 3 uint8 RGB.

    Accepted: H x W x 3 (returned as is, no copy), H x W and H x W x 1 grayscale (replicated
    to three channels), H x W x 4 RGBA (alpha dropped, a view). Anything else, a non-uint8
    dtype or a zero-size image raises ``TilewiseError``.

    Example:
        >>> import numpy as np
        >>> as_rgb(np.zeros((4, 5), dtype=np.uint8)).shape
        (4, 5, 3)
    """
    if not isinstance(image, np.ndarray):
        raise TilewiseError(f"{name} must be a numpy array or a path, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TilewiseError(
            f"{name} must be uint8 (H x W x 3 RGB), got dtype {image.dtype}; "
            "scale and cast it first, e.g. (img * 255).astype(np.uint8)"
        )
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise TilewiseError(
            f"{name} must be H x W x 3 (RGB), H x W x 4 (RGBA) or H x W (gray), got {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise TilewiseError(f"{name} is empty: shape {image.shape}")
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.shape[2] == 4:
        return image[:, :, :3]
    return image
