"""Masks to polygons and back, in continuous pixel coordinates (COCO's convention).

Pixel ``(x, y)`` covers ``[x, x + 1) x [y, y + 1)``. A mask's outline is traced along
pixel *corners*, so a ring encloses exactly the mask's pixels; rasterising a ring fills
the pixels whose centres lie inside it. Rings are outer boundaries only: holes are
filled, as in COCO polygon segmentations (which pycocotools unions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["crop_to_polygons", "polygons_to_crop", "ring_to_coco", "rings_from_coco"]

_SHIFT = 8
"""Fractional bits given to cv2.fillPoly."""


def _dedupe(pts: np.ndarray) -> np.ndarray:
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
    pts = pts[keep]
    if len(pts) > 1 and np.all(pts[0] == pts[-1]):
        pts = pts[:-1]
    return pts


def crop_to_polygons(crop: np.ndarray, origin: tuple[int, int] = (0, 0)) -> list[np.ndarray]:
    """Outer contours of a bool crop as rings of (k, 2) float64 pixel-corner coordinates.

    ``origin`` is the image position of the crop's top-left pixel; rings are in image
    coordinates. An empty crop gives no rings.

    Example:
        >>> import numpy as np
        >>> crop = np.zeros((3, 4), dtype=bool); crop[1:3, 1:4] = True
        >>> [r.tolist() for r in crop_to_polygons(crop, (10, 20))]
        [[[11.0, 21.0], [11.0, 23.0], [14.0, 23.0], [14.0, 21.0]]]
    """
    arr = np.asarray(crop, dtype=bool)
    if arr.ndim != 2:
        raise TilewiseError(f"crop must be 2-D, got shape {arr.shape}")
    if not arr.any():
        return []
    # Upsample by 2 so contours follow pixel corners rather than pixel centres.
    big = np.zeros((2 * arr.shape[0] + 2, 2 * arr.shape[1] + 2), dtype=np.uint8)
    big[1:-1, 1:-1] = np.repeat(np.repeat(arr, 2, axis=0), 2, axis=1)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    shift = np.array(origin, dtype=np.float64)
    rings = []
    for c in contours:
        pts = c.reshape(-1, 2).astype(np.float64) - 1.0
        pts = (pts + (pts % 2 == 1)) / 2.0  # inner-pixel (odd) coordinates snap outwards
        pts = _dedupe(pts)
        if len(pts) >= 3:
            rings.append(pts + shift)
    return rings


def _as_ring(ring: Any, i: int) -> np.ndarray:
    arr = np.asarray(ring, dtype=np.float64)
    if arr.ndim == 1 and arr.size % 2 == 0:
        arr = arr.reshape(-1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise TilewiseError(f"ring {i} must be (k, 2) points or a flat [x, y, ...] list")
    if not np.isfinite(arr).all():
        raise TilewiseError(f"ring {i} has NaN or infinite coordinates")
    return arr


def polygons_to_crop(rings: Sequence[Any]) -> tuple[tuple[int, int], np.ndarray]:
    """Rasterise rings (their union) into ``((x, y) origin, tight bool crop)``.

    A ring is (k, 2) points or COCO's flat ``[x1, y1, x2, y2, ...]``; rings with fewer
    than 3 points are ignored. A pixel is set when its centre is inside a ring.

    Example:
        >>> origin, crop = polygons_to_crop([[2, 1, 5, 1, 5, 3, 2, 3]])
        >>> origin, crop.astype(int).tolist()
        ((2, 1), [[1, 1, 1], [1, 1, 1]])
    """
    arrays = [_as_ring(r, i) for i, r in enumerate(rings)]
    arrays = [a for a in arrays if len(a) >= 3]
    if not arrays:
        return (0, 0), np.zeros((0, 0), dtype=bool)
    pts = np.concatenate(arrays)
    x0, y0 = (int(v) for v in np.floor(pts.min(axis=0)))
    x1, y1 = (int(v) for v in np.ceil(pts.max(axis=0)))
    canvas = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), dtype=np.uint8)
    scale = float(1 << _SHIFT)
    for a in arrays:
        fixed = np.round((a - (x0 + 0.5, y0 + 0.5)) * scale).astype(np.int32)
        cv2.fillPoly(canvas, [fixed], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    mask = canvas.view(bool)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return (0, 0), np.zeros((0, 0), dtype=bool)
    cols = np.flatnonzero(mask.any(axis=0))
    ty0, ty1, tx0, tx1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return (x0 + tx0, y0 + ty0), mask[ty0:ty1, tx0:tx1].copy()


def ring_to_coco(ring: np.ndarray) -> list[float]:
    """A (k, 2) ring as COCO's flat ``[x1, y1, x2, y2, ...]`` list.

    Example:
        >>> import numpy as np
        >>> ring_to_coco(np.array([[0.0, 1.0], [2.0, 1.0], [2.0, 3.0]]))
        [0.0, 1.0, 2.0, 1.0, 2.0, 3.0]
    """
    return [float(v) for v in np.asarray(ring, dtype=np.float64).ravel()]


def rings_from_coco(segmentation: Sequence[Sequence[float]]) -> list[np.ndarray]:
    """COCO polygon segmentation (a list of flat lists) as (k, 2) rings.

    Example:
        >>> [r.tolist() for r in rings_from_coco([[0, 0, 2, 0, 2, 2]])]
        [[[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]]]
    """
    return [_as_ring(r, i) for i, r in enumerate(segmentation)]
