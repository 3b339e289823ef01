"""Reprojection to WGS 84 longitude/latitude (EPSG:4326, x = lon), as RFC 7946 requires."""

from __future__ import annotations

from typing import Any

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["to_lonlat", "from_lonlat"]


def _transformer(crs: str, *, inverse: bool, name: str) -> Any:
    try:
        from pyproj import Transformer
        from pyproj.exceptions import CRSError, ProjError
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise TilewiseError(
            "reprojecting needs pyproj (the geo extra): pip install 'tilewise[geo]'"
        ) from exc
    if not crs:
        raise TilewiseError(f"{name}: the raster has no CRS, so it cannot be placed in lon/lat")
    try:
        if inverse:
            return Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    except (CRSError, ProjError) as exc:
        raise TilewiseError(
            f"{name}: CRS {crs[:80]!r} cannot be transformed to EPSG:4326 lon/lat ({exc}); "
            "write GeoPackage or GeoParquet in the native CRS instead"
        ) from exc


def to_lonlat(points: Any, crs: str, *, name: str = "output") -> np.ndarray:
    """(N, 2) points in ``crs`` as (lon, lat) degrees; TilewiseError if the CRS can't be.

    Example:
        >>> import pytest; _ = pytest.importorskip("pyproj")
        >>> to_lonlat([[500000.0, 0.0]], "EPSG:32633").round(6).tolist()
        [[15.0, 0.0]]
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    lon, lat = _transformer(crs, inverse=False, name=name).transform(pts[:, 0], pts[:, 1])
    out = np.stack([np.asarray(lon), np.asarray(lat)], axis=1)
    if not np.isfinite(out).all():
        raise TilewiseError(
            f"{name}: some coordinates in {crs[:80]!r} have no lon/lat (outside the CRS's area)"
        )
    return out


def from_lonlat(points: Any, crs: str, *, name: str = "input") -> np.ndarray:
    """(N, 2) (lon, lat) degrees as points in ``crs`` (the inverse of ``to_lonlat``)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = _transformer(crs, inverse=True, name=name).transform(pts[:, 0], pts[:, 1])
    return np.stack([np.asarray(x), np.asarray(y)], axis=1)
