"""Annotation processing for tiling: which boxes, polygons and masks go into which tile.

Everything here is vectorised over annotations and tiles; no pixels are touched. Box-tile
pairs are found per image from the slice grid's sorted column and row starts (a box only
meets the tiles whose span it overlaps), so the work is proportional to the pairs, not to
boxes x tiles.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from tilewise.datasets.dataset import Dataset, ImageTable
from tilewise.datasets.formats.layout import layout_name
from tilewise.datasets.geometry import (
    clip_polygons,
    polygons_to_shapely,
    repair_polygons,
    shapely_to_rings,
)
from tilewise.datasets.segments import SegmentKind, Segments, gather_ranges
from tilewise.datasets.tiling.accounting import AnnotationStatus, DropReason, TilingReport
from tilewise.datasets.tiling.config import TilingConfig
from tilewise.datasets.tiling.splits import assign_splits
from tilewise.errors import TilewiseError
from tilewise.masks.rle import rle_area, rle_bbox, rle_crop

__all__ = ["TilePlan", "TileValidity", "plan_tiles"]

_EPS = 1e-9
# Which failure explains a dropped annotation best (higher wins).
_PRIORITY = {
    DropReason.LOW_VISIBILITY: 1,
    DropReason.EMPTY_SEGMENT: 2,
    DropReason.TOO_SMALL: 3,
}


@dataclass(frozen=True, eq=False)
class TilePlan:
    """Result of ``plan_tiles``: every candidate tile and every kept box piece.

    Attributes:
        config: the tiling config.
        source: the source dataset (with splits assigned when the config asks for it).
        tile_image: (T,) source image of each candidate tile.
        tile_box: (T, 4) int64 tile windows in source pixels (xyxy).
        tile_positive: (T,) whether the tile holds at least one kept piece.
        tile_selected: (T,) whether the tile is written (all positive tiles plus the
            sampled empty ones).
        piece_tile: (K,) tile of each kept piece, ascending.
        piece_ann: (K,) source annotation of each kept piece.
        piece_box: (K, 4) float64 piece boxes in tile pixels.
        piece_clipped: (K,) whether the piece was clipped by its tile.
        piece_segments: (K) polygons / masks of the pieces, in tile pixels.
        report: the accounting.
    """

    config: TilingConfig
    source: Dataset
    tile_image: np.ndarray
    tile_box: np.ndarray
    tile_positive: np.ndarray
    tile_selected: np.ndarray
    piece_tile: np.ndarray
    piece_ann: np.ndarray
    piece_box: np.ndarray
    piece_clipped: np.ndarray
    piece_segments: Segments
    report: TilingReport

    @property
    def selected(self) -> np.ndarray:
        """Indices of the tiles to write, in plan order."""
        return np.flatnonzero(self.tile_selected)

    def tile_names(self, tiles: np.ndarray | None = None) -> list[str]:
        """File names (``<split>/<dir>/<stem>_<x>_<y><ext>``) of tiles (default: selected).

        Example:
            >>> from tilewise.datasets import DatasetBuilder
            >>> b = DatasetBuilder(["a"]); i = b.add_image("d/im.jpg", 20, 10, split="train")
            >>> b.add_box(i, [1, 1, 4, 4], 0)
            >>> plan = plan_tiles(b.build(), TilingConfig(slice_wh=10, overlap=0))
            >>> plan.tile_names()
            ['train/d/im_0_0.jpg']
        """
        tiles = self.selected if tiles is None else np.asarray(tiles, dtype=np.int64)
        src = self.source
        stems: dict[int, tuple[str, str, str]] = {}
        used: dict[tuple[str, str], int] = {}
        for i in np.unique(self.tile_image[tiles]).tolist():
            split = str(src.images.split[i])
            rel = layout_name(str(src.images.file_name[i]), split)
            key = (split, (rel.parent / rel.stem).as_posix())
            used[key] = used.get(key, 0) + 1
            stem = rel.stem if used[key] == 1 else f"{rel.stem}_{used[key] - 1}"
            ext = self.config.image_ext or (rel.suffix.lower() or ".png")
            parent = PurePosixPath(split) / rel.parent if split else rel.parent
            stems[i] = (parent.as_posix(), stem, ext)
        names = []
        for t in tiles.tolist():
            parent, stem, ext = stems[int(self.tile_image[t])]
            x, y = int(self.tile_box[t, 0]), int(self.tile_box[t, 1])
            name = f"{stem}_{x}_{y}{ext}"
            names.append(name if parent in ("", ".") else f"{parent}/{name}")
        return names

    def to_dataset(self) -> Dataset:
        """The tiled dataset (selected tiles only), file names from ``tile_names``.

        Tile images record their source image and offset (``ImageTable.source``/``offset``).

        Example:
            >>> from tilewise.datasets import DatasetBuilder
            >>> b = DatasetBuilder(["a"]); i = b.add_image("im.png", 20, 10)
            >>> b.add_box(i, [8, 2, 12, 6], 0)
            >>> cfg = TilingConfig(slice_wh=10, overlap=0, min_visibility=0.4)
            >>> tiled = plan_tiles(b.build(), cfg).to_dataset()
            >>> tiled.images.offset.tolist(), tiled.boxes.tolist()
            ([[0, 0], [10, 0]], [[8.0, 2.0, 10.0, 6.0], [0.0, 2.0, 2.0, 6.0]])
        """
        tiles = self.selected
        new_index = np.full(self.tile_image.size, -1, dtype=np.int64)
        new_index[tiles] = np.arange(tiles.size)
        src = self.source
        img = self.tile_image[tiles]
        box = self.tile_box[tiles]
        names = self.tile_names(tiles)
        table = ImageTable.create(
            [f"images/{n}" for n in names],
            box[:, 2] - box[:, 0],
            box[:, 3] - box[:, 1],
            split=src.images.split[img].tolist(),
            source=src.images.file_name[img].tolist(),
            offset=box[:, :2],
        )
        ann = self.piece_ann
        return Dataset.from_arrays(
            table,
            new_index[self.piece_tile],
            self.piece_box,
            src.class_id[ann],
            src.class_names,
            category_ids=src.category_ids,
            iscrowd=src.iscrowd[ann],
            segments=self.piece_segments,
        )


def _prepare_source(ds: Dataset, config: TilingConfig) -> Dataset:
    if config.split_ratios is None:
        return ds
    splits = assign_splits(ds.images.file_name, config.split_ratios, config.seed)
    return ds.replace(images=dataclasses.replace(ds.images, split=splits))


def _grid_pairs(
    boxes: np.ndarray, grid_boxes: np.ndarray, columns: int
) -> tuple[np.ndarray, np.ndarray]:
    """(box, tile) pairs with positive overlap, from the grid's sorted starts."""
    xs = grid_boxes[:columns, 0]
    ys = grid_boxes[::columns, 1]
    tw = grid_boxes[0, 2] - grid_boxes[0, 0]
    th = grid_boxes[0, 3] - grid_boxes[0, 1]
    c0 = np.searchsorted(xs + tw, boxes[:, 0], side="right")
    c1 = np.searchsorted(xs, boxes[:, 2], side="left")
    r0 = np.searchsorted(ys + th, boxes[:, 1], side="right")
    r1 = np.searchsorted(ys, boxes[:, 3], side="left")
    nc = np.clip(c1 - c0, 0, None)
    nr = np.clip(r1 - r0, 0, None)
    per = nc * nr
    box = np.repeat(np.arange(boxes.shape[0]), per)
    k = gather_ranges(np.zeros_like(per), per)
    ncb = nc[box]
    col = c0[box] + k % np.maximum(ncb, 1)
    row = r0[box] + k // np.maximum(ncb, 1)
    return box, row * columns + col


def _positive_area(boxes: np.ndarray) -> np.ndarray:
    """Rows with positive width, height and float64 area (no underflow to 0)."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    with np.errstate(invalid="ignore"):
        return (w > 0) & (h > 0) & (w * h > 0)


TileValidity = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``valid_fraction(tile_image, tile_box)``: the fraction (0..1) of each tile's pixels that
hold data (not nodata), for tiles given by source image index and xyxy window."""


def _eligible_empty(
    positive: np.ndarray,
    tile_image: np.ndarray,
    tile_box: np.ndarray,
    valid_fraction: TileValidity | None,
    min_valid: float,
) -> tuple[np.ndarray, dict[str, int]]:
    """Empty tiles that may be sampled as negatives, and the counts of those that may not."""
    eligible = ~positive
    if valid_fraction is None:
        return eligible, {}
    empty = np.flatnonzero(eligible)
    fraction = np.asarray(valid_fraction(tile_image[empty], tile_box[empty]), dtype=np.float64)
    if fraction.shape != empty.shape:
        raise TilewiseError(
            f"valid_fraction returned {fraction.shape} values for {empty.size} tiles"
        )
    no_data = empty[fraction <= 0.0]
    sparse = empty[(fraction > 0.0) & (fraction < min_valid)]
    eligible = eligible.copy()
    eligible[no_data] = False
    eligible[sparse] = False
    return eligible, {"empty_nodata": int(no_data.size), "empty_sparse": int(sparse.size)}


def plan_tiles(
    ds: Dataset,
    config: TilingConfig | None = None,
    *,
    valid_fraction: TileValidity | None = None,
    min_valid: float = 0.0,
) -> TilePlan:
    """Decide, for every source annotation and tile, what goes where (no pixel I/O).

    Rules, applied to each (annotation, tile) pair that overlaps:

    * boxes are first clipped to their image (counted); zero-size boxes and boxes wholly
      outside the image are dropped with that reason;
    * visibility = area of the box inside the tile / area of the (in-image) box; a piece
      is kept when visibility >= ``min_visibility`` and the clipped width and height are
      both >= ``min_size`` (1e-9 tolerance), and is then clipped to the tile;
    * a polygon is repaired when invalid, clipped exactly to the tile (shapely), and a
      clipped piece's box becomes the clipped polygon's bounds; an RLE mask is cropped and
      a clipped piece's box becomes the cropped mask's bounds; a piece whose polygon or
      mask is empty in the tile is dropped;
    * every tile with a kept piece is written; empty tiles are sampled per split up to
      ``empty_ratio`` x the split's non-empty tiles, with ``seed``;
    * with ``valid_fraction`` (a raster's nodata; the only pixel look-up, on empty tiles
      only), an empty tile with no valid pixel is never sampled as a negative, nor one
      whose valid fraction is under ``min_valid``: counted in ``report.tiles`` as
      ``empty_nodata`` and ``empty_sparse``.

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["a"]); i = b.add_image("im.png", 20, 10)
        >>> b.add_box(i, [8, 2, 12, 6], 0)   # half in each of two tiles
        >>> b.add_box(i, [1, 1, 5, 5], 0)    # whole in the first tile
        >>> plan = plan_tiles(b.build(), TilingConfig(slice_wh=10, overlap=0,
        ...     min_visibility=0.6))
        >>> plan.report.status.tolist(), plan.report.reason.tolist()
        ([2, 0], [3, 0])
    """
    cfg = config or TilingConfig()
    if isinstance(min_valid, bool) or not 0.0 <= float(min_valid) <= 1.0:
        raise TilewiseError(f"min_valid must be a fraction in [0, 1], got {min_valid!r}")
    ds = _prepare_source(ds, cfg)
    n = ds.num_annotations
    report = TilingReport.empty(ds.class_names, n)
    report.class_id = ds.class_id.copy()
    status = report.status
    reason = report.reason

    # ---- source-level checks
    w_img = ds.images.width[ds.image_index].astype(np.float64)
    h_img = ds.images.height[ds.image_index].astype(np.float64)
    b = ds.boxes
    finite = np.all(np.isfinite(b), axis=1)
    # a box whose area underflows to 0 (e.g. 1e-200 px wide) is as degenerate as a flat one:
    # visibility divides by that area
    deg = ~finite | ~_positive_area(b)
    cb = b.copy()
    cb[:, [0, 2]] = np.clip(cb[:, [0, 2]], 0, w_img[:, None])
    cb[:, [1, 3]] = np.clip(cb[:, [1, 3]], 0, h_img[:, None])
    inside = _positive_area(cb)
    outside = ~deg & ~inside
    reason[deg] = DropReason.DEGENERATE
    reason[outside] = DropReason.OUTSIDE_IMAGE
    valid = ~deg & inside
    report.boxes_clipped_to_image = int(np.sum(valid & np.any(cb != b, axis=1)))

    kind = ds.segments.kind
    geom = np.empty(n, dtype=object)
    poly_ann = np.flatnonzero(valid & (kind == SegmentKind.POLYGON))
    if poly_ann.size:
        import shapely

        geoms, report.short_rings = polygons_to_shapely(ds.segments, poly_ann)
        geoms, report.polygons_repaired = repair_polygons(geoms)
        empty = shapely.area(geoms) <= 0
        geom[poly_ann] = geoms
        reason[poly_ann[empty]] = DropReason.EMPTY_SEGMENT
        valid[poly_ann[empty]] = False
    for j in np.flatnonzero(valid & (kind == SegmentKind.RLE)).tolist():
        if rle_area(ds.segments.rle(j)) == 0:
            reason[j] = DropReason.EMPTY_SEGMENT
            valid[j] = False

    # ---- tiles and (annotation, tile) pairs, image by image
    tile_parts, tile_img_parts, pair_ann_parts, pair_tile_parts = [], [], [], []
    n_tiles = 0
    for i in range(ds.num_images):
        grid = cfg.grid((int(ds.images.width[i]), int(ds.images.height[i])))
        gb = np.asarray(grid.boxes)
        tile_parts.append(gb)
        tile_img_parts.append(np.full(len(gb), i, dtype=np.int64))
        sl = ds.annotations_of(i)
        rows = np.flatnonzero(valid[sl]) + sl.start
        if rows.size:
            box_k, tile_k = _grid_pairs(cb[rows], gb, grid.columns)
            pair_ann_parts.append(rows[box_k])
            pair_tile_parts.append(tile_k + n_tiles)
        n_tiles += len(gb)
    tile_box = np.concatenate(tile_parts) if tile_parts else np.zeros((0, 4), np.int64)
    tile_image = np.concatenate(tile_img_parts) if tile_img_parts else np.zeros(0, np.int64)
    pair_ann = np.concatenate(pair_ann_parts) if pair_ann_parts else np.zeros(0, np.int64)
    pair_tile = np.concatenate(pair_tile_parts) if pair_tile_parts else np.zeros(0, np.int64)

    # ---- box rule
    tb = tile_box[pair_tile].astype(np.float64)
    ab = cb[pair_ann]
    inter = np.concatenate([np.maximum(ab[:, :2], tb[:, :2]), np.minimum(ab[:, 2:], tb[:, 2:])], 1)
    iw = inter[:, 2] - inter[:, 0]
    ih = inter[:, 3] - inter[:, 1]
    area = (ab[:, 2] - ab[:, 0]) * (ab[:, 3] - ab[:, 1])
    vis = iw * ih / area
    visible = vis >= cfg.min_visibility - _EPS
    big = (iw >= cfg.min_size - _EPS) & (ih >= cfg.min_size - _EPS)
    keep = visible & big
    clipped = np.any(inter != b[pair_ann], axis=1)  # clipped by the tile or the image
    piece_reason = np.where(visible, DropReason.TOO_SMALL, DropReason.LOW_VISIBILITY).astype(
        np.uint8
    )
    piece_box = inter - np.concatenate([tb[:, :2], tb[:, :2]], axis=1)

    # ---- polygons and masks of kept pieces
    seg_parts: list[tuple[np.ndarray, Segments]] = []
    kp = np.flatnonzero(keep & (kind[pair_ann] == SegmentKind.POLYGON))
    if kp.size:
        pieces = clip_polygons(geom[pair_ann[kp]], tile_box[pair_tile[kp]])
        rings = shapely_to_rings(pieces)
        report.holes_dropped = rings.holes
        offsets = tile_box[pair_tile[kp], :2].astype(np.float64)
        bounds, has = rings.bounds(kp.size)
        bounds -= np.concatenate([offsets, offsets], axis=1)
        tighten = has & clipped[kp]
        piece_box[kp[tighten]] = bounds[tighten]
        seg_parts.append((kp, rings.segments(kp.size, shift=offsets)))
        piece_reason[kp[~has]] = DropReason.EMPTY_SEGMENT
        keep[kp[~has]] = False
    kr = np.flatnonzero(keep & (kind[pair_ann] == SegmentKind.RLE))
    if kr.size:
        runs_list: list[np.ndarray | None] = []
        for p in kr.tolist():
            j = int(pair_ann[p])
            i = int(ds.image_index[j])
            hw = (int(ds.images.height[i]), int(ds.images.width[i]))
            window = tuple(int(v) for v in tile_box[pair_tile[p]])
            runs, mask_area = rle_crop(ds.segments.rle(j), hw, window)  # type: ignore[arg-type]
            if mask_area == 0:
                keep[p] = False
                piece_reason[p] = DropReason.EMPTY_SEGMENT
                runs_list.append(None)
                continue
            if clipped[p]:
                th, tw = window[3] - window[1], window[2] - window[0]
                piece_box[p] = rle_bbox(runs, (th, tw))
            runs_list.append(runs)
        seg_parts.append((kr, Segments.from_lists([None] * kr.size, runs_list)))
    if kp.size:
        # a tightened polygon box can fall under min_size
        tw_ = piece_box[kp, 2] - piece_box[kp, 0]
        th_ = piece_box[kp, 3] - piece_box[kp, 1]
        small = keep[kp] & ((tw_ < cfg.min_size - _EPS) | (th_ < cfg.min_size - _EPS))
        keep[kp[small]] = False
        piece_reason[kp[small]] = DropReason.TOO_SMALL

    # ---- per-annotation status
    kept_ann = pair_ann[keep]
    whole = np.zeros(n, dtype=bool)
    whole[kept_ann[~clipped[keep]]] = True
    any_kept = np.zeros(n, dtype=bool)
    any_kept[kept_ann] = True
    status[any_kept] = AnnotationStatus.CLIPPED
    status[whole] = AnnotationStatus.KEPT
    report.piece_drops = np.bincount(piece_reason[~keep], minlength=len(DropReason)).astype(
        np.int64
    )
    prio_of = np.zeros(len(DropReason), dtype=np.int64)
    for r, pr in _PRIORITY.items():
        prio_of[r] = pr
    best = np.zeros(n, dtype=np.int64)
    np.maximum.at(best, pair_ann[~keep], prio_of[piece_reason[~keep]])
    code_of = np.zeros(max(_PRIORITY.values()) + 1, dtype=np.uint8)
    for r, pr in _PRIORITY.items():
        code_of[pr] = r
    lost = valid & ~any_kept
    reason[lost] = np.where(best[lost] > 0, code_of[best[lost]], DropReason.LOW_VISIBILITY)

    # ---- kept pieces, sorted by tile
    kept_idx = np.flatnonzero(keep)
    order = kept_idx[np.argsort(pair_tile[kept_idx], kind="stable")]
    segments = _gather_segments(seg_parts, order, pair_ann.size)

    # ---- tile selection: all positive tiles, empty ones sampled per split
    positive = np.zeros(tile_box.shape[0], dtype=bool)
    positive[pair_tile[keep]] = True
    selected = positive.copy()
    eligible, without_data = _eligible_empty(
        positive, tile_image, tile_box, valid_fraction, float(min_valid)
    )
    tile_split = ds.images.split[tile_image] if tile_image.size else np.zeros(0, object)
    empty_kept = 0
    for k, split in enumerate(sorted({str(s) for s in tile_split})):
        in_split = tile_split == split
        candidates = np.flatnonzero(in_split & eligible)
        quota = min(candidates.size, int(np.rint(cfg.empty_ratio * np.sum(in_split & positive))))
        if quota:
            rng = np.random.default_rng([cfg.seed, k])
            selected[rng.choice(candidates, size=quota, replace=False)] = True
            empty_kept += quota
    report.instances = int(order.size)
    report.instances_clipped = int(np.sum(clipped[order]))
    report.tiles = {
        "candidates": int(tile_box.shape[0]),
        "with_objects": int(positive.sum()),
        "empty": int((~positive).sum()),
        "empty_kept": empty_kept,
        "selected": int(selected.sum()),
        **without_data,
    }
    splits, counts = np.unique(ds.images.split.astype(str), return_counts=True)
    report.splits = {str(s) or "(none)": int(c) for s, c in zip(splits, counts, strict=True)}
    return TilePlan(
        config=cfg,
        source=ds,
        tile_image=tile_image,
        tile_box=tile_box,
        tile_positive=positive,
        tile_selected=selected,
        piece_tile=pair_tile[order],
        piece_ann=pair_ann[order],
        piece_box=piece_box[order],
        piece_clipped=clipped[order],
        piece_segments=segments,
        report=report,
    )


def _gather_segments(
    parts: list[tuple[np.ndarray, Segments]], order: np.ndarray, n_pairs: int
) -> Segments:
    """Segments of the pieces ``order`` (pair indices), from per-kind partial columns."""
    if not parts:
        return Segments.empty(order.size)
    # Row r of the stacked column belongs to pair owner[r]; pairs without one use the last row.
    stacked = Segments.concatenate([seg for _, seg in parts] + [Segments.empty(1)])
    row_of = np.full(n_pairs, len(stacked) - 1, dtype=np.int64)
    start = 0
    for pairs, seg in parts:
        row_of[pairs] = np.arange(start, start + len(seg))
        start += len(seg)
    return stacked.take(row_of[order])
