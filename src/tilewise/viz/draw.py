"""Drawing primitives on an RGB canvas, in place: rectangles, outlines and labels.

These work on a caller-owned H x W x 3 uint8 array and clip everything to it. The
annotators in ``tilewise.viz.annotate`` build on them and never touch their input.
"""

from __future__ import annotations

import math

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.viz.palette import Color, text_color_for

__all__ = [
    "default_font_scale",
    "default_thickness",
    "draw_label",
    "draw_outline",
    "fill_rect",
    "label_box",
    "pixel_box",
]

_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX, kept here so importing this module needs no cv2


def default_thickness(image_wh: tuple[int, int]) -> int:
    """Line thickness in pixels that stays visible on an image of this size.

    About one pixel per 1600 pixels of the longer side, at least 1: thin enough not to hide
    objects a few pixels wide.

    Example:
        >>> default_thickness((640, 480)), default_thickness((3840, 2160))
        (1, 2)
        >>> default_thickness((8000, 6000))
        5
    """
    return max(1, round(max(image_wh) / 1600))


def default_font_scale(image_wh: tuple[int, int]) -> float:
    """OpenCV font scale for labels on an image of this size, in [0.4, 1.0].

    Capped at 1.0 so labels on large frames do not bury the small objects they name.

    Example:
        >>> default_font_scale((640, 480)), default_font_scale((1920, 1080))
        (0.4, 0.64)
        >>> default_font_scale((8000, 6000))
        1.0
    """
    return min(1.0, max(0.4, round(max(image_wh) / 3000, 2)))


def _check_thickness(thickness: object) -> int:
    if isinstance(thickness, bool) or not isinstance(thickness, (int, np.integer)):
        raise TilewiseError(f"thickness must be a positive int, got {thickness!r}")
    if thickness < 1:
        raise TilewiseError(f"thickness must be a positive int, got {thickness}")
    return int(thickness)


def _check_font_scale(font_scale: object) -> float:
    if isinstance(font_scale, bool) or not isinstance(font_scale, (int, float, np.number)):
        raise TilewiseError(f"font_scale must be a positive number, got {font_scale!r}")
    if not (math.isfinite(float(font_scale)) and float(font_scale) > 0):
        raise TilewiseError(f"font_scale must be a positive number, got {font_scale}")
    return float(font_scale)


def pixel_box(xyxy: np.ndarray) -> np.ndarray:
    """Integer pixel extents ``[x1, y1, x2, y2)`` (half-open) that cover float boxes.

    Example:
        >>> import numpy as np
        >>> pixel_box(np.array([[1.2, 0.0, 4.5, 3.0]])).tolist()
        [[1, 0, 5, 3]]
    """
    xyxy = np.asarray(xyxy, dtype=np.float64)
    out = np.empty(xyxy.shape, dtype=np.int64)
    out[..., :2] = np.floor(xyxy[..., :2])
    out[..., 2:] = np.ceil(xyxy[..., 2:])
    return out


def fill_rect(canvas: np.ndarray, x1: int, y1: int, x2: int, y2: int, color: Color) -> None:
    """Fill the half-open pixel rectangle ``[x1, x2) x [y1, y2)``, clipped to the canvas.

    Example:
        >>> import numpy as np
        >>> canvas = np.zeros((3, 4, 3), dtype=np.uint8)
        >>> fill_rect(canvas, -1, 1, 2, 9, (9, 9, 9))
        >>> canvas[:, :, 0].tolist()
        [[0, 0, 0, 0], [9, 9, 0, 0], [9, 9, 0, 0]]
    """
    h, w = canvas.shape[:2]
    x1, x2 = max(x1, 0), min(x2, w)
    y1, y2 = max(y1, 0), min(y2, h)
    if x1 < x2 and y1 < y2:
        canvas[y1:y2, x1:x2] = color


def draw_outline(
    canvas: np.ndarray, x1: int, y1: int, x2: int, y2: int, color: Color, thickness: int
) -> None:
    """Draw the outline of pixel rectangle ``[x1, x2) x [y1, y2)`` with an inward stroke.

    The stroke lies inside the rectangle, so the outermost pixels of the box carry the
    colour exactly; a box thinner than two strokes is filled.

    Example:
        >>> import numpy as np
        >>> canvas = np.zeros((5, 5, 3), dtype=np.uint8)
        >>> draw_outline(canvas, 0, 0, 4, 4, (1, 1, 1), 1)
        >>> canvas[:, :, 0].tolist()
        [[1, 1, 1, 1, 0], [1, 0, 0, 1, 0], [1, 0, 0, 1, 0], [1, 1, 1, 1, 0], [0, 0, 0, 0, 0]]
    """
    if x2 <= x1 or y2 <= y1:
        return
    t = thickness
    fill_rect(canvas, x1, y1, x2, min(y1 + t, y2), color)  # top
    fill_rect(canvas, x1, max(y2 - t, y1), x2, y2, color)  # bottom
    fill_rect(canvas, x1, y1, min(x1 + t, x2), y2, color)  # left
    fill_rect(canvas, max(x2 - t, x1), y1, x2, y2, color)  # right


def label_box(
    anchor_xy: tuple[int, int], label_wh: tuple[int, int], image_wh: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Where a label of size ``label_wh`` goes for a box whose top-left is ``anchor_xy``.

    Above the box when it fits, otherwise just inside the box's top edge; shifted left or
    down as needed so it stays within the image (when the image is big enough).

    Returns:
        The label's half-open pixel rectangle ``(x1, y1, x2, y2)``.

    Example:
        >>> label_box((50, 40), (30, 12), (200, 100))  # room above the box
        (50, 28, 80, 40)
        >>> label_box((50, 5), (30, 12), (200, 100))  # box at the top edge: inside it
        (50, 5, 80, 17)
        >>> label_box((190, -8), (30, 12), (200, 100))  # corner cases are clamped
        (170, 0, 200, 12)
    """
    ax, ay = anchor_xy
    lw, lh = label_wh
    iw, ih = image_wh
    x = min(max(ax, 0), max(iw - lw, 0))
    y = ay - lh if ay - lh >= 0 else max(ay, 0)
    y = min(y, max(ih - lh, 0))
    return (x, y, x + lw, y + lh)


def draw_label(
    canvas: np.ndarray,
    text: str,
    anchor_xy: tuple[int, int],
    color: Color,
    font_scale: float,
) -> tuple[int, int, int, int]:
    """Draw ``text`` on a filled ``color`` background placed by ``label_box``.

    Non-ASCII characters are drawn as ``?`` (OpenCV's Hershey fonts are ASCII only).

    Returns:
        The label's pixel rectangle, as from ``label_box``.

    Example:
        >>> import numpy as np
        >>> canvas = np.zeros((60, 100, 3), dtype=np.uint8)
        >>> x1, y1, x2, y2 = draw_label(canvas, "car 0.87", (10, 0), (255, 0, 0), 0.4)
        >>> (x1, y1), canvas[y1, x1].tolist()
        ((10, 0), [255, 0, 0])
    """
    import cv2

    text = text.encode("ascii", "replace").decode("ascii")
    text_thickness = max(1, int(font_scale * 1.5))
    (tw, th), baseline = cv2.getTextSize(text, _FONT, font_scale, text_thickness)
    pad = max(2, round(th * 0.3))
    iw, ih = canvas.shape[1], canvas.shape[0]
    box = label_box(anchor_xy, (tw + 2 * pad, th + baseline + 2 * pad), (iw, ih))
    fill_rect(canvas, *box, color)
    origin = (box[0] + pad, box[1] + pad + th)
    cv2.putText(
        canvas,
        text,
        origin,
        _FONT,
        font_scale,
        text_color_for(color),
        text_thickness,
        cv2.LINE_AA,
    )
    return box
