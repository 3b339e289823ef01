"""The ``--slice`` option shared by the predict commands (image, raster, video, bulk)."""

from __future__ import annotations

from tilewise.errors import TilewiseError

__all__ = ["parse_slice"]


def parse_slice(text: str) -> int | None:
    """``"auto"`` -> None (the model's training tile size); ``"512"`` -> 512.

    Example:
        >>> parse_slice("auto"), parse_slice("512")
        (None, 512)
        >>> parse_slice("0")
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: --slice must be >= 1 px, got 0
    """
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise TilewiseError(f"--slice must be 'auto' or a size in pixels, got {text!r}") from None
    if value < 1:
        raise TilewiseError(f"--slice must be >= 1 px, got {value}")
    return value
