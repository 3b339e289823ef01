"""Writing georeferenced detections: GeoPackage, GeoParquet (native CRS), GeoJSON (lon/lat).

Every writer is atomic (``tilewise.fileio``): the file is complete or not there at all.
Feature properties are ``score``, ``class_id``, ``class_name``, plus ``tracker_id`` and
``mask_area`` where present; boxes are four-cornered polygons (exact under rotated
transforms), masks their outlines.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.choices import Choice
from tilewise.detections import Detections
from tilewise.detections.geoframe import ClassNames, feature_properties, map_polygons
from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_path, atomic_write_text
from tilewise.geo.lonlat import to_lonlat

__all__ = [
    "GeoFormat",
    "write_detections",
    "write_geojson",
    "write_geopackage",
    "write_geoparquet",
]


class GeoFormat(Choice):
    """Vector formats for georeferenced detections."""

    GPKG = "gpkg"  # GeoPackage, native CRS
    GEOJSON = "geojson"  # RFC 7946: EPSG:4326 lon/lat
    PARQUET = "parquet"  # GeoParquet, native CRS

    @classmethod
    def option_name(cls) -> str:
        """Name used in error messages."""
        return "format"

    @property
    def suffix(self) -> str:
        """The file suffix, with its dot."""
        return f".{self.value}"


def _check(det: Detections, name: str) -> None:
    if not isinstance(det, Detections):
        raise TilewiseError(f"{name}: expected Detections, got {type(det).__name__}")
    if det.georef is None:
        raise TilewiseError(
            f"{name}: the detections carry no georef; run the Slicer on a georeferenced "
            "source (RasterSource) or give Detections(..., georef=...)"
        )


def _native_frame(det: Detections, class_names: ClassNames, name: str) -> Any:
    _check(det, name)
    assert det.georef is not None
    if not det.georef.crs:
        raise TilewiseError(f"{name}: the raster has no CRS; its detections cannot be placed")
    return det.to_geodataframe(class_names)


def write_geopackage(
    path: str | os.PathLike[str],
    det: Detections,
    *,
    class_names: ClassNames = None,
    layer: str = "detections",
) -> Path:
    """Write a GeoPackage layer in the raster's CRS; returns the path.

    Example:
        >>> import pytest; _ = pytest.importorskip("geopandas")
        >>> import tempfile, pathlib, numpy as np, geopandas as gpd
        >>> from tilewise.detections import GeoReference
        >>> g = GeoReference("EPSG:32633", (0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0))
        >>> det = Detections(np.array([[0, 0, 10, 4]]), [0.9], georef=g)
        >>> out = write_geopackage(pathlib.Path(tempfile.mkdtemp()) / "d.gpkg", det)
        >>> gpd.read_file(out).crs.to_epsg()
        32633
    """
    frame = _native_frame(det, class_names, str(path))
    with atomic_path(path) as tmp:
        tmp.unlink()  # the GPKG driver creates the file itself
        frame.to_file(tmp, driver="GPKG", layer=layer, engine="pyogrio")
    return Path(path)


def write_geoparquet(
    path: str | os.PathLike[str], det: Detections, *, class_names: ClassNames = None
) -> Path:
    """Write GeoParquet in the raster's CRS; returns the path.

    Example:
        >>> import pytest; _ = pytest.importorskip("pyarrow"); _ = pytest.importorskip("geopandas")
        >>> import tempfile, pathlib, numpy as np, geopandas as gpd
        >>> from tilewise.detections import GeoReference
        >>> g = GeoReference("EPSG:32633", (0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0))
        >>> det = Detections(np.array([[0, 0, 10, 4]]), [0.9], georef=g)
        >>> out = write_geoparquet(pathlib.Path(tempfile.mkdtemp()) / "d.parquet", det)
        >>> gpd.read_parquet(out).score.tolist()
        [0.8999999761581421]
    """
    frame = _native_frame(det, class_names, str(path))
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp)
    return Path(path)


def _ccw(ring: np.ndarray) -> np.ndarray:
    """The ring counter-clockwise (RFC 7946's right-hand rule for exteriors)."""
    x, y = ring[:, 0], ring[:, 1]
    signed = np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])
    return ring[::-1] if signed < 0 else ring


def _geojson_geometry(geometry: Any, crs: str, name: str) -> dict[str, Any]:
    import shapely

    polygons = list(geometry.geoms) if isinstance(geometry, shapely.MultiPolygon) else [geometry]
    rings = [
        _ccw(to_lonlat(np.asarray(p.exterior.coords), crs, name=name)).tolist() for p in polygons
    ]
    if len(rings) == 1:
        return {"type": "Polygon", "coordinates": [rings[0]]}
    return {"type": "MultiPolygon", "coordinates": [[r] for r in rings]}


def write_geojson(
    path: str | os.PathLike[str], det: Detections, *, class_names: ClassNames = None
) -> Path:
    """Write an RFC 7946 GeoJSON FeatureCollection in EPSG:4326 (lon, lat); returns the path.

    Polygons are reprojected corner by corner with pyproj (geographic rasters included);
    exterior rings are counter-clockwise. A CRS that cannot be transformed to lon/lat is
    refused before anything is written.

    Example:
        >>> import pytest; _ = pytest.importorskip("pyproj"); _ = pytest.importorskip("shapely")
        >>> import tempfile, pathlib, json, numpy as np
        >>> from tilewise.detections import GeoReference
        >>> g = GeoReference("EPSG:4326", (1e-4, 0.0, 13.4, 0.0, -1e-4, 52.5))
        >>> det = Detections(np.array([[0, 0, 10, 10]]), [0.9], georef=g)
        >>> out = write_geojson(pathlib.Path(tempfile.mkdtemp()) / "d.geojson", det)
        >>> json.loads(out.read_text())["features"][0]["geometry"]["coordinates"][0][:2]
        [[13.4, 52.5], [13.4, 52.499]]
    """
    name = str(path)
    _check(det, name)
    assert det.georef is not None
    props = feature_properties(det, class_names)
    features = []
    for i, geometry in enumerate(map_polygons(det)):
        features.append(
            {
                "type": "Feature",
                "geometry": _geojson_geometry(geometry, det.georef.crs, name),
                "properties": {k: v[i] for k, v in props.items()},
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    return atomic_write_text(path, json.dumps(collection) + "\n")


def write_detections(
    path: str | os.PathLike[str],
    det: Detections,
    format: GeoFormat | str | None = None,
    *,
    class_names: ClassNames = None,
) -> Path:
    """Write with the format given, or the one the suffix names (.gpkg, .geojson, .parquet).

    Example:
        >>> GeoFormat.parse("GeoJSON").suffix
        '.geojson'
    """
    if format is None:
        suffix = Path(path).suffix.lower().lstrip(".")
        format = {"json": "geojson", "geoparquet": "parquet"}.get(suffix, suffix)
    chosen = GeoFormat.parse(format)
    if chosen is GeoFormat.GPKG:
        return write_geopackage(path, det, class_names=class_names)
    if chosen is GeoFormat.PARQUET:
        return write_geoparquet(path, det, class_names=class_names)
    return write_geojson(path, det, class_names=class_names)
