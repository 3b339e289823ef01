"""Settings of the synthetic small-object benchmark."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tilewise.errors import TilewiseError

__all__ = ["SynthConfig"]


def _pair(value: Any, name: str) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TilewiseError(f"{name} must be a (low, high) pair, got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if lo > hi:
        raise TilewiseError(f"{name} must have low <= high, got {value!r}")
    return lo, hi


@dataclass(frozen=True)
class SynthConfig:
    """How scenes are drawn.

    Args:
        scene_size: scene width and height in px (an int for square scenes).
        objects_per_mpx: annotated objects per megapixel, drawn per scene in this range.
        distractor_ratio: look-alike distractors per object.
        clutter_per_mpx: clutter patches and strokes per megapixel.
        size_median: median object size (long side, px) of the log-normal size law.
        size_sigma: its log-space spread.
        size_range: sizes are clipped to this range (px).
        cluster_fraction: fraction of objects placed in groups rather than uniformly.
        blur_max: the largest scene-wide Gaussian blur sigma (px).
        noise_max: the largest sensor-noise sigma (grey levels).
        jpeg_quality: quality of the written JPEG scenes.
        split_ratios: fractions of scenes in train, val and test.

    Example:
        >>> SynthConfig(scene_size=512).wh
        (512, 512)
    """

    scene_size: int | tuple[int, int] = 2048
    objects_per_mpx: tuple[float, float] = (60.0, 110.0)
    distractor_ratio: float = 0.5
    clutter_per_mpx: float = 40.0
    size_median: float = 15.0
    size_sigma: float = 0.5
    size_range: tuple[float, float] = (4.0, 64.0)
    cluster_fraction: float = 0.5
    blur_max: float = 1.2
    noise_max: float = 6.0
    jpeg_quality: int = 90
    split_ratios: tuple[float, float, float] = (0.7, 0.15, 0.15)

    def __post_init__(self) -> None:
        w, h = self.wh
        if w < 64 or h < 64:
            raise TilewiseError(f"scene_size must be at least 64 px, got {self.scene_size!r}")
        lo, _ = _pair(self.objects_per_mpx, "objects_per_mpx")
        if lo < 0:
            raise TilewiseError("objects_per_mpx must be >= 0")
        smin, smax = _pair(self.size_range, "size_range")
        if smin < 2 or smax > min(w, h) / 2:
            raise TilewiseError(
                f"size_range must lie in [2, {min(w, h) // 2}] px for this scene size, "
                f"got {self.size_range!r}"
            )
        for name in ("distractor_ratio", "clutter_per_mpx", "blur_max", "noise_max"):
            if float(getattr(self, name)) < 0:
                raise TilewiseError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= float(self.cluster_fraction) <= 1.0:
            raise TilewiseError(f"cluster_fraction must be in [0, 1], got {self.cluster_fraction}")
        if self.size_median <= 0 or self.size_sigma < 0:
            raise TilewiseError("size_median must be > 0 and size_sigma >= 0")
        if not 1 <= int(self.jpeg_quality) <= 100:
            raise TilewiseError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}")
        ratios = tuple(float(r) for r in self.split_ratios)
        if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1.0) > 1e-6:
            raise TilewiseError(
                f"split_ratios must be three fractions >= 0 summing to 1, got {self.split_ratios}"
            )

    @property
    def wh(self) -> tuple[int, int]:
        """Scene (width, height)."""
        s = self.scene_size
        if isinstance(s, (tuple, list)):
            return int(s[0]), int(s[1])
        return int(s), int(s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings.

        Example:
            >>> SynthConfig().to_dict()["size_range"]
            [4.0, 64.0]
        """
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
