"""Deterministic colours for classes and slices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeAlias

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["DEFAULT_COLORS", "Color", "Palette", "text_color_for"]

Color: TypeAlias = tuple[int, int, int]
"""An RGB colour, three ints in 0..255."""

DEFAULT_COLORS: tuple[Color, ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (220, 190, 255),
    (170, 110, 40),
    (255, 250, 200),
    (128, 0, 0),
    (170, 255, 195),
    (128, 128, 0),
    (255, 215, 180),
    (0, 0, 128),
    (128, 128, 128),
)
"""Twenty well-separated RGB colours; class ``k`` gets ``DEFAULT_COLORS[k % 20]``."""


def _as_color(value: object, name: str = "color") -> Color:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TilewiseError(f"{name} must be an (r, g, b) triple of ints 0..255, got {value!r}")
    if len(value) != 3:
        raise TilewiseError(f"{name} must be an (r, g, b) triple of ints 0..255, got {value!r}")
    out = []
    for channel in value:
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)):
            raise TilewiseError(f"{name} must hold ints 0..255, got {value!r}")
        if not 0 <= int(channel) <= 255:
            raise TilewiseError(f"{name} must hold ints 0..255, got {value!r}")
        out.append(int(channel))
    return (out[0], out[1], out[2])


class Palette:
    """A fixed, cycling list of RGB colours indexed by class id (or any int).

    Args:
        colors: RGB triples; by default ``DEFAULT_COLORS``.

    Example:
        >>> palette = Palette([(255, 0, 0), (0, 0, 255)])
        >>> palette[0], palette[1], palette[2], palette[-1]
        ((255, 0, 0), (0, 0, 255), (255, 0, 0), (0, 0, 255))
        >>> Palette()[3]
        (0, 130, 200)
    """

    __slots__ = ("colors",)

    def __init__(self, colors: Iterable[Color] | None = None) -> None:
        raw = DEFAULT_COLORS if colors is None else tuple(colors)
        if not raw:
            raise TilewiseError("a palette needs at least one colour")
        self.colors: tuple[Color, ...] = tuple(
            _as_color(c, f"palette colour {i}") for i, c in enumerate(raw)
        )

    def __len__(self) -> int:
        return len(self.colors)

    def __getitem__(self, index: int) -> Color:
        """Colour for ``index``, cycling; negative ids wrap like Python's modulo."""
        return self.colors[int(index) % len(self.colors)]

    def __repr__(self) -> str:
        return f"Palette({len(self)} colours)"

    @classmethod
    def coerce(cls, value: Palette | Iterable[Color] | None) -> Palette:
        """Return ``value`` as a Palette: None gives the default, a list of colours is wrapped.

        Example:
            >>> Palette.coerce(None)[0]
            (230, 25, 75)
            >>> len(Palette.coerce([(1, 2, 3)]))
            1
        """
        if isinstance(value, Palette):
            return value
        if value is not None and not isinstance(value, Iterable):
            raise TilewiseError(
                f"palette must be a Palette or a list of RGB colours, got {type(value).__name__}"
            )
        return cls(value)


def text_color_for(background: Color) -> Color:
    """Black or white, whichever reads better on ``background`` (by luma).

    Example:
        >>> text_color_for((255, 225, 25)), text_color_for((0, 0, 128))
        ((0, 0, 0), (255, 255, 255))
    """
    r, g, b = background
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    return (0, 0, 0) if luma >= 140 else (255, 255, 255)
