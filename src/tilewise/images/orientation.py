"""EXIF orientation (tag 0x0112): the eight stored-to-displayed frame transforms."""

from __future__ import annotations

import numpy as np

__all__ = ["display_wh", "is_valid_orientation", "orient", "unorient"]

_INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def is_valid_orientation(value: object) -> bool:
    """Whether ``value`` is one of the eight EXIF orientations, 1..8.

    Example:
        >>> is_valid_orientation(6), is_valid_orientation(0), is_valid_orientation("6")
        (True, False, False)
    """
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8


def display_wh(stored_wh: tuple[int, int], orientation: int) -> tuple[int, int]:
    """(width, height) as displayed: orientations 5-8 swap the sides.

    Example:
        >>> display_wh((4000, 3000), 6), display_wh((4000, 3000), 3)
        ((3000, 4000), (4000, 3000))
    """
    w, h = stored_wh
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn pixels stored with EXIF ``orientation`` into the frame viewers display.

    1 is returned as is; the others give a C-contiguous copy. 2 mirrors left-right, 3
    turns 180°, 4 mirrors top-bottom, 5 transposes, 6 turns 90° clockwise, 7 transverses,
    8 turns 90° counter-clockwise (the same transforms as Pillow's ``exif_transpose``).

    Example:
        >>> import numpy as np
        >>> stored = np.array([[1, 2, 3], [4, 5, 6]])
        >>> orient(stored, 6).tolist()
        [[4, 1], [5, 2], [6, 3]]
    """
    if orientation == 1 or not is_valid_orientation(orientation):
        return image
    if orientation == 2:
        out = image[:, ::-1]
    elif orientation == 3:
        out = image[::-1, ::-1]
    elif orientation == 4:
        out = image[::-1]
    else:
        swapped = image.swapaxes(0, 1)
        out = {5: swapped, 6: swapped[:, ::-1], 7: swapped[::-1, ::-1], 8: swapped[::-1]}[
            orientation
        ]
    return np.ascontiguousarray(out)


def unorient(image: np.ndarray, orientation: int) -> np.ndarray:
    """The inverse of ``orient``: displayed pixels back to the stored frame.

    Example:
        >>> import numpy as np
        >>> a = np.arange(6).reshape(2, 3)
        >>> all((unorient(orient(a, o), o) == a).all() for o in range(1, 9))
        True
    """
    if not is_valid_orientation(orientation):
        return image
    return orient(image, _INVERSE[orientation])
