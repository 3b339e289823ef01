"""Georeferenced output: GeoDataFrame polygons, GeoPackage, GeoParquet and RFC 7946 GeoJSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.geo_rasters import LONLAT, LONLAT_TRANSFORM, ROTATED_TRANSFORM, UTM, UTM_TRANSFORM
from tilewise import Detections, TilewiseError
from tilewise.detections import GeoReference

gpd = pytest.importorskip("geopandas")
pytest.importorskip("pyproj")
pytest.importorskip("pyarrow")

from tilewise.geo import (  # noqa: E402
    GeoFormat,
    from_lonlat,
    write_detections,
    write_geojson,
    write_geopackage,
    write_geoparquet,
)

GEOREFS = {
    "projected": GeoReference(UTM, UTM_TRANSFORM),
    "geographic": GeoReference(LONLAT, LONLAT_TRANSFORM),
    "rotated": GeoReference(UTM, ROTATED_TRANSFORM),
}
NAMES = ["car", "van"]


def _detections(georef: GeoReference, n: int = 25, seed: int = 0) -> Detections:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 900, size=(n, 2))
    wh = rng.uniform(2, 40, size=(n, 2))
    return Detections(
        np.concatenate([xy, xy + wh], axis=1),
        rng.uniform(0.1, 1.0, n),
        rng.integers(0, 3, n),
        georef=georef,
    )


def _pixel_boxes_from_geojson(path, georef: GeoReference) -> np.ndarray:
    """Back from lon/lat to pixel boxes: reproject every corner, invert the transform."""
    boxes = []
    for feature in json.loads(path.read_text())["features"]:
        ring = np.asarray(feature["geometry"]["coordinates"][0])
        px = georef.map_to_pixel(from_lonlat(ring, georef.crs))
        boxes.append([*px.min(axis=0), *px.max(axis=0)])
    return np.asarray(boxes)


@pytest.mark.parametrize("kind", sorted(GEOREFS))
def test_geodataframe_polygons_are_the_mapped_corners(kind):
    georef = GEOREFS[kind]
    det = _detections(georef)
    gdf = det.to_geodataframe(NAMES)
    assert gdf.crs == georef.crs
    assert list(gdf.columns) == ["score", "class_id", "class_name", "geometry"]
    np.testing.assert_allclose(gdf.score, det.confidence)
    names = [v if isinstance(v, str) else None for v in gdf.class_name]
    assert names == [NAMES[c] if c < 2 else None for c in det.class_id]
    corners = georef.box_corners(det.xyxy)
    for polygon, expected in zip(gdf.geometry, corners, strict=True):
        got = np.asarray(polygon.exterior.coords)[:4]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    if kind == "rotated":  # a rotated box is not an axis-aligned rectangle on the map
        poly = gdf.geometry[0]
        assert poly.area < poly.envelope.area * 0.99


@pytest.mark.parametrize("kind", sorted(GEOREFS))
def test_geojson_round_trips_to_pixel_boxes_within_half_a_pixel(tmp_path, kind):
    georef = GEOREFS[kind]
    det = _detections(georef)
    path = write_geojson(tmp_path / "d.geojson", det, class_names=NAMES)
    doc = json.loads(path.read_text())
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc  # RFC 7946: always WGS 84 lon/lat
    feature = doc["features"][0]
    assert set(feature["properties"]) == {"score", "class_id", "class_name"}
    ring = np.asarray(feature["geometry"]["coordinates"][0])
    assert ring[0].tolist() == ring[-1].tolist()
    assert ring[:, 0].min() >= -180
    assert ring[:, 0].max() <= 180
    x, y = ring[:, 0], ring[:, 1]
    assert np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]) > 0  # counter-clockwise exterior
    back = _pixel_boxes_from_geojson(path, georef)
    assert np.abs(back - det.xyxy).max() < 0.5


@pytest.mark.parametrize("fmt", ["gpkg", "parquet"])
def test_native_crs_writers_round_trip(tmp_path, fmt):
    det = _detections(GEOREFS["rotated"])
    det.data["tracker_id"] = np.arange(len(det)) + 100
    path = write_detections(tmp_path / f"d.{fmt}", det, class_names=NAMES)
    back = gpd.read_file(path) if fmt == "gpkg" else gpd.read_parquet(path)
    assert back.crs.to_epsg() == 32633
    assert back.tracker_id.tolist() == list(range(100, 100 + len(det)))
    expected = det.to_geodataframe(NAMES)
    for a, b in zip(back.geometry, expected.geometry, strict=True):
        assert a.equals_exact(b, 1e-6)
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_masks_become_their_outlines_with_area():
    from tilewise.masks import CompactMasks

    georef = GEOREFS["projected"]
    dense = np.zeros((2, 20, 20), bool)
    dense[0, 2:6, 3:9] = True
    dense[1, 10:12, 10:12] = True
    dense[1, 15:18, 15:18] = True  # two parts: a MultiPolygon
    boxes = np.array([[3, 2, 9, 6], [10, 10, 18, 18]], np.float32)
    det = Detections(boxes, [0.9, 0.8], masks=CompactMasks.from_dense(dense, boxes), georef=georef)
    gdf = det.to_geodataframe()
    assert gdf.mask_area.tolist() == [24, 13]
    assert gdf.geometry[0].geom_type == "Polygon"
    assert gdf.geometry[0].area == pytest.approx(24 * 0.25)  # 0.5 m pixels
    assert gdf.geometry[1].geom_type == "MultiPolygon"


def test_refusals_leave_nothing_written(tmp_path):
    bare = Detections(np.array([[0, 0, 1, 1]]))
    with pytest.raises(TilewiseError, match="carry no georef"):
        bare.to_geodataframe()
    with pytest.raises(TilewiseError, match="carry no georef"):
        write_geojson(tmp_path / "a.geojson", bare)
    local = GeoReference('LOCAL_CS["site grid",UNIT["metre",1]]', UTM_TRANSFORM)
    det = _detections(local, n=3)
    with pytest.raises(TilewiseError, match=r"b\.geojson: CRS .* cannot be transformed"):
        write_geojson(tmp_path / "b.geojson", det)
    no_crs = _detections(GeoReference("", UTM_TRANSFORM), n=2)
    with pytest.raises(TilewiseError, match="has no CRS"):
        write_geopackage(tmp_path / "c.gpkg", no_crs)
    with pytest.raises(TilewiseError, match="format must be one of"):
        write_detections(tmp_path / "d.shp", _detections(GEOREFS["projected"], n=1))
    assert not list(tmp_path.iterdir())


def test_write_is_atomic_when_the_writer_fails(tmp_path, monkeypatch):
    det = _detections(GEOREFS["projected"], n=4)
    target = write_geoparquet(tmp_path / "d.parquet", det)
    before = target.read_bytes()

    def boom(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        write_geoparquet(target, _detections(GEOREFS["projected"], n=9))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.parquet"]


def test_format_choice():
    assert GeoFormat.parse("GPKG") is GeoFormat.GPKG
    assert GeoFormat.PARQUET.suffix == ".parquet"
