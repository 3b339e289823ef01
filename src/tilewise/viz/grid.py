"""Overlay of a ``SliceGrid`` on an image: slice outlines and tinted overlaps."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tilewise.detections import Detections
from tilewise.errors import TilewiseError
from tilewise.slicing import SliceGrid
from tilewise.viz.annotate import Annotator, _canvas_from
from tilewise.viz.draw import _check_thickness, default_thickness, draw_outline
from tilewise.viz.palette import Color, Palette, _as_color

__all__ = ["SliceGridAnnotator", "draw_slice_grid"]


def _coverage(starts_ends: np.ndarray, length: int) -> np.ndarray:
    """How many slices cover each pixel along one axis."""
    count = np.zeros(length + 1, dtype=np.int64)
    for start, end in np.unique(starts_ends, axis=0).tolist():
        count[start] += 1
        count[end] -= 1
    return np.cumsum(count)[:length]


class SliceGridAnnotator(Annotator):
    """Draws the slices of a ``SliceGrid``; ignores detections, so it chains with others.

    Args:
        grid: the grid; its ``image_wh`` must match the images drawn on.
        color: one outline colour for all slices; by default each slice takes the next
            palette colour so neighbouring slices can be told apart.
        thickness: outline width in pixels; by default from the image size.
        tint_overlap: blend ``tint_color`` into pixels covered by more than one slice.
        tint_color: the overlap tint.
        alpha: the tint's opacity, in [0, 1].
        palette: colours by slice index when ``color`` is None.

    Example:
        >>> import numpy as np
        >>> from tilewise import SliceGrid
        >>> grid = SliceGrid((30, 20), slice_wh=20, overlap=10)
        >>> out = SliceGridAnnotator(grid, color=(255, 255, 255), thickness=1).annotate(
        ...     np.zeros((20, 30, 3), dtype=np.uint8))
        >>> out[0, :, 0].tolist() == [255] * 30, int(out[5, 15, 0])
        (True, 0)
    """

    def __init__(
        self,
        grid: SliceGrid,
        *,
        color: Color | None = None,
        thickness: int | None = None,
        tint_overlap: bool = False,
        tint_color: Color = (255, 255, 255),
        alpha: float = 0.3,
        palette: Palette | Iterable[Color] | None = None,
    ) -> None:
        if not isinstance(grid, SliceGrid):
            raise TilewiseError(f"grid must be a SliceGrid, got {type(grid).__name__}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise TilewiseError(f"alpha must be a number in [0, 1], got {alpha!r}")
        self.grid = grid
        self.color = None if color is None else _as_color(color)
        self.thickness = None if thickness is None else _check_thickness(thickness)
        self.tint_overlap = bool(tint_overlap)
        self.tint_color = _as_color(tint_color, "tint_color")
        self.alpha = float(alpha)
        self.palette = Palette.coerce(palette)

    def draw(self, canvas: np.ndarray, det: Detections | None = None) -> None:
        """Draw the grid in place on ``canvas`` (``det`` is ignored)."""
        h, w = canvas.shape[:2]
        if self.grid.image_wh != (w, h):
            raise TilewiseError(
                f"the slice grid is for a {self.grid.image_wh[0]}x{self.grid.image_wh[1]} image, "
                f"but the image is {w}x{h}"
            )
        boxes = self.grid.boxes
        if self.tint_overlap and self.alpha > 0:
            in_overlap = (_coverage(boxes[:, [0, 2]], w) >= 2)[None, :] | (
                _coverage(boxes[:, [1, 3]], h) >= 2
            )[:, None]
            tint = np.array(self.tint_color, dtype=np.float32)
            pixels = canvas[in_overlap].astype(np.float32)
            blended = pixels * (1.0 - self.alpha) + tint * self.alpha
            canvas[in_overlap] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        t = self.thickness or default_thickness((w, h))
        for k, box in enumerate(boxes.tolist()):
            draw_outline(canvas, *box, self.color or self.palette[k], t)


def draw_slice_grid(
    image: np.ndarray,
    grid: SliceGrid,
    *,
    color: Color | None = None,
    thickness: int | None = None,
    tint_overlap: bool = False,
    tint_color: Color = (255, 255, 255),
    alpha: float = 0.3,
) -> np.ndarray:
    """Draw the slices of ``grid`` on a copy of ``image``; see ``SliceGridAnnotator``.

    Compose with ``draw_detections`` by passing one's output to the other.

    Example:
        >>> import numpy as np
        >>> from tilewise import SliceGrid
        >>> image = np.zeros((600, 1000, 3), dtype=np.uint8)
        >>> out = draw_slice_grid(image, SliceGrid((1000, 600), 512, 0.25), tint_overlap=True)
        >>> out[50, 450].tolist(), out[50, 100].tolist()  # overlap tinted, the rest not
        ([76, 76, 76], [0, 0, 0])
    """
    annotator = SliceGridAnnotator(
        grid,
        color=color,
        thickness=thickness,
        tint_overlap=tint_overlap,
        tint_color=tint_color,
        alpha=alpha,
    )
    canvas = _canvas_from(image)
    annotator.draw(canvas)
    return canvas
