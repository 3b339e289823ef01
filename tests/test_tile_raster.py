"""``dataset tile RASTER --labels``: labels in any CRS tile like the same pixels in memory."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.geo_rasters import (
    LONLAT,
    LONLAT_TRANSFORM,
    ROTATED_TRANSFORM,
    UTM,
    UTM_TRANSFORM,
    scene_with_nodata,
    write_raster,
)
from tilewise import TilewiseError
from tilewise.datasets import DatasetBuilder
from tilewise.datasets.tiling import (
    TilingConfig,
    plan_tiles,
    raster_labels,
    tile_dataset,
    tile_raster,
)
from tilewise.detections import GeoReference

pytest.importorskip("rasterio")
gpd = pytest.importorskip("geopandas")
shapely = pytest.importorskip("shapely")

CFG = TilingConfig(slice_wh=64, overlap=0.25, min_visibility=0.3, empty_ratio=0.5)
# pixel boxes: inside, across tiles, partly off the raster's right/bottom edge, wholly off it
BOXES = np.array(
    [[110, 10, 130, 30], [150, 60, 171, 75], [200, 100, 230, 131], [300, 240, 330, 270]], float
)
CLASSES = ["car", "car", "boat", "car"]
TRIANGLE = np.array([[120.0, 150.0], [160.0, 150.0], [140.0, 190.0]])


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, np.ndarray]:
    image, _ = scene_with_nodata()
    path = write_raster(tmp_path / "scene.tif", image.transpose(2, 0, 1).copy(), nodata=0)
    return path, image


def _frame(georef: GeoReference, boxes=BOXES, classes=CLASSES, triangle=True):
    geoms = [shapely.Polygon(c) for c in georef.box_corners(boxes)]
    names = list(classes)
    if triangle:
        geoms.append(shapely.Polygon(georef.pixel_to_map(TRIANGLE)))
        names.append("boat")
    return gpd.GeoDataFrame({"class": names}, geometry=geoms, crs=georef.crs)


def _mask_fractions(valid: np.ndarray):
    """``valid_fraction`` for ``tile_dataset`` from a whole-image valid mask."""

    def fraction(tile_image: np.ndarray, tile_box: np.ndarray) -> np.ndarray:
        return np.array([valid[y1:y2, x1:x2].mean() for x1, y1, x2, y2 in tile_box.tolist()])

    return fraction


def _in_memory(tmp_path: Path, image: np.ndarray) -> Path:
    """The same labels on the same pixels, as an ordinary dataset, tiled in memory
    (told the same nodata: black pixels, as in ``scene_with_nodata``)."""
    png = tmp_path / "mem" / "scene.png"
    png.parent.mkdir()
    cv2.imwrite(str(png), image[..., ::-1])
    b = DatasetBuilder(["boat", "car"])
    i = b.add_image("scene.png", 320, 256)
    for box, name in zip(BOXES, CLASSES, strict=True):
        b.add_box(i, box, ["boat", "car"].index(name))
    b.add_box(i, [120, 150, 160, 190], 0, polygon=[TRIANGLE])
    valid = (image != 0).any(axis=2)
    tile_dataset(
        b.build(root=png.parent),
        tmp_path / "mem-out",
        CFG,
        progress=False,
        valid_fraction=_mask_fractions(valid),
    )
    return tmp_path / "mem-out"


def _coco(root: Path) -> dict:
    return json.loads((root / "annotations" / "instances.json").read_text())


def _assert_same_tiles(a: Path, b: Path, atol: float) -> None:
    ca, cb = _coco(a), _coco(b)
    assert [im["file_name"] for im in ca["images"]] == [im["file_name"] for im in cb["images"]]
    assert len(ca["annotations"]) == len(cb["annotations"]) > 0
    for x, y in zip(ca["annotations"], cb["annotations"], strict=True):
        assert x["image_id"] == y["image_id"]
        assert x["category_id"] == y["category_id"]
        np.testing.assert_allclose(x["bbox"], y["bbox"], atol=atol)
        assert bool(x.get("segmentation")) == bool(y.get("segmentation"))
    for im in ca["images"]:
        ta = cv2.imread(str(a / "images" / Path(im["file_name"]).name), cv2.IMREAD_UNCHANGED)
        tb = cv2.imread(str(b / "images" / Path(im["file_name"]).name), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(ta, tb)
    acc_a = json.loads((a / "accounting.json").read_text())
    acc_b = json.loads((b / "accounting.json").read_text())
    assert acc_a["classes"] == acc_b["classes"]
    assert acc_a["tiles"] == acc_b["tiles"]


@pytest.mark.parametrize(
    ("suffix", "crs", "atol"),
    [("gpkg", UTM, 1e-6), ("geojson", LONLAT, 1e-3), ("shp", "EPSG:3857", 1e-3)],
)
def test_labels_in_any_crs_tile_like_the_same_pixels_in_memory(tmp_path, scene, suffix, crs, atol):
    path, image = scene
    labels = tmp_path / f"labels.{suffix}"
    _frame(GeoReference(UTM, UTM_TRANSFORM)).to_crs(crs).to_file(labels)
    result, placed = tile_raster(path, labels, tmp_path / "out", CFG, progress=False)
    assert placed.counts == {
        "features": 5,
        "boxes": 4,
        "polygons": 1,
        "no_geometry": 0,
        "holes_dropped": 0,
        "outside_raster": 0,
    }
    assert placed.class_column == "class"
    _assert_same_tiles(tmp_path / "out", _in_memory(tmp_path, image), atol)
    assert result.report.boxes_clipped_to_image == 1  # the one hanging off the edge
    saved = json.loads((tmp_path / "out" / "tiling.json").read_text())["extra"]["raster"]
    assert saved["placed"]["features"] == 5


def test_a_label_wholly_outside_is_a_counted_drop(tmp_path, scene):
    path, _ = scene
    georef = GeoReference(UTM, UTM_TRANSFORM)
    boxes = np.vstack([BOXES, [[400, 10, 420, 30]]])
    labels = tmp_path / "l.gpkg"
    _frame(georef, boxes, [*CLASSES, "car"], triangle=False).to_file(labels)
    result, placed = tile_raster(path, labels, tmp_path / "out", CFG, progress=False)
    assert placed.counts["outside_raster"] == 1
    assert result.report.totals()["dropped_outside_image"] == 1


def test_rotated_rasters_turn_map_boxes_into_pixel_polygons(tmp_path):
    image, _ = scene_with_nodata()
    path = write_raster(
        tmp_path / "rot.tif", image.transpose(2, 0, 1).copy(), transform=ROTATED_TRANSFORM
    )
    corners = GeoReference(UTM, ROTATED_TRANSFORM).pixel_to_map([[150, 100], [170, 120]])
    (x1, y1), (x2, y2) = corners.min(axis=0), corners.max(axis=0)
    frame = gpd.GeoDataFrame(geometry=[shapely.box(x1, y1, x2, y2)], crs=UTM)
    frame.to_file(tmp_path / "l.geojson")
    placed = raster_labels(path, tmp_path / "l.geojson")
    assert placed.counts["polygons"] == 1
    assert placed.class_column is None
    assert placed.dataset.class_names == ("object",)
    assert placed.dataset.segments.kind.tolist() == [1]


def test_geographic_rasters_take_projected_labels(tmp_path):
    image, _ = scene_with_nodata()
    path = write_raster(
        tmp_path / "ll.tif", image.transpose(2, 0, 1).copy(), crs=LONLAT, transform=LONLAT_TRANSFORM
    )
    georef = GeoReference(LONLAT, LONLAT_TRANSFORM)
    _frame(georef, triangle=False).to_crs(UTM).to_file(tmp_path / "l.gpkg")
    placed = raster_labels(path, tmp_path / "l.gpkg")
    # a box reprojected from UTM is no longer exactly axis-aligned in lon/lat pixels
    np.testing.assert_allclose(placed.dataset.boxes[:3], BOXES[:3], atol=0.05)


@pytest.mark.filterwarnings("ignore:.crs. was not provided")
def test_bad_labels_are_refused_naming_the_files(tmp_path, scene):
    path, _ = scene
    out = tmp_path / "out"
    far = GeoReference(UTM, (0.5, 0.0, 600000.0, 0.0, -0.5, 4000000.0))  # 100 km east
    _frame(far).to_file(tmp_path / "far.gpkg")
    with pytest.raises(TilewiseError, match=r"none of the 5 label\(s\) in .*far.gpkg lie on"):
        tile_raster(path, tmp_path / "far.gpkg", out, CFG, progress=False)
    assert not out.exists()
    points = gpd.GeoDataFrame(geometry=[shapely.Point(500010, 3999990)], crs=UTM)
    points.to_file(tmp_path / "points.gpkg")
    with pytest.raises(TilewiseError, match=r"points\.gpkg: labels must be polygons"):
        raster_labels(path, tmp_path / "points.gpkg")
    no_crs = _frame(GeoReference(UTM, UTM_TRANSFORM)).set_crs(None, allow_override=True)
    no_crs.to_file(tmp_path / "nocrs.shp")
    with pytest.raises(TilewiseError, match=r"nocrs\.shp has no CRS"):
        raster_labels(path, tmp_path / "nocrs.shp")
    with pytest.raises(TilewiseError, match="has no column 'kind'"):
        raster_labels(path, tmp_path / "far.gpkg", class_column="kind")
    (tmp_path / "junk.gpkg").write_bytes(b"not a geopackage")
    with pytest.raises(TilewiseError, match=r"junk\.gpkg is not a vector file"):
        raster_labels(path, tmp_path / "junk.gpkg")
    image, _ = scene_with_nodata()
    plain = write_raster(tmp_path / "plain.tif", image.transpose(2, 0, 1).copy(), crs=None)
    with pytest.raises(TilewiseError, match=r"plain\.tif has no CRS"):
        raster_labels(plain, tmp_path / "far.gpkg")
    assert not out.exists()


def test_cli_tiles_a_raster_and_resumes_only_the_same_job(tmp_path, scene):
    from tilewise.cli.app import app

    path, image = scene
    _frame(GeoReference(UTM, UTM_TRANSFORM)).to_file(tmp_path / "l.gpkg")
    out = tmp_path / "out"
    args = ["dataset", "tile", str(path), str(out), "--labels", str(tmp_path / "l.gpkg")]
    args += ["--slice", "64", "--overlap", "0.25", "--empty-ratio", "0.5", "--no-progress"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "labels: 5 read" in first.output
    _assert_same_tiles(out, _in_memory(tmp_path, image), 1e-6)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "already complete" in again.output
    other = CliRunner().invoke(app, [*args, "--bands", "3,2,1"])
    assert other.exit_code == 2
    assert "--overwrite" in " ".join(other.output.split())
    wrong = CliRunner().invoke(
        app, ["dataset", "tile", str(path), str(tmp_path / "o2"), "--bands", "1,2,3"]
    )
    assert wrong.exit_code == 2
    assert "go with --labels" in wrong.output


def _tile_origin(file_name: str) -> tuple[int, int]:
    """(x, y) of a tile named ``<stem>_<x>_<y>.<ext>``."""
    x, y = Path(file_name).stem.rsplit("_", 2)[1:]
    return int(x), int(y)


def _tile_fractions(root: Path) -> dict[str, float]:
    """Valid (not black) fraction of every written tile without annotations."""
    coco = _coco(root)
    labelled = {a["image_id"] for a in coco["annotations"]}
    out = {}
    for im in coco["images"]:
        if im["id"] not in labelled:
            tile = cv2.imread(str(root / "images" / Path(im["file_name"]).name))
            out[im["file_name"]] = float((tile != 0).any(axis=2).mean())
    return out


@pytest.mark.parametrize("min_valid", [0.0, 0.5])
def test_empty_tiles_over_nodata_are_never_sampled_and_are_counted(tmp_path, scene, min_valid):
    # regression: empty-tile sampling picked all-nodata tiles as negatives
    path, image = scene
    labels = tmp_path / "l.gpkg"
    _frame(GeoReference(UTM, UTM_TRANSFORM), triangle=False).to_file(labels)
    cfg = TilingConfig(slice_wh=64, overlap=0.25, min_visibility=0.3, empty_ratio=100.0)
    result, placed = tile_raster(
        path, labels, tmp_path / "out", cfg, progress=False, min_valid=min_valid
    )
    # expected from the grid and the scene's own valid mask, independently of the reader
    valid = (image != 0).any(axis=2)
    positive = plan_tiles(placed.dataset, cfg).tile_positive
    grid = cfg.grid((320, 256)).boxes
    fraction = np.array([valid[y1:y2, x1:x2].mean() for x1, y1, x2, y2 in grid.tolist()])
    no_data = int(np.sum(~positive & (fraction == 0)))
    sparse = int(np.sum(~positive & (fraction > 0) & (fraction < min_valid)))
    assert no_data == 5  # the left 100 nodata columns hold one column of 64-px tiles
    assert (sparse > 0) == (min_valid > 0)
    tiles = result.report.tiles
    assert (tiles["empty_nodata"], tiles["empty_sparse"]) == (no_data, sparse)
    # empty_ratio 100: every empty tile that holds enough data is written, and only those
    assert tiles["empty_kept"] == tiles["empty"] - no_data - sparse
    written = _tile_fractions(tmp_path / "out")
    assert len(written) == tiles["empty_kept"]
    assert min(written.values()) >= max(min_valid, 1e-9)
    saved = json.loads((tmp_path / "out" / "accounting.json").read_text())["tiles"]
    assert saved["empty_nodata"] == no_data


def test_nodata_ignored_samples_every_empty_tile(tmp_path, scene):
    path, _ = scene
    labels = tmp_path / "l.gpkg"
    _frame(GeoReference(UTM, UTM_TRANSFORM), triangle=False).to_file(labels)
    cfg = TilingConfig(slice_wh=64, overlap=0.25, min_visibility=0.3, empty_ratio=100.0)
    result, _ = tile_raster(path, labels, tmp_path / "out", cfg, progress=False, nodata="ignore")
    tiles = result.report.tiles
    assert (tiles["empty_nodata"], tiles["empty_sparse"]) == (0, 0)
    assert tiles["empty_kept"] == tiles["empty"]


def test_min_valid_out_of_range_is_refused(tmp_path, scene):
    path, _ = scene
    labels = tmp_path / "l.gpkg"
    _frame(GeoReference(UTM, UTM_TRANSFORM), triangle=False).to_file(labels)
    with pytest.raises(TilewiseError, match=r"min_valid must be a fraction in \[0, 1\]"):
        tile_raster(path, labels, tmp_path / "out", CFG, progress=False, min_valid=1.5)


def test_cli_scale_and_min_valid_go_to_the_raster(tmp_path):
    # --scale pLO,pHI with --labels: the tiles are the raster read with that stretch
    from tilewise.cli.app import app
    from tilewise.sources import Window
    from tilewise.sources.raster import RasterSource

    image, _ = scene_with_nodata()
    bands = (image.transpose(2, 0, 1).astype(np.uint16) * 200).copy()
    path = write_raster(tmp_path / "deep.tif", bands, nodata=0)
    _frame(GeoReference(UTM, UTM_TRANSFORM), triangle=False).to_file(tmp_path / "l.gpkg")
    out = tmp_path / "out"
    args = ["dataset", "tile", str(path), str(out), "--labels", str(tmp_path / "l.gpkg")]
    args += ["--slice", "64", "--overlap", "0.25", "--empty-ratio", "100", "--no-progress"]
    done = CliRunner().invoke(app, [*args, "--scale", "p5,p95", "--min-valid", "0.5"])
    assert done.exit_code == 0, done.output
    assert "empty tiles not sampled: 5 all nodata" in done.output
    saved = json.loads((out / "tiling.json").read_text())["extra"]["raster"]
    assert (saved["percentiles"], saved["min_valid"]) == ([5.0, 95.0], 0.5)
    coco = _coco(out)
    first = coco["images"][0]
    tile = cv2.imread(str(out / "images" / Path(first["file_name"]).name))[..., ::-1]
    h, w = tile.shape[:2]
    with RasterSource(path, percentiles=(5, 95)) as src:
        x, y = _tile_origin(first["file_name"])
        np.testing.assert_array_equal(tile, src.read(Window(x, y, w, h)))
    with RasterSource(path) as default:  # the 2-98 stretch differs: --scale was used
        assert not np.array_equal(tile, default.read(Window(x, y, w, h)))
    both = CliRunner().invoke(
        app, [*args[:2], str(tmp_path / "o2"), *args[3:], "--scale", "p5,p95", "--range", "0,9"]
    )
    assert both.exit_code != 0
    assert "not both" in " ".join(both.output.split())
    plain = CliRunner().invoke(
        app, ["dataset", "tile", str(path), str(tmp_path / "o3"), "--min-valid", "0.5"]
    )
    assert plain.exit_code == 2
    assert "go with --labels" in plain.output
