"""Image sources: the protocol, arrays and files, and the Slicer reading from any source."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.source_helpers import GEO, MinimalSource
from tilewise import Detections, TilewiseError
from tilewise.detections import GeoReference
from tilewise.sources import ArraySource, ImageFileSource, ImageSource, Window, as_source


def test_window_from_grid_box_and_bounds():
    win = Window.from_xyxy(np.array([10, 20, 74, 84]))
    assert win == Window(10, 20, 64, 64)
    assert win.xyxy == (10, 20, 74, 84)
    assert Window.full((30, 40)) == Window(0, 0, 30, 40)
    with pytest.raises(TilewiseError, match="not inside"):
        Window(0, 0, 31, 40).check_inside((30, 40))
    with pytest.raises(TilewiseError, match="not inside"):
        Window(-1, 0, 3, 3).check_inside((30, 40))


def test_array_source_reads_read_only_views():
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    src = ArraySource(image)
    out = src.read(Window(2, 1, 3, 4))
    assert np.shares_memory(out, image)
    assert not out.flags.writeable
    np.testing.assert_array_equal(out, image[1:5, 2:5])
    assert src.valid_mask(Window(0, 0, 8, 6)) is None
    assert isinstance(src, ImageSource)
    with pytest.raises(TilewiseError, match="valid must be a"):
        ArraySource(image, valid=np.ones((6, 7), bool))
    with pytest.raises(TilewiseError, match="uint8"):
        ArraySource(image.astype(np.float32))


def test_as_source_dispatch(tmp_path):
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.zeros((4, 5, 3), np.uint8))
    assert isinstance(as_source(np.zeros((2, 2, 3), np.uint8))[0], ArraySource)
    assert isinstance(as_source(path)[0], ImageFileSource)
    mine = MinimalSource(np.zeros((3, 3, 3), np.uint8))
    assert as_source(mine) == (mine, False)
    with pytest.raises(TilewiseError, match="image source"):
        as_source(42)


def test_georef_transforms_and_shift_keeps_map_positions():
    det = Detections(np.array([[10, 20, 30, 40]]), georef=GEO.translated(100, 50))
    moved = det.shifted(100, 50)
    np.testing.assert_allclose(
        moved.georef.box_corners(moved.xyxy), det.georef.box_corners(det.xyxy)
    )
    assert moved.georef == GEO
    rot = GeoReference("EPSG:3857", (0.0, 1.0, 10.0, 1.0, 0.0, 20.0))
    assert rot.rotated
    assert not GEO.rotated
    pts = np.array([[3.0, 4.0], [0.5, 9.25]])
    np.testing.assert_allclose(rot.map_to_pixel(rot.pixel_to_map(pts)), pts)
    assert GeoReference.from_gdal("EPSG:4326", (10, 0.1, 0, 50, 0, -0.1)).pixel_size == (
        pytest.approx(0.1),
        pytest.approx(0.1),
    )
    with pytest.raises(TilewiseError, match="degenerate"):
        GeoReference("EPSG:4326", (1, 1, 0, 1, 1, 0))
    with pytest.raises(TilewiseError, match="six finite"):
        GeoReference("EPSG:4326", (1, 0, float("nan"), 0, 1, 0))
    with pytest.raises(TilewiseError, match="georef must be"):
        Detections(np.zeros((0, 4)), georef={"crs": "EPSG:4326"})


def test_concatenate_carries_and_checks_georef():
    a = Detections(np.array([[0, 0, 1, 1]]), georef=GEO)
    b = Detections(np.array([[2, 2, 3, 3]]))
    assert Detections.concatenate([a, b]).georef == GEO
    assert Detections.concatenate([a[:0]]).georef == GEO
    other = Detections(np.array([[0, 0, 1, 1]]), georef=GEO.translated(1, 0))
    with pytest.raises(TilewiseError, match="differently georeferenced"):
        Detections.concatenate([a, other])
    assert a != Detections(a.xyxy)
