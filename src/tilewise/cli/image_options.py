"""The image-reading options shared by every command that reads image files.

``predict``, ``check``, ``dataset tile``, ``dataset health``, ``compare`` and ``sweep``
declare these with the same names and help, and build one
``tilewise.images.ReadOptions`` with ``read_options``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from tilewise.cli.console import warn

if TYPE_CHECKING:
    from tilewise.images import ReadOptions

__all__ = [
    "AllowTruncatedOption",
    "BackgroundOption",
    "ExifOption",
    "MaxPixelsOption",
    "RangeOption",
    "ScaleOption",
    "read_options",
    "warnings_to_console",
]

ExifOption = Annotated[
    str,
    typer.Option(
        "--exif",
        help="EXIF orientation: follow (read images as viewers show them) or ignore.",
    ),
]
AllowTruncatedOption = Annotated[
    bool,
    typer.Option(
        "--allow-truncated",
        help="Read truncated image files anyway (missing rows black), with a warning and "
        '"truncated": true in the output, instead of stopping with an error.',
    ),
]
ScaleOption = Annotated[
    str,
    typer.Option(
        "--scale",
        help="16-bit/float to 8-bit: full (16-bit full range; float [0,1] or its min..max) "
        "or a percentile stretch like p1,p99.",
    ),
]
RangeOption = Annotated[
    str | None,
    typer.Option("--range", help="16-bit/float value range lo,hi mapped to 0..255."),
]
BackgroundOption = Annotated[
    str,
    typer.Option(
        "--background", help="Colour that transparent pixels are composited on: #rrggbb or r,g,b."
    ),
]
MaxPixelsOption = Annotated[
    str | None,
    typer.Option(
        "--max-pixels",
        help="Decoded-pixel limit per image, checked from the header (default: "
        "TILEWISE_MAX_PIXELS or 500MP), e.g. 800MP or 8e8.",
    ),
]


def read_options(
    exif: str = "follow",
    allow_truncated: bool = False,
    scale: str = "full",
    value_range: str | None = None,
    background: str = "0,0,0",
    max_pixels: str | None = None,
) -> ReadOptions:
    """Build the reading policy from the shared options' values.

    Example:
        >>> opts = read_options(exif="ignore", scale="p2,p98", max_pixels="100MP")
        >>> opts.exif.value, opts.scaling.percentiles, opts.max_pixels
        ('ignore', (2.0, 98.0), 100000000)
    """
    from tilewise.images import ReadOptions, Scaling
    from tilewise.images.options import parse_max_pixels

    return ReadOptions(
        exif=exif,
        allow_truncated=allow_truncated,
        scaling=Scaling.parse(scale, value_range),
        background=background,
        max_pixels=None
        if max_pixels is None
        else parse_max_pixels(max_pixels, name="--max-pixels"),
    )


@contextmanager
def warnings_to_console() -> Iterator[None]:
    """Print tilewise warnings raised inside the block as ``warning: ...`` lines."""
    from tilewise.errors import TilewiseWarning

    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TilewiseWarning)
            yield
    finally:  # after the recording ends: a warning passed on is not recorded again
        for item in caught:
            if issubclass(item.category, TilewiseWarning):
                warn(str(item.message))
            else:
                warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
