"""Four-image mosaic at native resolution (no resizing, so small objects stay small)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from tilewise.datasets.augment.geometry import PAD_VALUE
from tilewise.datasets.augment.sample import BoxRules, DropCounts, Sample
from tilewise.datasets.augment.transforms import bbox_safe_crop
from tilewise.errors import TilewiseError, TilewiseWarning

__all__ = ["mosaic4"]


def mosaic4(
    samples: Sequence[Sample],
    size: int | tuple[int, int],
    rng: np.random.Generator,
    *,
    rules: BoxRules | None = None,
    counts: DropCounts | None = None,
) -> Sample:
    """Combine four samples around a random centre into one ``size`` image.

    The centre is drawn in the middle half of the output; each quadrant is filled with an
    object-preserving crop (``bbox_safe_crop``) of one sample at its native scale. Objects
    cut by a quadrant's border follow ``rules`` and are counted when dropped.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> s = Sample(np.zeros((64, 64, 3), np.uint8), np.array([[30, 30, 34, 34]]),
        ...            np.array([0]))
        >>> out = mosaic4([s, s, s, s], 64, rng)
        >>> out.wh, len(out)
        ((64, 64), 4)
    """
    if len(samples) != 4:
        raise TilewiseError(f"mosaic4 needs 4 samples, got {len(samples)}")
    ow, oh = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    rules = rules or BoxRules()
    own = counts is None
    counts = DropCounts() if counts is None else counts
    xc = int(rng.integers(ow // 4, max(ow // 4 + 1, 3 * ow // 4)))
    yc = int(rng.integers(oh // 4, max(oh // 4 + 1, 3 * oh // 4)))
    channels = samples[0].image.shape[2:]
    canvas = np.full((oh, ow, *channels), PAD_VALUE, dtype=samples[0].image.dtype)
    quads = [(0, 0, xc, yc), (xc, 0, ow, yc), (0, yc, xc, oh), (xc, yc, ow, oh)]
    use_masks = any(s.masks is not None for s in samples)
    use_polys = not use_masks and any(s.polygons is not None for s in samples)
    boxes, classes, polys, masks = [], [], [], []
    for sample, (x1, y1, x2, y2) in zip(samples, quads, strict=True):
        if sample.image.shape[2:] != channels:
            raise TilewiseError("mosaic samples must have the same number of channels")
        if x2 <= x1 or y2 <= y1:
            counts.add(sample.class_id, np.zeros(len(sample), bool), np.ones(len(sample), bool))
            continue
        piece = bbox_safe_crop(sample, (x2 - x1, y2 - y1), rng, rules=rules, counts=counts)
        canvas[y1:y2, x1:x2] = piece.image
        boxes.append(piece.boxes + np.array([x1, y1, x1, y1], dtype=np.float64))
        classes.append(piece.class_id)
        if use_polys:
            rings = piece.polygons or [[] for _ in range(len(piece))]
            shift = np.array([x1, y1], dtype=np.float64)
            polys.extend([[r + shift for r in obj] for obj in rings])
        if use_masks:
            full = np.zeros((len(piece), oh, ow), dtype=bool)
            if piece.masks is not None:
                full[:, y1:y2, x1:x2] = piece.masks
            else:
                for k, (bx1, by1, bx2, by2) in enumerate(np.round(piece.boxes).astype(int)):
                    full[k, y1 + by1 : y1 + by2, x1 + bx1 : x1 + bx2] = True
            masks.append(full)
    if own and counts.total_dropped:
        warnings.warn(
            f"mosaic dropped {counts.total_dropped} object(s) {counts.dropped}; pass "
            "counts=DropCounts() to collect them",
            TilewiseWarning,
            stacklevel=2,
        )
    return Sample(
        canvas,
        np.concatenate(boxes) if boxes else np.zeros((0, 4)),
        np.concatenate(classes) if classes else np.zeros(0, np.int64),
        polys if use_polys else None,
        (np.concatenate(masks) if masks else np.zeros((0, oh, ow), bool)) if use_masks else None,
    )
