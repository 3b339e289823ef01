"""Tiling a labelled raster: vector labels placed on its pixels, tiles read window by window.

A GIS user's training data is an orthomosaic or a satellite scene plus a vector file of
labels (GeoPackage, GeoJSON, shapefile: anything GDAL's vector drivers read), polygons or
boxes, in any CRS. ``raster_labels`` reprojects the labels to the raster's CRS and maps
them to pixels through the raster's affine transform (rotated transforms included); a
polygon whose pixel outline is an axis-aligned rectangle becomes a plain box, any other
keeps its outline as a segment. ``tile_raster`` then tiles the one-image dataset with
``tile_dataset`` (the same ``SliceGrid``, rules and accounting as any dataset), reading
each tile as one window through ``tilewise.sources.raster.RasterSource``.

Needs the ``geo`` extra (rasterio, geopandas, pyproj, shapely).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.datasets.dataset import Dataset, DatasetBuilder
from tilewise.datasets.formats.policy import OnError
from tilewise.datasets.tiling.config import TilingConfig
from tilewise.datasets.tiling.run import TilingResult, tile_dataset
from tilewise.errors import TilewiseError

__all__ = ["CLASS_COLUMNS", "RasterLabels", "raster_labels", "tile_raster"]

CLASS_COLUMNS = ("class_name", "class", "label", "category", "name", "type")
"""Columns tried, in order, for the class of each label when none is named."""

DEFAULT_CLASS = "object"
"""The one class of labels without a class column."""

_BOX_TOLERANCE = 1e-6
"""Relative area difference under which a 4-cornered pixel outline is its bounding box."""


@dataclass
class RasterLabels:
    """Vector labels placed on a raster's pixels (``raster_labels``).

    Attributes:
        dataset: one image (the raster, by file name, ``root`` its folder) and one
            annotation per feature, in raster pixels; features without geometry have
            NaN boxes (counted as degenerate when tiled), labels wholly outside the
            raster keep their boxes (counted as outside the image).
        labels: the vector file.
        layer: the layer read (None: the file's first).
        crs: the labels' CRS as read; they were reprojected when it differs from the
            raster's.
        class_column: the column the classes came from (None: one class, ``object``).
        counts: features read, boxes, polygons, features without geometry, features
            wholly outside the raster, polygon holes dropped (COCO cannot hold them).
    """

    dataset: Dataset
    labels: Path
    layer: str | None
    crs: str
    class_column: str | None
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        return {
            "labels": str(self.labels),
            "layer": self.layer,
            "crs": self.crs,
            "class_column": self.class_column,
            "classes": list(self.dataset.class_names),
            **self.counts,
        }


def _read_frame(labels: Path, layer: str | None) -> Any:
    try:
        import geopandas as gpd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise TilewiseError(
            "tiling a raster with vector labels needs the geo extra: pip install 'tilewise[geo]'"
        ) from exc
    if not labels.exists():
        raise TilewiseError(f"{labels}: no such vector label file")
    try:
        return gpd.read_file(labels, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio/GDAL raise many kinds
        raise TilewiseError(
            f"{labels} is not a vector file GDAL can read (GeoPackage, GeoJSON, shapefile...)"
            f"{'' if layer is None else f' with a layer {layer!r}'}: {exc}"
        ) from exc


def _class_column(frame: Any, column: str | None, labels: Path) -> str | None:
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if column is not None:
        if column not in columns:
            raise TilewiseError(
                f"{labels} has no column {column!r} for the classes; its columns: {columns}"
            )
        return column
    return next((c for c in CLASS_COLUMNS if c in columns), None)


def _classes(frame: Any, column: str | None, labels: Path) -> tuple[list[str], np.ndarray]:
    if column is None:
        return [DEFAULT_CLASS], np.zeros(len(frame), dtype=np.int64)
    values = frame[column]
    missing = values.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)[:5].tolist()
        raise TilewiseError(
            f"{labels}: {int(missing.sum())} feature(s) have no {column!r} (class), e.g. rows "
            f"{rows}; fill them or choose another column with class_column (--class-column)"
        )
    text = np.array([str(v) for v in values.tolist()], dtype=object)
    names = sorted(set(text.tolist()))
    index = {n: i for i, n in enumerate(names)}
    return names, np.array([index[t] for t in text.tolist()], dtype=np.int64)


def _reproject(frame: Any, crs: str, labels: Path, raster: str) -> tuple[Any, str]:
    if frame.crs is None:
        raise TilewiseError(
            f"{labels} has no CRS, so its labels cannot be placed on {raster}; "
            "give the file a CRS (e.g. a .prj next to a shapefile)"
        )
    source_crs = frame.crs.to_string()
    try:
        if not frame.crs.equals(crs):
            frame = frame.to_crs(crs)
    except Exception as exc:  # pyproj raises CRSError/ProjError, shapely others
        raise TilewiseError(
            f"{labels}: its CRS {source_crs[:80]!r} cannot be transformed to the CRS of "
            f"{raster} ({crs[:80]!r}): {exc}"
        ) from exc
    return frame, source_crs


def _pixel_rings(geometry: Any, georef: Any) -> tuple[list[np.ndarray], int]:
    """Exterior rings of a (multi)polygon in pixels, and the holes left out."""
    parts = list(geometry.geoms) if geometry.geom_type == "MultiPolygon" else [geometry]
    rings, holes = [], 0
    for part in parts:
        if part.is_empty:
            continue
        coords = np.asarray(part.exterior.coords, dtype=np.float64)[:-1, :2]
        rings.append(georef.map_to_pixel(coords))
        holes += len(part.interiors)
    return rings, holes


def _is_box(rings: list[np.ndarray]) -> bool:
    """One 4-cornered ring that fills its bounding box (an axis-aligned rectangle)."""
    if len(rings) != 1 or len(rings[0]) != 4:
        return False
    ring = rings[0]
    x, y = ring[:, 0], ring[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    box = (x.max() - x.min()) * (y.max() - y.min())
    return bool(box > 0 and abs(area - box) <= _BOX_TOLERANCE * box)


def raster_labels(
    raster: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    *,
    class_column: str | None = None,
    layer: str | None = None,
    bands: tuple[int, int, int] | None = None,
) -> RasterLabels:
    """Read vector labels and place them on a raster's pixels as a one-image dataset.

    Args:
        raster: the raster (GeoTIFF, COG, anything GDAL reads) the labels lie on.
        labels: a vector file of polygons (boxes are 4-cornered polygons), any CRS.
        class_column: the attribute holding each label's class (default: the first of
            ``CLASS_COLUMNS`` present, else one class ``object``).
        layer: the layer of a multi-layer file (default: the first).
        bands: the raster's bands as R, G, B, checked here (see ``RasterSource``).

    Raises:
        TilewiseError: unreadable raster or labels; no CRS on either; a CRS that cannot
            be transformed to the raster's; geometries other than polygons; features
            without a class; or no label at all on the raster (the wrong file or CRS).

    Example:
        >>> import pytest; _ = pytest.importorskip("geopandas"); _ = pytest.importorskip("rasterio")
        >>> import tempfile, pathlib, numpy as np, rasterio, geopandas as gpd, shapely
        >>> from rasterio.transform import Affine
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with rasterio.open(d / "r.tif", "w", driver="GTiff", width=64, height=32, count=3,
        ...         dtype="uint8", crs="EPSG:32633",
        ...         transform=Affine(0.5, 0, 500000, 0, -0.5, 4000000)) as ds:
        ...     ds.write(np.zeros((3, 32, 64), np.uint8))
        >>> frame = gpd.GeoDataFrame({"class": ["car"]},
        ...     geometry=[shapely.box(500001, 3999990, 500003, 3999995)], crs="EPSG:32633")
        >>> frame.to_file(d / "cars.gpkg")
        >>> placed = raster_labels(d / "r.tif", d / "cars.gpkg")
        >>> placed.dataset.boxes.tolist(), placed.dataset.class_names, placed.counts["boxes"]
        ([[2.0, 10.0, 6.0, 20.0]], ('car',), 1)
    """
    from tilewise.sources.raster import RasterSource

    raster_path, labels_path = Path(raster), Path(labels)
    with RasterSource(raster_path, bands=bands, nodata="ignore") as src:
        image_wh, georef = src.image_wh, src.georef
    if georef is None:
        raise TilewiseError(f"{raster_path} has no CRS, so vector labels cannot be placed on it")
    frame = _read_frame(labels_path, layer)
    column = _class_column(frame, class_column, labels_path)
    frame, source_crs = _reproject(frame, georef.crs, labels_path, str(raster_path))
    kinds = frame.geometry.geom_type.fillna("None")
    bad = ~kinds.isin(["Polygon", "MultiPolygon", "None"])
    if bad.any():
        found = sorted(set(kinds[bad].tolist()))
        raise TilewiseError(
            f"{labels_path}: labels must be polygons or boxes; {int(bad.sum())} feature(s) "
            f"are {', '.join(found)}"
        )
    names, class_id = _classes(frame, column, labels_path)
    n = len(frame)
    xyxy = np.full((n, 4), np.nan)
    polygons: list[list[np.ndarray] | None] = [None] * n
    counts = {"features": n, "boxes": 0, "polygons": 0, "no_geometry": 0, "holes_dropped": 0}
    for i, geometry in enumerate(frame.geometry.tolist()):
        if geometry is None or geometry.is_empty:
            counts["no_geometry"] += 1
            continue
        rings, holes = _pixel_rings(geometry, georef)
        counts["holes_dropped"] += holes
        points = np.concatenate(rings)
        xyxy[i] = [*points.min(axis=0), *points.max(axis=0)]
        if _is_box(rings):
            counts["boxes"] += 1
        else:
            counts["polygons"] += 1
            polygons[i] = rings
    w, h = image_wh
    with np.errstate(invalid="ignore"):
        outside = (xyxy[:, 2] <= 0) | (xyxy[:, 3] <= 0) | (xyxy[:, 0] >= w) | (xyxy[:, 1] >= h)
    placed = np.isfinite(xyxy).all(axis=1)
    counts["outside_raster"] = int(np.sum(outside & placed))
    if placed.any() and not (placed & ~outside).any():
        lo, hi = np.nanmin(xyxy[:, :2], axis=0), np.nanmax(xyxy[:, 2:], axis=0)
        raise TilewiseError(
            f"none of the {int(placed.sum())} label(s) in {labels_path} lie on {raster_path} "
            f"({w}x{h} px): they span pixels x {lo[0]:.0f}..{hi[0]:.0f}, "
            f"y {lo[1]:.0f}..{hi[1]:.0f} once reprojected from {source_crs[:60]!r}. "
            "Wrong file, or a wrong CRS in the labels?"
        )
    builder = DatasetBuilder(names)
    image = builder.add_image(raster_path.name, w, h)
    builder.add_boxes(image, xyxy, class_id, polygons=polygons)
    return RasterLabels(
        builder.build(root=raster_path.parent.resolve()),
        labels_path,
        layer,
        source_crs,
        column,
        counts,
    )


def tile_raster(
    raster: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    config: TilingConfig | None = None,
    *,
    class_column: str | None = None,
    layer: str | None = None,
    bands: tuple[int, int, int] | None = None,
    value_range: tuple[float, float] | None = None,
    percentiles: tuple[float, float] | None = None,
    nodata: float | str = "auto",
    min_valid: float = 0.0,
    format: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> tuple[TilingResult, RasterLabels]:
    """Cut a labelled raster into training tiles and COCO (or YOLO/VOC) annotations.

    The labels are placed on the raster by ``raster_labels``; tiling is ``tile_dataset``
    on that one-image dataset (same grid, visibility/size rules, empty-tile sampling,
    resumable atomic writes and per-class accounting; labels partly outside the raster
    are clipped and counted, wholly outside ones dropped as ``outside_image``). Tiles are
    read one window each through ``RasterSource`` (chosen bands, 16-bit/float scaling)
    and written as PNG unless ``config.image_ext`` says otherwise. The raster options and
    the label counts (``RasterLabels.to_dict``) are saved in ``tiling.json`` under
    ``extra.raster``; changing them, the labels or the raster asks for ``overwrite``.

    Empty (negative) tiles are sampled only among tiles that hold data: with the
    raster's nodata (``nodata``), each empty tile's valid-pixel mask is read first, and
    a tile with no valid pixel (``report.tiles["empty_nodata"]``) or under ``min_valid``
    (``report.tiles["empty_sparse"]``) is never picked. Tiles with labels are kept
    whatever their nodata.

    Args:
        raster: the raster.
        labels: the vector labels (see ``raster_labels``).
        dst: output directory (empty, or an earlier run of the same job).
        config: tiling rules (default ``TilingConfig()``).
        class_column: the labels' class attribute (see ``raster_labels``).
        layer: the labels' layer.
        bands: the raster's bands as R, G, B.
        value_range: band values mapped to 0..255 (default: 8-bit as is, wider data a
            percentile stretch; see ``RasterSource``).
        percentiles: that stretch's low and high percentiles (default
            ``RasterSource``'s, 2 and 98); not with ``value_range``.
        nodata: ``"auto"``, ``"ignore"`` or a nodata value (see ``RasterSource``).
        min_valid: empty tiles whose valid-pixel fraction is under this are not sampled
            (those with none never are).
        format: ``coco`` (default), ``yolo`` or ``voc``.
        workers: image writer threads.
        progress: show a progress bar.
        overwrite: replace an earlier tiling in ``dst`` made with another config.

    Returns:
        The tiling result and the placed labels.

    Raises:
        TilewiseError: see ``raster_labels``; both ``value_range`` and ``percentiles``;
            ``min_valid`` outside [0, 1]; a raster that fails to read mid-way.
    """
    from tilewise.sources.raster import RasterSource

    if value_range is not None and percentiles is not None:
        raise TilewiseError("give a value range or percentiles for the stretch, not both")
    placed = raster_labels(raster, labels, class_column=class_column, layer=layer, bands=bands)
    cfg = config or TilingConfig()
    if cfg.image_ext is None:
        cfg = dataclasses.replace(cfg, image_ext=".png")
    options = {
        "bands": None if bands is None else list(bands),
        "value_range": None if value_range is None else list(value_range),
        "nodata": nodata,
        "placed": placed.to_dict(),
    }
    if percentiles is not None:
        options["percentiles"] = [float(p) for p in percentiles]
    if min_valid:
        options["min_valid"] = float(min_valid)
    cfg = dataclasses.replace(cfg, extra={**cfg.extra, "raster": options})
    stretch = {} if percentiles is None else {"percentiles": percentiles}

    def open_raster(path: Path) -> RasterSource:
        return RasterSource(path, bands=bands, value_range=value_range, nodata=nodata, **stretch)

    def valid_fraction(tile_image: np.ndarray, tile_box: np.ndarray) -> np.ndarray:
        return _valid_fractions(open_raster(Path(raster)), tile_box)

    result = tile_dataset(
        placed.dataset,
        dst,
        cfg,
        format=format or "coco",
        workers=workers,
        progress=progress,
        overwrite=overwrite,
        on_error=OnError.RAISE,
        open_source=open_raster,
        valid_fraction=valid_fraction,
        min_valid=min_valid,
    )
    return result, placed


def _valid_fractions(source: Any, tile_box: np.ndarray) -> np.ndarray:
    """Fraction of valid pixels in each window of ``tile_box`` (1.0 without nodata)."""
    from tilewise.sources import Window

    with source:
        out = np.ones(len(tile_box), dtype=np.float64)
        if not source.has_nodata:
            return out
        for k, box in enumerate(tile_box):
            valid = source.valid_mask(Window.from_xyxy(box))
            if valid is not None:
                out[k] = np.count_nonzero(valid) / valid.size
        return out
