"""Object-size buckets (COCO area ranges, AI-TOD tiny buckets, custom ranges).

A bucket is a closed interval of object *side length* in pixels, ``[min_side, max_side]``,
applied to ``sqrt(area)``: an object belongs to the bucket when
``min_side**2 <= area <= max_side**2``. This is exactly COCO's rule (``areaRng``, both
ends inclusive, on the annotation's ``area`` field), so an object whose area lies on a
boundary, e.g. exactly ``32**2``, counts in both neighbouring buckets, as in COCO.

Presets:

* ``COCO_AREA_RANGES``: ``small`` 0-32 px, ``medium`` 32-96 px, ``large`` 96 px and up.
* ``TINY_AREA_RANGES``: the AI-TOD tiny buckets, named by their size so they never clash
  with COCO's names: ``2-8px`` ("very tiny" in AI-TOD), ``8-16px`` ("tiny") and
  ``16-32px`` ("small" in AI-TOD). Objects under 2 px fall into no tiny bucket (but still
  count in ``all`` and ``small``).

An unbounded upper end (``inf``) is passed to the COCO evaluator as ``1e5**2``, the value
COCO itself uses, so results stay identical to pycocotools.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tilewise.errors import TilewiseError

__all__ = [
    "ALL_RANGE",
    "COCO_AREA_RANGES",
    "COCO_MAX_AREA",
    "TINY_AREA_RANGES",
    "AreaRange",
    "build_area_ranges",
]

COCO_MAX_AREA = 1e5**2
"""The upper area bound COCO uses for "unbounded" (``1e5 ** 2``)."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class AreaRange:
    """A named closed range of object side lengths ``[min_side, max_side]`` in pixels.

    Args:
        name: label used in metric names (``AP_<name>``); letters, digits, ``_.+-``.
        min_side: lower side length in pixels (``sqrt(area)``), >= 0.
        max_side: upper side length in pixels, ``math.inf`` for unbounded.

    Example:
        >>> r = AreaRange("small", 0, 32)
        >>> r.area_bounds
        (0.0, 1024.0)
        >>> r.contains([100.0, 1024.0, 1025.0]).tolist()
        [True, True, False]
    """

    name: str
    min_side: float
    max_side: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise TilewiseError(
                f"area range name must be letters, digits or '_.+-' (not starting with a "
                f"symbol), got {self.name!r}"
            )
        lo, hi = float(self.min_side), float(self.max_side)
        if math.isnan(lo) or math.isnan(hi) or lo < 0 or math.isinf(lo) or hi <= lo:
            raise TilewiseError(
                f"area range {self.name!r} needs 0 <= min_side < max_side, got {lo}..{hi}"
            )
        object.__setattr__(self, "min_side", lo)
        object.__setattr__(self, "max_side", hi)

    @property
    def area_bounds(self) -> tuple[float, float]:
        """``(min_area, max_area)`` in square pixels as the COCO evaluator takes them."""
        hi = COCO_MAX_AREA if math.isinf(self.max_side) else self.max_side**2
        return (self.min_side**2, hi)

    def contains(self, areas: Sequence[float] | np.ndarray) -> np.ndarray:
        """Boolean mask of the ``areas`` (square pixels) inside this range, ends included."""
        a = np.asarray(areas, dtype=np.float64)
        lo, hi = self.area_bounds
        return (a >= lo) & (a <= hi)

    def describe(self) -> str:
        """Human-readable side-length range, e.g. ``'8-16 px'`` or ``'96+ px'``.

        Example:
            >>> AreaRange("large", 96, float("inf")).describe()
            '96+ px'
        """
        lo = f"{self.min_side:g}"
        if math.isinf(self.max_side):
            return f"{lo}+ px"
        return f"{lo}-{self.max_side:g} px"

    @classmethod
    def parse(cls, spec: str) -> AreaRange:
        """Parse ``"name:min_side:max_side"`` (pixels; ``max_side`` may be ``inf``).

        Example:
            >>> AreaRange.parse("huge:256:inf")
            AreaRange(name='huge', min_side=256.0, max_side=inf)
        """
        parts = str(spec).split(":")
        if len(parts) != 3:
            raise TilewiseError(
                f"area range must look like 'name:min_px:max_px' (side lengths in pixels, "
                f"max may be 'inf'), got {spec!r}"
            )
        name, lo, hi = (p.strip() for p in parts)
        try:
            return cls(name, float(lo), float(hi))
        except ValueError as exc:
            if isinstance(exc, TilewiseError):
                raise
            raise TilewiseError(f"area range {spec!r}: bounds must be numbers") from None


ALL_RANGE = AreaRange("all", 0.0, math.inf)
"""Every object; always the first range of an evaluation."""

COCO_AREA_RANGES: tuple[AreaRange, ...] = (
    AreaRange("small", 0.0, 32.0),
    AreaRange("medium", 32.0, 96.0),
    AreaRange("large", 96.0, math.inf),
)

TINY_AREA_RANGES: tuple[AreaRange, ...] = (
    AreaRange("2-8px", 2.0, 8.0),
    AreaRange("8-16px", 8.0, 16.0),
    AreaRange("16-32px", 16.0, 32.0),
)


def build_area_ranges(
    *,
    coco: bool = True,
    tiny: bool = False,
    custom: Iterable[AreaRange | str] = (),
) -> tuple[AreaRange, ...]:
    """Assemble the size buckets of an evaluation, ``all`` excluded (it is always added).

    Args:
        coco: include COCO's small/medium/large.
        tiny: include the AI-TOD tiny buckets (2-8, 8-16, 16-32 px).
        custom: more ranges, as ``AreaRange`` or ``"name:min_px:max_px"`` strings.

    Returns:
        The ranges in order: COCO, tiny, custom.

    Raises:
        TilewiseError: a name is used twice or is ``all``.

    Example:
        >>> [r.name for r in build_area_ranges(tiny=True, custom=["xl:512:inf"])]
        ['small', 'medium', 'large', '2-8px', '8-16px', '16-32px', 'xl']
    """
    ranges: list[AreaRange] = []
    if coco:
        ranges.extend(COCO_AREA_RANGES)
    if tiny:
        ranges.extend(TINY_AREA_RANGES)
    for item in custom:
        ranges.append(item if isinstance(item, AreaRange) else AreaRange.parse(item))
    seen: set[str] = set()
    for r in ranges:
        if r.name == ALL_RANGE.name:
            raise TilewiseError("'all' is reserved: every evaluation includes it already")
        if r.name in seen:
            raise TilewiseError(f"area range name {r.name!r} is used twice")
        seen.add(r.name)
    return tuple(ranges)
