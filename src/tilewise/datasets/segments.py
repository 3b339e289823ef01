"""Columnar per-annotation segmentation: polygons as flat coordinates + offsets, COCO RLE runs.

Every annotation has a kind (none, polygon or RLE). Polygons are COCO style: one or more
open rings per annotation (each ring one part; holes are not represented). All rings'
points live in one ``(P, 2)`` float64 array; ``ring_index`` gives each ring's point range
and ``poly_index`` each annotation's ring range. RLE runs of all annotations live in one
uint32 array with ``rle_index`` giving each annotation's range; an RLE mask has the size of
its image.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["SegmentKind", "Segments", "gather_ranges"]


class SegmentKind(IntEnum):
    """What segmentation an annotation carries."""

    NONE = 0
    POLYGON = 1
    RLE = 2


def gather_ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, e)`` for every pair, vectorised.

    Example:
        >>> gather_ranges(np.array([0, 5]), np.array([2, 8])).tolist()
        [0, 1, 5, 6, 7]
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(ends, dtype=np.int64) - starts
    total = int(lengths.sum()) if lengths.size else 0
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.cumsum(lengths) - lengths
    owner = np.repeat(np.arange(lengths.size), lengths)
    return starts[owner] + (np.arange(total) - first[owner])


def _offsets(lengths: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


class Segments:
    """Segmentation column for N annotations (see the module docstring for the layout).

    Example:
        >>> seg = Segments.from_lists([[np.array([[0, 0], [4, 0], [4, 3]])], None])
        >>> len(seg), seg.kind.tolist(), seg.polygon(0)[0].tolist()
        (2, [1, 0], [[0.0, 0.0], [4.0, 0.0], [4.0, 3.0]])
    """

    __slots__ = ("kind", "points", "poly_index", "ring_index", "rle_counts", "rle_index")

    def __init__(
        self,
        kind: np.ndarray,
        poly_index: np.ndarray,
        ring_index: np.ndarray,
        points: np.ndarray,
        rle_index: np.ndarray,
        rle_counts: np.ndarray,
    ) -> None:
        self.kind = np.asarray(kind, dtype=np.uint8)
        self.poly_index = np.asarray(poly_index, dtype=np.int64)
        self.ring_index = np.asarray(ring_index, dtype=np.int64)
        self.points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        self.rle_index = np.asarray(rle_index, dtype=np.int64)
        self.rle_counts = np.asarray(rle_counts, dtype=np.uint32)
        n = self.kind.shape[0]
        if self.poly_index.shape != (n + 1,) or self.rle_index.shape != (n + 1,):
            raise TilewiseError("segment offsets must have one entry per annotation plus one")
        if self.poly_index[-1] != len(self.ring_index) - 1:
            raise TilewiseError("polygon ring offsets do not match the ring table")
        if self.ring_index[-1] != len(self.points) or self.rle_index[-1] != len(self.rle_counts):
            raise TilewiseError("segment point or run offsets do not match their arrays")

    @classmethod
    def empty(cls, n: int = 0) -> Segments:
        """N annotations without segmentation.

        Example:
            >>> Segments.empty(3).kind.tolist()
            [0, 0, 0]
        """
        zeros = np.zeros(n + 1, dtype=np.int64)
        return cls(np.zeros(n, np.uint8), zeros, np.zeros(1, np.int64), np.zeros((0, 2)), zeros, [])

    @classmethod
    def from_lists(
        cls,
        polygons: Sequence[Sequence[np.ndarray] | None],
        rles: Sequence[np.ndarray | None] | None = None,
    ) -> Segments:
        """Build from per-annotation lists: rings (each (k, 2)) or RLE runs, or None.

        Example:
            >>> Segments.from_lists([None], [np.array([1, 3])]).kind.tolist()
            [2]
        """
        n = len(polygons)
        rles = rles if rles is not None else [None] * n
        if len(rles) != n:
            raise TilewiseError("polygons and rles must have the same length")
        kind = np.zeros(n, dtype=np.uint8)
        n_rings = np.zeros(n, dtype=np.int64)
        ring_lengths: list[int] = []
        point_parts: list[np.ndarray] = []
        rle_lengths = np.zeros(n, dtype=np.int64)
        rle_parts: list[np.ndarray] = []
        for i, (poly, rle) in enumerate(zip(polygons, rles, strict=True)):
            if poly is not None and rle is not None:
                raise TilewiseError(f"annotation {i} has both a polygon and an RLE mask")
            if poly is not None:
                kind[i] = SegmentKind.POLYGON
                n_rings[i] = len(poly)
                for ring in poly:
                    arr = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
                    ring_lengths.append(arr.shape[0])
                    point_parts.append(arr)
            elif rle is not None:
                kind[i] = SegmentKind.RLE
                arr = np.asarray(rle, dtype=np.uint32).ravel()
                rle_lengths[i] = arr.size
                rle_parts.append(arr)
        points = np.concatenate(point_parts) if point_parts else np.zeros((0, 2))
        counts = np.concatenate(rle_parts) if rle_parts else np.zeros(0, np.uint32)
        return cls(
            kind,
            _offsets(n_rings),
            _offsets(np.asarray(ring_lengths, dtype=np.int64)),
            points,
            _offsets(rle_lengths),
            counts,
        )

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    @property
    def has_polygons(self) -> bool:
        """Whether any annotation carries a polygon."""
        return bool(np.any(self.kind == SegmentKind.POLYGON))

    @property
    def has_rle(self) -> bool:
        """Whether any annotation carries an RLE mask."""
        return bool(np.any(self.kind == SegmentKind.RLE))

    def polygon(self, i: int) -> list[np.ndarray]:
        """The rings of annotation ``i`` as (k, 2) arrays (empty list when none).

        Example:
            >>> Segments.empty(1).polygon(0)
            []
        """
        r0, r1 = int(self.poly_index[i]), int(self.poly_index[i + 1])
        return [self.points[self.ring_index[r] : self.ring_index[r + 1]] for r in range(r0, r1)]

    def rle(self, i: int) -> np.ndarray | None:
        """The RLE runs of annotation ``i``, or None.

        Example:
            >>> Segments.from_lists([None], [np.array([1, 3])]).rle(0).tolist()
            [1, 3]
        """
        if self.kind[i] != SegmentKind.RLE:
            return None
        return self.rle_counts[self.rle_index[i] : self.rle_index[i + 1]]

    def take(self, index: np.ndarray) -> Segments:
        """Select annotations by an int index array (any order, repeats allowed).

        Example:
            >>> seg = Segments.from_lists([None, [np.zeros((3, 2))]])
            >>> seg.take(np.array([1, 1])).kind.tolist()
            [1, 1]
        """
        idx = np.asarray(index, dtype=np.int64).ravel()
        ring_sel = gather_ranges(self.poly_index[idx], self.poly_index[idx + 1])
        pt_sel = gather_ranges(self.ring_index[ring_sel], self.ring_index[ring_sel + 1])
        run_sel = gather_ranges(self.rle_index[idx], self.rle_index[idx + 1])
        return Segments(
            self.kind[idx],
            _offsets(self.poly_index[idx + 1] - self.poly_index[idx]),
            _offsets(self.ring_index[ring_sel + 1] - self.ring_index[ring_sel]),
            self.points[pt_sel],
            _offsets(self.rle_index[idx + 1] - self.rle_index[idx]),
            self.rle_counts[run_sel],
        )

    @classmethod
    def concatenate(cls, parts: Sequence[Segments]) -> Segments:
        """Stack several segment columns.

        Example:
            >>> len(Segments.concatenate([Segments.empty(2), Segments.empty(1)]))
            3
        """
        if not parts:
            return cls.empty(0)

        def stack(name: str) -> np.ndarray:
            arrays = [getattr(p, name) for p in parts]
            shift = np.cumsum([0] + [int(a[-1]) for a in arrays[:-1]])
            return np.concatenate(
                [arrays[0][:1]] + [a[1:] + s for a, s in zip(arrays, shift, strict=True)]
            )

        return cls(
            np.concatenate([p.kind for p in parts]),
            stack("poly_index"),
            stack("ring_index"),
            np.concatenate([p.points for p in parts]),
            stack("rle_index"),
            np.concatenate([p.rle_counts for p in parts]),
        )

    def with_points(self, points: np.ndarray) -> Segments:
        """The same layout with new polygon coordinates (e.g. shifted or scaled).

        Example:
            >>> seg = Segments.from_lists([[np.zeros((3, 2))]])
            >>> seg.with_points(seg.points + 1).polygon(0)[0][0].tolist()
            [1.0, 1.0]
        """
        return Segments(
            self.kind, self.poly_index, self.ring_index, points, self.rle_index, self.rle_counts
        )

    def equals(self, other: Segments) -> bool:
        """Exact equality of all columns.

        Example:
            >>> Segments.empty(2).equals(Segments.empty(2))
            True
        """
        return all(
            np.array_equal(getattr(self, name), getattr(other, name)) for name in self.__slots__
        )

    def __repr__(self) -> str:
        counts = np.bincount(self.kind, minlength=3)
        return f"Segments(n={len(self)}, polygons={counts[1]}, rle={counts[2]})"
