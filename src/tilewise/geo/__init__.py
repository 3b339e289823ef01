"""Georeferenced output: detections as map polygons in GeoPackage, GeoParquet and GeoJSON.

Needs the ``geo`` extra. ``Detections.georef`` (set by the ``Slicer`` from a georeferenced
source such as ``tilewise.sources.raster.RasterSource``) places the pixel boxes on the
map; ``Detections.to_geodataframe`` gives a GeoDataFrame in the raster's CRS.
"""

from tilewise.geo.lonlat import from_lonlat, to_lonlat
from tilewise.geo.writers import (
    GeoFormat,
    write_detections,
    write_geojson,
    write_geopackage,
    write_geoparquet,
)

__all__ = [
    "GeoFormat",
    "from_lonlat",
    "to_lonlat",
    "write_detections",
    "write_geojson",
    "write_geopackage",
    "write_geoparquet",
]
