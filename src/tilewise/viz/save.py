"""Saving RGB images to PNG or JPEG, atomically."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_write_bytes
from tilewise.images import as_rgb

__all__ = ["ImageFormat", "save_image"]


class ImageFormat(str, Enum):
    """Image file formats ``save_image`` writes, by OpenCV encoder extension."""

    PNG = ".png"
    JPEG = ".jpg"

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> ImageFormat:
        """Pick the format from the file extension (case-insensitive).

        Example:
            >>> ImageFormat.from_path("out/frame.JPEG").name
            'JPEG'
        """
        suffix = Path(path).suffix.lower()
        formats = {".png": cls.PNG, ".jpg": cls.JPEG, ".jpeg": cls.JPEG}
        if suffix not in formats:
            raise TilewiseError(
                f"cannot save {os.fspath(path)!r}: unknown image extension {suffix!r}; "
                "use .png, .jpg or .jpeg"
            )
        return formats[suffix]


def save_image(path: str | os.PathLike[str], image: np.ndarray, *, quality: int = 95) -> Path:
    """Write an RGB image to ``path`` as PNG or JPEG (by extension), atomically.

    The file is either fully written or left as it was. Gray (H x W) and RGBA arrays are
    accepted as by ``tilewise.images.as_rgb``; colours are converted to OpenCV's BGR
    order only inside.

    Args:
        path: the target file, ``.png``, ``.jpg`` or ``.jpeg``; parent folders are created.
        image: H x W x 3 uint8 RGB.
        quality: JPEG quality 1..100 (ignored for PNG, which is lossless).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        TilewiseError: unknown extension, bad quality or a bad image.

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> from tilewise import load_image
        >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[..., 0] = 200  # red
        >>> out = save_image(pathlib.Path(tempfile.mkdtemp()) / "red.png", image)
        >>> bool((load_image(out) == image).all())
        True
    """
    fmt = ImageFormat.from_path(path)
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
        raise TilewiseError(f"quality must be an int in 1..100, got {quality!r}")
    if not 1 <= quality <= 100:
        raise TilewiseError(f"quality must be an int in 1..100, got {quality}")
    rgb = as_rgb(image)
    import cv2

    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt is ImageFormat.JPEG else []
    ok, encoded = cv2.imencode(fmt.value, bgr, params)
    if not ok:  # pragma: no cover - OpenCV encoders for PNG/JPEG do not fail on valid input
        raise TilewiseError(f"OpenCV could not encode the image as {fmt.name}")
    return atomic_write_bytes(path, encoded.tobytes())
