"""A random augmentation pipeline for small objects, with drop counts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tilewise.datasets.augment.sample import BoxRules, DropCounts, Sample
from tilewise.datasets.augment.transforms import bbox_safe_crop, flip, rotate, rotate90, scale

__all__ = ["SmallObjectAugment"]


@dataclass
class SmallObjectAugment:
    """Random flips, 90-degree turns, free rotation, scale jitter and a bbox-safe crop.

    Every call updates ``counts`` (objects kept and dropped per reason and class).

    Args:
        crop_size: output (w, h) of the final bbox-safe crop; None skips cropping.
        p_flip: probability of each of the left-right and top-bottom flips.
        p_rot90: probability of a random multiple of 90 degrees.
        max_angle: free rotation drawn in [-max_angle, max_angle] degrees (0 disables).
        scale_range: scale jitter range (``(1, 1)`` disables).
        rules: visibility and size rules.
        seed: seed of the random generator.

    Example:
        >>> aug = SmallObjectAugment(crop_size=(32, 32), seed=0)
        >>> s = Sample(np.zeros((64, 64, 3), np.uint8), np.array([[20, 20, 28, 26]]),
        ...            np.array([0]))
        >>> out = aug(s)
        >>> out.wh, aug.counts.kept + aug.counts.total_dropped >= 1
        ((32, 32), True)
    """

    crop_size: tuple[int, int] | None = None
    p_flip: float = 0.5
    p_rot90: float = 0.5
    max_angle: float = 0.0
    scale_range: tuple[float, float] = (0.8, 1.25)
    rules: BoxRules = field(default_factory=BoxRules)
    seed: int = 0
    counts: DropCounts = field(default_factory=DropCounts)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, sample: Sample) -> Sample:
        """Augment one sample."""
        rng, rules, counts = self.rng, self.rules, self.counts
        step = DropCounts()
        out = sample
        if rng.random() < self.p_flip:
            out = flip(out, horizontal=True, rules=rules, counts=step)
        if rng.random() < self.p_flip:
            out = flip(out, horizontal=False, rules=rules, counts=step)
        if rng.random() < self.p_rot90:
            out = rotate90(out, int(rng.integers(1, 4)), rules=rules, counts=step)
        if self.max_angle:
            angle = float(rng.uniform(-self.max_angle, self.max_angle))
            out = rotate(out, angle, rules=rules, counts=step)
        lo, hi = self.scale_range
        if (lo, hi) != (1.0, 1.0):
            out = scale(out, float(rng.uniform(lo, hi)), rules=rules, counts=step)
        if self.crop_size is not None:
            out = bbox_safe_crop(out, self.crop_size, rng, rules=rules, counts=step)
        # every step counted its drops; an object is "kept" once, if it survives them all
        step.kept = len(out)
        counts.merge(step)
        return out
