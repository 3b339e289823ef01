"""Applying an affine map to a sample's objects, with the visibility and size rules.

Coordinates are pixel edges (a pixel ``i`` spans ``[i, i + 1)``), the convention of boxes
everywhere in tilewise. OpenCV's warp functions use pixel centres; ``to_cv`` converts.
"""

from __future__ import annotations

import warnings

import numpy as np

from tilewise.datasets.augment.sample import BoxRules, DropCounts, Sample
from tilewise.datasets.geometry import (
    clip_polygons,
    polygons_to_shapely,
    repair_polygons,
    shapely_to_rings,
)
from tilewise.datasets.segments import Segments
from tilewise.errors import TilewiseWarning

__all__ = ["apply_affine", "to_cv", "warp_image"]

_EPS = 1e-9
PAD_VALUE = 114
"""Grey used where an output pixel has no source pixel (as YOLOv5 pads)."""


def to_cv(affine: np.ndarray) -> np.ndarray:
    """Convert a 2 x 3 map on pixel-edge coordinates to OpenCV's pixel-centre convention.

    Example:
        >>> to_cv(np.array([[2.0, 0, 0], [0, 2.0, 0]])).tolist()
        [[2.0, 0.0, 0.5], [0.0, 2.0, 0.5]]
    """
    a = np.asarray(affine, dtype=np.float64)
    lin = a[:, :2]
    out = a.copy()
    out[:, 2] = lin @ np.array([0.5, 0.5]) + a[:, 2] - 0.5
    return out


def warp_image(image: np.ndarray, affine: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """Warp an image with a pixel-edge affine map (bilinear, grey padding).

    Example:
        >>> warp_image(np.full((2, 2, 3), 9, np.uint8), np.eye(2, 3), (3, 2))[:, :, 0].tolist()
        [[9, 9, 114], [9, 9, 114]]
    """
    import cv2

    return cv2.warpAffine(
        image,
        to_cv(affine),
        out_wh,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(PAD_VALUE,) * 3,
    )


def _warp_masks(masks: np.ndarray, affine: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    import cv2

    m = to_cv(affine)
    out = np.zeros((masks.shape[0], out_wh[1], out_wh[0]), dtype=bool)
    for k in range(masks.shape[0]):
        out[k] = cv2.warpAffine(masks[k].astype(np.uint8), m, out_wh, flags=cv2.INTER_NEAREST) > 0
    return out


def _apply(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return points @ affine[:, :2].T + affine[:, 2]


def apply_affine(
    sample: Sample,
    affine: np.ndarray,
    out_wh: tuple[int, int],
    rules: BoxRules,
    counts: DropCounts | None,
    *,
    image: np.ndarray | None = None,
    masks: np.ndarray | None = None,
) -> Sample:
    """Map a sample through ``affine`` into an ``out_wh`` image and apply ``rules``.

    Boxes are recomputed from polygons when present (transformed, clipped exactly to the
    output, bounds taken), else from masks (warped, bounds taken), else from the four box
    corners. Visibility is the part of the transformed object inside the output image.
    Dropped objects are counted in ``counts`` by reason.

    Args:
        sample: the input.
        affine: 2 x 3 map on pixel-edge coordinates.
        out_wh: output size.
        rules: visibility and size rules.
        counts: updated with what was kept and dropped; when None, any drop raises a
            ``TilewiseWarning`` instead (never silent).
        image: the already transformed image (exact transforms pass it); else warped.
        masks: the already transformed masks; else warped.

    Example:
        >>> s = Sample(np.zeros((10, 10, 3), np.uint8), np.array([[6, 2, 10, 4]]), np.array([0]))
        >>> shift = np.array([[1.0, 0, -5], [0, 1, 0]])  # move left by 5 into a 5 x 10 image
        >>> c = DropCounts()
        >>> apply_affine(s, shift, (5, 10), BoxRules(0.3, 1), c).boxes.tolist(), c.kept
        ([[1.0, 2.0, 5.0, 4.0]], 1)
    """
    a = np.asarray(affine, dtype=np.float64)
    w, h = out_wh
    out_img = warp_image(sample.image, a, out_wh) if image is None else image
    n = len(sample)
    w_in, h_in = sample.wh
    boxes = np.zeros((n, 4), dtype=np.float64)
    vis = np.ones(n, dtype=np.float64)
    new_polys: list[list[np.ndarray]] | None = None
    new_masks: np.ndarray | None = None
    has_poly = np.zeros(n, dtype=bool)
    if sample.polygons is not None:
        has_poly = np.array([len(p) > 0 for p in sample.polygons], dtype=bool)
    if sample.masks is not None:
        new_masks = _warp_masks(sample.masks, a, out_wh) if masks is None else masks
        # explicit pixel counts: reshape(n, -1) cannot size a sample with no objects
        before = sample.masks.reshape(n, h_in * w_in).sum(axis=1) * abs(np.linalg.det(a[:, :2]))
        after = new_masks.reshape(n, w * h).sum(axis=1)
        vis = np.divide(after, before, out=np.zeros(n), where=before > 0)
        for k in range(n):
            ys, xs = np.nonzero(new_masks[k])
            if xs.size:
                boxes[k] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    plain = ~has_poly if sample.masks is None else np.zeros(n, dtype=bool)
    if plain.any():
        b = sample.boxes[plain]
        corners = np.stack(
            [b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], axis=1
        )  # (m, 4, 2)
        t = _apply(corners.reshape(-1, 2), a).reshape(-1, 4, 2)
        full = np.concatenate([t.min(axis=1), t.max(axis=1)], axis=1)
        clipped = full.copy()
        clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0, w)
        clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0, h)
        area = (full[:, 2] - full[:, 0]) * (full[:, 3] - full[:, 1])
        inside = np.clip(clipped[:, 2] - clipped[:, 0], 0, None) * np.clip(
            clipped[:, 3] - clipped[:, 1], 0, None
        )
        vis[plain] = np.divide(inside, area, out=np.zeros(len(b)), where=area > 0)
        boxes[plain] = clipped
    if sample.polygons is not None and sample.masks is None:
        import shapely

        new_polys = [[] for _ in range(n)]
        idx = np.flatnonzero(has_poly)
        if idx.size:
            moved = [[_apply(r, a) for r in sample.polygons[k]] for k in idx.tolist()]
            seg = Segments.from_lists(moved)
            geoms, _ = polygons_to_shapely(seg, np.arange(idx.size))
            geoms, _ = repair_polygons(geoms)
            full_area = shapely.area(geoms)
            pieces = clip_polygons(geoms, np.tile([0.0, 0.0, w, h], (idx.size, 1)))
            vis[idx] = np.divide(
                shapely.area(pieces), full_area, out=np.zeros(idx.size), where=full_area > 0
            )
            rings = shapely_to_rings(pieces)
            bounds, has = rings.bounds(idx.size)
            boxes[idx] = np.where(has[:, None], bounds, 0.0)
            pts = rings.points
            for r, owner in enumerate(rings.owner.tolist()):
                new_polys[int(idx[owner])].append(
                    pts[rings.ring_index[r] : rings.ring_index[r + 1]].copy()
                )
    bw = boxes[:, 2] - boxes[:, 0]
    bh = boxes[:, 3] - boxes[:, 1]
    low_vis = vis < rules.min_visibility - _EPS
    keep = ~low_vis & (vis > 0) & (bw >= rules.min_size - _EPS) & (bh >= rules.min_size - _EPS)
    low_vis |= vis <= 0
    if counts is None:
        local = DropCounts()
        local.add(sample.class_id, keep, low_vis)
        if local.total_dropped:
            warnings.warn(
                f"augmentation dropped {local.total_dropped} object(s) {local.dropped}; pass "
                "counts=DropCounts() to collect them",
                TilewiseWarning,
                stacklevel=3,
            )
    else:
        counts.add(sample.class_id, keep, low_vis)
    idx = np.flatnonzero(keep)
    return Sample(
        out_img,
        boxes[idx],
        sample.class_id[idx],
        None if new_polys is None else [new_polys[k] for k in idx.tolist()],
        None if new_masks is None else new_masks[idx],
    )
