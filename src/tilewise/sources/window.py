"""A window: the rectangle of an image that a source reads."""

from __future__ import annotations

from typing import Any, NamedTuple

from tilewise.errors import TilewiseError

__all__ = ["Window"]


class Window(NamedTuple):
    """A pixel rectangle: top-left ``(x, y)`` and size ``(w, h)``, in image pixels.

    Example:
        >>> win = Window.from_xyxy([16, 8, 48, 40])
        >>> win, win.xyxy, win.slices
        (Window(x=16, y=8, w=32, h=32), (16, 8, 48, 40), (slice(8, 40, None), slice(16, 48, None)))
    """

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def from_xyxy(cls, box: Any) -> Window:
        """The window of an integer ``[x1, y1, x2, y2]`` box (a ``SliceGrid`` row)."""
        x1, y1, x2, y2 = (int(v) for v in box)
        return cls(x1, y1, x2 - x1, y2 - y1)

    @classmethod
    def full(cls, image_wh: tuple[int, int]) -> Window:
        """The window covering a whole ``(w, h)`` image."""
        return cls(0, 0, int(image_wh[0]), int(image_wh[1]))

    @property
    def xyxy(self) -> tuple[int, int, int, int]:
        """``(x1, y1, x2, y2)``."""
        return (self.x, self.y, self.x + self.w, self.y + self.h)

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` numpy slices of the window in an image-sized array."""
        return (slice(self.y, self.y + self.h), slice(self.x, self.x + self.w))

    def check_inside(self, image_wh: tuple[int, int], name: str = "image") -> Window:
        """Return the window, or raise ``TilewiseError`` unless it is non-empty and inside.

        Example:
            >>> Window(0, 0, 4, 4).check_inside((3, 8), "a.tif")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            tilewise.errors.TilewiseError: window ... is not inside a.tif (3x8 pixels)
        """
        w, h = image_wh
        if (
            self.w <= 0
            or self.h <= 0
            or self.x < 0
            or self.y < 0
            or self.x + self.w > w
            or (self.y + self.h > h)
        ):
            raise TilewiseError(f"window {self!r} is not inside {name} ({w}x{h} pixels)")
        return self
