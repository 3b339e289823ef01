"""Vectorised conversion between the polygon columns of ``Segments`` and shapely 2 arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tilewise.datasets.segments import SegmentKind, Segments, gather_ranges

__all__ = [
    "RingTable",
    "clip_polygons",
    "polygons_to_shapely",
    "repair_polygons",
    "shapely_to_rings",
]


def polygons_to_shapely(segments: Segments, index: np.ndarray) -> tuple[np.ndarray, int]:
    """Shapely MultiPolygons for annotations ``index`` (empty for ones without a polygon).

    Rings with fewer than 3 points cannot enclose area and are left out; the number left
    out is returned alongside. Invalid polygons are returned as they are (see
    ``repair_polygons``).

    Example:
        >>> seg = Segments.from_lists([[np.array([[0, 0], [4, 0], [4, 4]])], None])
        >>> geoms, short = polygons_to_shapely(seg, np.array([0, 1]))
        >>> [round(g.area, 1) for g in geoms], short
        ([8.0, 0.0], 0)
    """
    import shapely
    from shapely import GeometryType

    idx = np.asarray(index, dtype=np.int64)
    n = idx.size
    if n == 0:
        return np.empty(0, dtype=object), 0
    is_poly = segments.kind[idx] == SegmentKind.POLYGON
    r0 = np.where(is_poly, segments.poly_index[idx], 0)
    r1 = np.where(is_poly, segments.poly_index[idx + 1], 0)
    rings = gather_ranges(r0, r1)
    owner = np.repeat(np.arange(n), r1 - r0)
    starts = segments.ring_index[rings]
    ends = segments.ring_index[rings + 1]
    ok = ends - starts >= 3
    short = int(np.sum(~ok))
    rings, owner, starts, ends = rings[ok], owner[ok], starts[ok], ends[ok]
    lengths = ends - starts + 1  # closed rings repeat the first point
    ring_off = np.zeros(rings.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=ring_off[1:])
    pidx = gather_ranges(starts, ends + 1)
    last = ring_off[1:] - 1
    pidx[last] = starts
    coords = segments.points[pidx]
    poly_off = np.arange(rings.size + 1, dtype=np.int64)
    multi_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=n), out=multi_off[1:])
    geoms = shapely.from_ragged_array(
        GeometryType.MULTIPOLYGON, coords, (ring_off, poly_off, multi_off)
    )
    return geoms, short


def repair_polygons(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """Make invalid geometries valid (``shapely.make_valid``); returns them and how many.

    Example:
        >>> import shapely
        >>> bow = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
        >>> fixed, n = repair_polygons(np.array([bow]))
        >>> n, round(float(shapely.area(fixed[0])), 1)
        (1, 2.0)
    """
    import shapely

    bad = ~shapely.is_valid(geoms)
    if not bad.any():
        return geoms, 0
    out = geoms.copy()
    out[bad] = shapely.make_valid(geoms[bad])
    return out, int(bad.sum())


@dataclass(frozen=True)
class RingTable:
    """Polygon rings extracted from shapely geometries, grouped by owner.

    Attributes:
        owner: (R,) the input geometry each ring came from, ascending.
        ring_index: (R + 1,) point offsets of each ring into ``points``.
        points: (P, 2) open-ring coordinates (the closing point is dropped).
        holes: number of interior rings dropped (COCO polygons cannot hold holes).
    """

    owner: np.ndarray
    ring_index: np.ndarray
    points: np.ndarray
    holes: int

    def segments(self, n: int, *, shift: np.ndarray | None = None) -> Segments:
        """Polygon segments for ``n`` owners; owners without rings get no segmentation.

        Args:
            n: number of owners.
            shift: optional (n, 2) offsets subtracted from each owner's points.

        Example:
            >>> import shapely
            >>> t = shapely_to_rings(np.array([shapely.box(0, 0, 2, 2)]))
            >>> t.segments(2).kind.tolist()
            [1, 0]
        """
        per_owner = np.bincount(self.owner, minlength=n)
        poly_index = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(per_owner, out=poly_index[1:])
        kind = np.where(per_owner > 0, SegmentKind.POLYGON, SegmentKind.NONE).astype(np.uint8)
        points = self.points
        if shift is not None and points.size:
            pt_owner = np.repeat(self.owner, np.diff(self.ring_index))
            points = points - np.asarray(shift, dtype=np.float64)[pt_owner]
        zeros = np.zeros(n + 1, dtype=np.int64)
        return Segments(kind, poly_index, self.ring_index, points, zeros, [])

    def bounds(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(n, 4) xyxy bounds of each owner's rings and an (n,) bool "has rings" flag.

        Example:
            >>> import shapely
            >>> b, ok = shapely_to_rings(np.array([shapely.box(1, 2, 3, 5)])).bounds(1)
            >>> b.tolist(), ok.tolist()
            ([[1.0, 2.0, 3.0, 5.0]], [True])
        """
        out = np.zeros((n, 4), dtype=np.float64)
        has = np.bincount(self.owner, minlength=n) > 0
        if self.points.size == 0:
            return out, has
        pt_owner = np.repeat(self.owner, np.diff(self.ring_index))
        lo = np.full((n, 2), np.inf)
        hi = np.full((n, 2), -np.inf)
        np.minimum.at(lo, pt_owner, self.points)
        np.maximum.at(hi, pt_owner, self.points)
        out[has] = np.concatenate([lo, hi], axis=1)[has]
        return out, has


def shapely_to_rings(geoms: np.ndarray, *, min_area: float = 0.0) -> RingTable:
    """Exterior rings of every polygonal part of each geometry (lines and points dropped).

    Example:
        >>> import shapely
        >>> t = shapely_to_rings(np.array([shapely.box(0, 0, 1, 1), shapely.Point(0, 0)]))
        >>> t.owner.tolist(), t.points.shape
        ([0], (4, 2))
    """
    import shapely
    from shapely import GeometryType

    parts, owner = shapely.get_parts(geoms, return_index=True)
    if parts.size:
        # GeometryCollections nest one level deeper; flatten them once more.
        nested = shapely.get_type_id(parts) > GeometryType.POLYGON
        if nested.any():
            sub, sub_owner = shapely.get_parts(parts[nested], return_index=True)
            parts = np.concatenate([parts[~nested], sub])
            owner = np.concatenate([owner[~nested], owner[nested][sub_owner]])
            order = np.argsort(owner, kind="stable")
            parts, owner = parts[order], owner[order]
    is_poly = (shapely.get_type_id(parts) == GeometryType.POLYGON) & (
        shapely.area(parts) > min_area
    )
    parts, owner = parts[is_poly], owner[is_poly]
    holes = int(shapely.get_num_interior_rings(parts).sum()) if parts.size else 0
    rings = shapely.get_exterior_ring(parts)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    counts = np.bincount(ring_of, minlength=rings.size)
    ends = np.cumsum(counts)
    keep = np.ones(coords.shape[0], dtype=bool)
    keep[ends[counts > 0] - 1] = False  # drop the closing point
    ring_index = np.zeros(rings.size + 1, dtype=np.int64)
    np.cumsum(np.maximum(counts - 1, 0), out=ring_index[1:])
    return RingTable(owner.astype(np.int64), ring_index, coords[keep], holes)


def clip_polygons(geoms: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Exact intersection of each geometry with its xyxy window (vectorised).

    Example:
        >>> import shapely
        >>> out = clip_polygons(np.array([shapely.box(0, 0, 4, 4)]), np.array([[2, 2, 8, 8]]))
        >>> float(shapely.area(out[0]))
        4.0
    """
    import shapely

    w = np.asarray(windows, dtype=np.float64).reshape(-1, 4)
    return shapely.intersection(geoms, shapely.box(w[:, 0], w[:, 1], w[:, 2], w[:, 3]))
