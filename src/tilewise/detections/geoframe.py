"""Georeferenced detections as map polygons: boxes as four-cornered polygons, masks as outlines.

Needs shapely (and geopandas for ``to_geodataframe``): the ``geo`` extra. Rotated and
sheared transforms are exact because a box's four pixel corners are mapped one by one;
the result is never re-boxed in map coordinates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from tilewise.detections.georef import GeoReference
from tilewise.errors import TilewiseError

__all__ = [
    "ClassNames",
    "GeoDetections",
    "class_name_column",
    "feature_properties",
    "map_polygons",
    "to_geodataframe",
]

ClassNames = Sequence[str] | Mapping[int, str] | None


class GeoDetections(Protocol):
    """The columns of ``tilewise.Detections`` this module reads."""

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    masks: Any
    data: dict[str, np.ndarray]
    georef: GeoReference | None

    def __len__(self) -> int:
        """Number of detections."""
        ...


def _require_georef(det: GeoDetections) -> GeoReference:
    if det.georef is None:
        raise TilewiseError(
            "these detections carry no georef: run the Slicer on a georeferenced source "
            "(tilewise.sources.raster.RasterSource) or pass Detections(..., georef=...)"
        )
    return det.georef


def class_name_column(class_id: np.ndarray, class_names: ClassNames) -> list[str | None]:
    """Class names per row: from a list (by index) or a mapping; None where unknown.

    Example:
        >>> import numpy as np
        >>> class_name_column(np.array([0, 2, 5]), ["car", "van", "bus"])
        ['car', 'bus', None]
    """
    if class_names is None:
        return [None] * len(class_id)
    if isinstance(class_names, Mapping):
        return [class_names.get(int(c)) for c in class_id]
    names = list(class_names)
    return [names[int(c)] if 0 <= int(c) < len(names) else None for c in class_id]


def feature_properties(det: GeoDetections, class_names: ClassNames = None) -> dict[str, list[Any]]:
    """Per-feature columns: score, class id and name, tracker id and mask area where present.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> det = Detections(np.array([[0, 0, 2, 2]]), [0.5], [1])
        >>> feature_properties(det, ["a", "b"])
        {'score': [0.5], 'class_id': [1], 'class_name': ['b']}
    """
    props: dict[str, list[Any]] = {
        "score": [float(v) for v in det.confidence],
        "class_id": [int(v) for v in det.class_id],
        "class_name": class_name_column(det.class_id, class_names),
    }
    if "tracker_id" in det.data:
        props["tracker_id"] = [int(v) for v in det.data["tracker_id"]]
    area = getattr(det.masks, "area", None)
    if area is not None:
        props["mask_area"] = [int(v) for v in np.asarray(area)]
    return props


def _ring(points: np.ndarray) -> np.ndarray:
    return np.concatenate([points, points[:1]])


def map_polygons(det: GeoDetections) -> list[Any]:
    """Shapely polygons in the georef's CRS: a box's 4 mapped corners, or a mask's outline.

    Masks become their outer contours (a MultiPolygon when a mask has several parts); a
    detection whose mask has no contour falls back to its box.
    """
    import shapely

    georef = _require_georef(det)
    corners = georef.box_corners(det.xyxy)
    polygons = list(shapely.polygons(np.concatenate([corners, corners[:, :1]], axis=1)))
    to_polygons = getattr(det.masks, "to_polygons", None)
    if to_polygons is not None and len(det):
        for i, rings in enumerate(to_polygons()):
            parts = [shapely.Polygon(_ring(georef.pixel_to_map(r))) for r in rings if len(r) >= 3]
            if len(parts) == 1:
                polygons[i] = parts[0]
            elif parts:
                polygons[i] = shapely.MultiPolygon(parts)
    return polygons


def to_geodataframe(det: GeoDetections, class_names: ClassNames = None) -> Any:
    """A ``geopandas.GeoDataFrame`` of the detections in their georef's CRS.

    See ``Detections.to_geodataframe``.
    """
    try:
        import geopandas as gpd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise TilewiseError(
            "to_geodataframe needs geopandas (the geo extra): pip install 'tilewise[geo]'"
        ) from exc
    georef = _require_georef(det)
    return gpd.GeoDataFrame(
        feature_properties(det, class_names),
        geometry=map_polygons(det),
        crs=georef.crs or None,
    )
