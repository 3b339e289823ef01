"""Georeferencing as plain metadata: a CRS and the affine transform from pixels to the map.

No GIS library is needed to carry or apply it: the CRS is kept as the text its source gave
(an authority code such as ``"EPSG:32633"`` or WKT) and the transform as the six
coefficients GDAL and the ``affine`` package use. Reprojection (pyproj) happens only where
output is written (``tilewise.geo``).

Pixel coordinates follow GDAL: (0, 0) is the top-left *corner* of the top-left pixel, so
a box ``[0, 0, 10, 10]`` covers pixels 0..9 and its corners map exactly to the map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["GeoReference"]


@dataclass(frozen=True)
class GeoReference:
    """Where an image's pixels lie on the map: a CRS and an affine pixel-to-map transform.

    ``transform`` is ``(a, b, c, d, e, f)`` with ``x = a*col + b*row + c`` and
    ``y = d*col + e*row + f`` (the order of ``affine.Affine`` and rasterio's
    ``dataset.transform``; GDAL's geotransform is ``(c, a, b, f, d, e)``). ``b`` and ``d``
    are non-zero for rotated or sheared rasters, which are handled exactly: boxes become
    four-cornered polygons on the map, never re-boxed.

    Args:
        crs: the coordinate reference system as text: an authority code like
            ``"EPSG:32633"``, or WKT. Empty when the raster has none (then only
            ``pixel_to_map`` works, and writers that need a CRS refuse).
        transform: the six affine coefficients (a, b, c, d, e, f).

    Example:
        >>> g = GeoReference("EPSG:32633", (0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0))
        >>> g.pixel_to_map([[0, 0], [10, 20]]).tolist()
        [[500000.0, 4000000.0], [500005.0, 3999990.0]]
        >>> g.map_to_pixel([[500005.0, 3999990.0]]).tolist()
        [[10.0, 20.0]]
    """

    crs: str
    transform: tuple[float, float, float, float, float, float]

    def __post_init__(self) -> None:
        if not isinstance(self.crs, str):
            raise TilewiseError(
                f"crs must be text (EPSG code or WKT), got {type(self.crs).__name__}"
            )
        coeffs = tuple(float(v) for v in tuple(self.transform)[:6])
        if len(coeffs) != 6 or not all(math.isfinite(v) for v in coeffs):
            raise TilewiseError(
                f"transform must be six finite numbers (a, b, c, d, e, f), got {self.transform!r}"
            )
        a, b, _, d, e, _ = coeffs
        if a * e - b * d == 0.0:
            raise TilewiseError(f"transform {coeffs} is degenerate (its determinant is 0)")
        object.__setattr__(self, "transform", coeffs)

    @classmethod
    def from_gdal(cls, crs: str, geotransform: Any) -> GeoReference:
        """Build from GDAL's geotransform order ``(c, a, b, f, d, e)``.

        Example:
            >>> GeoReference.from_gdal("EPSG:4326", (10.0, 0.1, 0.0, 50.0, 0.0, -0.1)).transform
            (0.1, 0.0, 10.0, 0.0, -0.1, 50.0)
        """
        c, a, b, f, d, e = (float(v) for v in geotransform)
        return cls(crs, (a, b, c, d, e, f))

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 float64 homogeneous matrix of the transform."""
        a, b, c, d, e, f = self.transform
        return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])

    @property
    def rotated(self) -> bool:
        """Whether the transform rotates or shears (``b`` or ``d`` non-zero)."""
        return self.transform[1] != 0.0 or self.transform[3] != 0.0

    @property
    def pixel_size(self) -> tuple[float, float]:
        """Ground size of one pixel along its columns and rows, in CRS units."""
        a, b, _, d, e, _ = self.transform
        return (math.hypot(a, d), math.hypot(b, e))

    def pixel_to_map(self, xy: Any) -> np.ndarray:
        """Map coordinates (float64, (N, 2)) of pixel coordinates (N, 2) as (col, row)."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        a, b, c, d, e, f = self.transform
        return np.stack(
            [a * pts[:, 0] + b * pts[:, 1] + c, d * pts[:, 0] + e * pts[:, 1] + f], axis=1
        )

    def map_to_pixel(self, xy: Any) -> np.ndarray:
        """Pixel coordinates (float64, (N, 2)) of map coordinates (N, 2): the inverse."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        inv = np.linalg.inv(self.matrix)
        return pts @ inv[:2, :2].T + inv[:2, 2]

    def box_corners(self, xyxy: Any) -> np.ndarray:
        """(N, 4, 2) map coordinates of each box's corners, clockwise from top-left in pixels.

        Example:
            >>> g = GeoReference("EPSG:3857", (2.0, 0.0, 100.0, 0.0, -2.0, 50.0))
            >>> g.box_corners([[0, 0, 1, 1]]).tolist()
            [[[100.0, 50.0], [102.0, 50.0], [102.0, 48.0], [100.0, 48.0]]]
        """
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        x1, y1, x2, y2 = boxes.T
        px = np.stack([x1, x2, x2, x1], axis=1)
        py = np.stack([y1, y1, y2, y2], axis=1)
        pts = self.pixel_to_map(np.stack([px.ravel(), py.ravel()], axis=1))
        return pts.reshape(-1, 4, 2)

    def translated(self, dx: float, dy: float) -> GeoReference:
        """The georeference of the frame whose pixel (0, 0) is pixel (dx, dy) of this one.

        A window's detections in window pixels have ``georef.translated(x, y)``; moving
        them by ``(x, y)`` into image pixels (``Detections.shifted``) goes back.

        Example:
            >>> g = GeoReference("EPSG:3857", (2.0, 0.0, 100.0, 0.0, -2.0, 50.0))
            >>> g.translated(10, 5).pixel_to_map([[0, 0]]).tolist()
            [[120.0, 40.0]]
        """
        a, b, c, d, e, f = self.transform
        return GeoReference(self.crs, (a, b, c + a * dx + b * dy, d, e, f + d * dx + e * dy))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"crs": ..., "transform": [a, b, c, d, e, f]}``."""
        return {"crs": self.crs, "transform": list(self.transform)}
