"""How image files are read: orientation, truncation, scaling, alpha and the pixel limit.

One ``ReadOptions`` value carries the whole policy, so every path that reads image files
(prediction, the ``Slicer`` on paths, dataset tiling, evaluation, ``tilewise check``) reads
them the same way. The defaults are what an image viewer shows:

* EXIF orientation is followed (``ExifPolicy.FOLLOW``);
* a truncated file is an error (``allow_truncated=False``);
* 16-bit data uses its full range, float data [0, 1] (or its own min..max when its values
  leave [0, 1]); see ``Scaling``;
* transparent pixels are composited on black;
* at most ``DEFAULT_MAX_PIXELS`` decoded pixels per image (``TILEWISE_MAX_PIXELS``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from tilewise.choices import Choice
from tilewise.errors import TilewiseError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "ExifPolicy",
    "ReadOptions",
    "Scaling",
    "max_pixels_from_env",
    "parse_background",
    "parse_max_pixels",
]

DEFAULT_MAX_PIXELS = 500_000_000
"""Default decoded-pixel limit per image (500 MP, about 1.5 GB as RGB)."""

MAX_PIXELS_ENV = "TILEWISE_MAX_PIXELS"
"""Environment variable that changes the default decoded-pixel limit."""


class ExifPolicy(Choice):
    """What to do with an EXIF orientation tag."""

    FOLLOW = "follow"  # rotate/flip to the frame viewers show (default)
    IGNORE = "ignore"  # keep the pixels as stored in the file

    @classmethod
    def option_name(cls) -> str:
        """Name used in error messages."""
        return "exif"


def parse_max_pixels(value: int | float | str, *, name: str = "max_pixels") -> int:
    """A pixel limit from an int or a string like ``"500000000"``, ``"5e8"`` or ``"500MP"``.

    Example:
        >>> parse_max_pixels("5e8"), parse_max_pixels("120MP"), parse_max_pixels(64)
        (500000000, 120000000, 64)
    """
    text = str(value).strip().lower().replace("_", "")
    scale = 1
    if text.endswith("mp"):
        text, scale = text[:-2], 1_000_000
    try:
        number = float(text) * scale
    except ValueError:
        raise TilewiseError(
            f"{name} must be a number of pixels like 500000000, 5e8 or 500MP, got {value!r}"
        ) from None
    if not math.isfinite(number) or number < 1:
        raise TilewiseError(f"{name} must be at least 1 pixel, got {value!r}")
    return int(number)


def max_pixels_from_env() -> int:
    """The default pixel limit: ``TILEWISE_MAX_PIXELS`` when set, else 500 MP.

    Example:
        >>> import os
        >>> max_pixels_from_env() == parse_max_pixels(os.environ.get("TILEWISE_MAX_PIXELS", 5e8))
        True
    """
    text = os.environ.get(MAX_PIXELS_ENV)
    if text is None or not text.strip():
        return DEFAULT_MAX_PIXELS
    return parse_max_pixels(text, name=MAX_PIXELS_ENV)


def parse_background(value: str | tuple[int, int, int] | list[int]) -> tuple[int, int, int]:
    """An RGB colour from ``"#rrggbb"``, ``"r,g,b"`` or a 3-tuple of 0..255 ints.

    Example:
        >>> parse_background("#ff8000"), parse_background("255,255,255")
        ((255, 128, 0), (255, 255, 255))
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.startswith("#") and len(text) == 7:
                parts = [int(text[i : i + 2], 16) for i in (1, 3, 5)]
            else:
                parts = [int(v) for v in text.split(",")]
        except ValueError:
            parts = []
    else:
        parts = [int(v) for v in value]
    if len(parts) != 3 or not all(0 <= v <= 255 for v in parts):
        raise TilewiseError(
            f"background must be an RGB colour like #ffffff or 255,255,255, got {value!r}"
        )
    return (parts[0], parts[1], parts[2])


def _pair(text: str, what: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise TilewiseError(f"{what}, got {text!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        raise TilewiseError(f"{what} (with low < high), got {text!r}")
    return lo, hi


@dataclass(frozen=True)
class Scaling:
    """How samples wider than 8 bits (16-bit, 32-bit, float) become uint8.

    Exactly one rule applies; 8-bit images are never rescaled.

    * default (``Scaling()``): unsigned integers use their full range, 0..2^bits-1 (a
      16-bit value v becomes round(v / 257)); float and signed data use [0, 1] when all
      their finite values lie in it, else their own min..max;
    * ``percentiles=(1, 99)``: a percentile stretch, the 1st..99th percentile of the
      finite values (all bands together) maps to 0..255;
    * ``value_range=(lo, hi)``: the given range maps to 0..255.

    Values outside the range are clipped; NaN becomes 0. The range actually used is
    recorded with every image read (``ImageRecord.scaling``).

    Example:
        >>> Scaling.parse("p1,p99"), Scaling.parse("full") == Scaling()
        (Scaling(percentiles=(1.0, 99.0), value_range=None), True)
    """

    percentiles: tuple[float, float] | None = None
    value_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.percentiles is not None and self.value_range is not None:
            raise TilewiseError("give either percentiles or value_range, not both")
        if self.percentiles is not None:
            lo, hi = (float(v) for v in self.percentiles)
            if not 0.0 <= lo < hi <= 100.0:
                raise TilewiseError(
                    f"percentiles must satisfy 0 <= low < high <= 100, got {self.percentiles}"
                )
            object.__setattr__(self, "percentiles", (lo, hi))
        if self.value_range is not None:
            lo, hi = (float(v) for v in self.value_range)
            if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
                raise TilewiseError(f"value_range must be finite with low < high, got {lo, hi}")
            object.__setattr__(self, "value_range", (lo, hi))

    @property
    def rule(self) -> str:
        """``"full"``, ``"percentile"`` or ``"range"``."""
        if self.percentiles is not None:
            return "percentile"
        if self.value_range is not None:
            return "range"
        return "full"

    @classmethod
    def parse(cls, scale: str | None = None, value_range: str | None = None) -> Scaling:
        """From the CLI's ``--scale`` (``full`` or ``pLO,pHI``) and ``--range lo,hi``.

        Example:
            >>> Scaling.parse(value_range="0,4095").value_range
            (0.0, 4095.0)
        """
        text = (scale or "").strip().lower()
        if value_range:
            if text and text != "full":
                raise TilewiseError("give --scale or --range, not both")
            return cls(value_range=_pair(value_range, "--range must be two numbers lo,hi"))
        if not text or text == "full":
            return cls()
        what = "--scale must be 'full' or percentiles like p1,p99"
        parts = text.split(",")
        if len(parts) != 2 or not all(p.strip().startswith("p") for p in parts):
            raise TilewiseError(f"{what}, got {scale!r}")
        return cls(percentiles=_pair(",".join(p.strip()[1:] for p in parts), what))


@dataclass(frozen=True)
class ReadOptions:
    """The reading policy for image files (see the module docstring for the defaults).

    Attributes:
        exif: follow the EXIF orientation (default) or ignore it.
        allow_truncated: read truncated files anyway (the missing rows are black), with a
            warning and ``truncated: true`` in the record, instead of raising.
        scaling: how 16-bit and float samples become uint8.
        background: RGB colour that transparent pixels are composited on.
        max_pixels: decoded-pixel limit, checked from the header before decoding; ``None``
            means ``TILEWISE_MAX_PIXELS`` or 500 MP.

    Example:
        >>> ReadOptions(exif="ignore").exif, ReadOptions(max_pixels=10).pixel_limit
        (<ExifPolicy.IGNORE: 'ignore'>, 10)
    """

    exif: ExifPolicy = ExifPolicy.FOLLOW
    allow_truncated: bool = False
    scaling: Scaling = field(default_factory=Scaling)
    background: tuple[int, int, int] = (0, 0, 0)
    max_pixels: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "exif", ExifPolicy.parse(self.exif))
        object.__setattr__(self, "allow_truncated", bool(self.allow_truncated))
        if not isinstance(self.scaling, Scaling):
            raise TilewiseError(f"scaling must be a Scaling, got {type(self.scaling).__name__}")
        object.__setattr__(self, "background", parse_background(self.background))
        if self.max_pixels is not None:
            object.__setattr__(self, "max_pixels", parse_max_pixels(self.max_pixels))

    @property
    def pixel_limit(self) -> int:
        """The limit in force: ``max_pixels``, else ``TILEWISE_MAX_PIXELS``, else 500 MP."""
        return self.max_pixels if self.max_pixels is not None else max_pixels_from_env()

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary of the policy.

        Example:
            >>> ReadOptions().to_dict()["exif"]
            'follow'
        """
        return {
            "exif": self.exif.value,
            "allow_truncated": self.allow_truncated,
            "scaling": self.scaling.rule,
            "percentiles": list(self.scaling.percentiles) if self.scaling.percentiles else None,
            "value_range": list(self.scaling.value_range) if self.scaling.value_range else None,
            "background": list(self.background),
            "max_pixels": self.pixel_limit,
        }
