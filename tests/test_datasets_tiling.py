from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tilewise.datasets import DatasetBuilder, read_dataset
from tilewise.datasets.tiling import (
    CONFIG_NAME,
    MARKER_NAME,
    AnnotationStatus,
    DropReason,
    TilingConfig,
    assign_splits,
    is_complete,
    plan_tiles,
    tile_dataset,
)
from tilewise.errors import TilewiseError
from tilewise.masks.rle import rle_decode, rle_encode

K, C, D = AnnotationStatus.KEPT, AnnotationStatus.CLIPPED, AnnotationStatus.DROPPED


def one_box(box, image_wh=(20, 10)):
    b = DatasetBuilder(["a"])
    b.add_box(b.add_image("im.png", *image_wh), box, 0)
    return b.build()


def pieces(plan):
    return sorted(
        (int(plan.tile_box[t, 0]), [round(v, 6) for v in box])
        for t, box in zip(plan.piece_tile.tolist(), plan.piece_box.tolist(), strict=True)
    )


# Two tiles [0, 10) and [10, 20) of a 20 x 10 image.
@pytest.mark.parametrize(
    ("box", "min_vis", "min_size", "expected", "status", "reason"),
    [
        ([2, 2, 6, 6], 0.3, 2, [(0, [2, 2, 6, 6])], K, DropReason.NONE),
        ([8, 2, 12, 6], 0.5, 2, [(0, [8, 2, 10, 6]), (10, [0, 2, 2, 6])], C, DropReason.NONE),
        ([8, 2, 12, 6], 0.6, 2, [], D, DropReason.LOW_VISIBILITY),
        ([7, 2, 12, 6], 0.3, 2, [(0, [7, 2, 10, 6]), (10, [0, 2, 2, 6])], C, DropReason.NONE),
        ([7, 2, 12, 6], 0.5, 2, [(0, [7, 2, 10, 6])], C, DropReason.NONE),
        ([7, 0, 12, 10], 0.6, 0, [(0, [7, 0, 10, 10])], C, DropReason.NONE),  # vis == 0.6
        ([9, 2, 12, 6], 0.3, 2, [(10, [0, 2, 2, 6])], C, DropReason.NONE),  # 1 px piece < 2
        ([9, 2, 11, 6], 0.5, 2, [], D, DropReason.TOO_SMALL),
        ([9, 2, 11, 6], 0.5, 1, [(0, [9, 2, 10, 6]), (10, [0, 2, 1, 6])], C, DropReason.NONE),
        ([2, 2, 3.5, 6], 0.3, 2, [], D, DropReason.TOO_SMALL),  # whole but 1.5 px wide
        ([-4, 2, 4, 6], 0.9, 2, [(0, [0, 2, 4, 6])], C, DropReason.NONE),  # clipped to image
        ([25, 2, 30, 6], 0.0, 0, [], D, DropReason.OUTSIDE_IMAGE),
        ([3, 3, 3, 8], 0.0, 0, [], D, DropReason.DEGENERATE),
        ([5, 5, 2, 8], 0.0, 0, [], D, DropReason.DEGENERATE),
        # regression: an area that underflows to 0 divided visibility by zero
        ([0, 0, 1e-200, 1e-200], 0.0, 0, [], D, DropReason.DEGENERATE),
        ([-1, -1, 1e-200, 1e-200], 0.0, 0, [], D, DropReason.OUTSIDE_IMAGE),
        ([2, 2, 6, 6], 1.0, 0, [(0, [2, 2, 6, 6])], K, DropReason.NONE),
        ([0, 0, 20, 10], 0.5, 0, [(0, [0, 0, 10, 10]), (10, [0, 0, 10, 10])], C, DropReason.NONE),
    ],
)
def test_clipping_and_visibility_table(box, min_vis, min_size, expected, status, reason):
    cfg = TilingConfig(slice_wh=10, overlap=0, min_visibility=min_vis, min_size=min_size)
    plan = plan_tiles(one_box(box), cfg)
    assert pieces(plan) == [(x, [float(v) for v in b]) for x, b in expected]
    assert plan.report.status.tolist() == [status]
    assert plan.report.reason.tolist() == [reason]


# Overlapping grid: slice 12, overlap 4 px -> tiles [0, 12) and [8, 20).
@pytest.mark.parametrize(
    ("box", "expected", "status"),
    [
        ([9, 2, 11, 6], [(0, [9, 2, 11, 6]), (8, [1, 2, 3, 6])], K),
        ([2, 2, 6, 6], [(0, [2, 2, 6, 6])], K),
        ([6, 2, 14, 6], [(0, [6, 2, 12, 6]), (8, [0, 2, 6, 6])], C),
    ],
)
def test_overlapping_grid_table(box, expected, status):
    cfg = TilingConfig(slice_wh=12, overlap=4, min_visibility=0.5, min_size=1)
    plan = plan_tiles(one_box(box), cfg)
    assert pieces(plan) == [(x, [float(v) for v in b]) for x, b in expected]
    assert plan.report.status.tolist() == [status]


def test_polygon_clipped_exactly_and_box_tightened():
    b = DatasetBuilder(["a"])
    i = b.add_image("im.png", 20, 10)
    tri = np.array([[4, 2], [16, 2], [4, 8]], dtype=float)  # right triangle across x = 10
    b.add_box(i, [4, 2, 16, 8], 0, polygon=[tri])
    plan = plan_tiles(b.build(), TilingConfig(slice_wh=10, overlap=0, min_visibility=0.0))
    tiled = plan.to_dataset()
    assert tiled.num_annotations == 2
    left = shapely.Polygon(tiled.segments.polygon(0)[0])
    right = shapely.Polygon(tiled.segments.polygon(1)[0])
    full = shapely.Polygon(tri)
    assert left.area + right.area == pytest.approx(full.area)
    assert left.area == pytest.approx(shapely.clip_by_rect(full, 0, 0, 10, 10).area)
    # the right piece's box is the clipped polygon's bounds, not the clipped box
    assert tiled.boxes[1].tolist() == [0.0, 2.0, 6.0, 5.0]


def test_invalid_polygon_is_repaired_not_skipped():
    b = DatasetBuilder(["a"])
    i = b.add_image("im.png", 20, 10)
    bow = np.array([[2, 2], [8, 8], [8, 2], [2, 8]], dtype=float)  # self-intersecting
    b.add_box(i, [2, 2, 8, 8], 0, polygon=[bow])
    b.add_box(i, [12, 2, 14, 4], 0, polygon=[np.array([[12, 2], [14, 2], [13, 2]])])  # no area
    b.add_box(i, [15, 5, 18, 8], 0)
    plan = plan_tiles(b.build(), TilingConfig(slice_wh=10, overlap=0))
    r = plan.report
    assert r.polygons_repaired == 2  # the bow-tie and the flat triangle
    assert r.status.tolist() == [K, D, K]
    assert r.reason.tolist()[1] == DropReason.EMPTY_SEGMENT
    tiled = plan.to_dataset()
    areas = [shapely.Polygon(p).area for p in tiled.segments.polygon(0)]
    assert sum(areas) == pytest.approx(18.0)  # the bow-tie's two triangles


def test_rle_mask_cropped():
    m = np.zeros((10, 20), bool)
    m[2:6, 7:13] = True
    b = DatasetBuilder(["a"])
    b.add_box(b.add_image("im.png", 20, 10), [7, 2, 13, 6], 0, rle=rle_encode(m))
    tiled = plan_tiles(b.build(), TilingConfig(slice_wh=10, overlap=0, min_visibility=0.4))
    ds = tiled.to_dataset()
    assert ds.boxes.tolist() == [[7, 2, 10, 6], [0, 2, 3, 6]]
    assert np.array_equal(rle_decode(ds.segments.rle(0), (10, 10)), m[:, :10])
    assert np.array_equal(rle_decode(ds.segments.rle(1), (10, 10)), m[:, 10:])


# ----------------------------------------------------------------------------- properties

boxes_st = st.lists(
    st.tuples(
        st.floats(-8, 60),
        st.floats(-8, 60),
        st.floats(-2, 30),
        st.floats(-2, 30),
        st.integers(0, 2),
    ),
    max_size=25,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    wh=st.tuples(st.integers(3, 60), st.integers(3, 60)),
    slice_wh=st.integers(4, 32),
    overlap=st.floats(0, 0.6),
    min_vis=st.floats(0, 1),
    min_size=st.floats(0, 5),
    raw=boxes_st,
)
def test_property_pieces_inside_tiles_and_accounting(wh, slice_wh, overlap, min_vis, min_size, raw):
    b = DatasetBuilder(["a", "b", "c"])
    i = b.add_image("im.png", *wh)
    for x, y, w, h, c in raw:
        b.add_box(i, [x, y, x + w, y + h], c)
    ds = b.build()
    cfg = TilingConfig(
        slice_wh=slice_wh, overlap=overlap, min_visibility=min_vis, min_size=min_size
    )
    plan = plan_tiles(ds, cfg)
    tw = plan.tile_box[plan.piece_tile, 2] - plan.tile_box[plan.piece_tile, 0]
    th = plan.tile_box[plan.piece_tile, 3] - plan.tile_box[plan.piece_tile, 1]
    pb = plan.piece_box
    # no kept box leaves its tile, and kept boxes meet the size rule
    assert np.all(pb[:, 0] >= 0)
    assert np.all(pb[:, 1] >= 0)
    assert np.all(pb[:, 2] <= tw)
    assert np.all(pb[:, 3] <= th)
    assert np.all(pb[:, 2] - pb[:, 0] >= min_size - 1e-6)
    assert np.all(pb[:, 3] - pb[:, 1] >= min_size - 1e-6)
    # kept + clipped + dropped = total, per class
    counts = plan.report.counts()
    for k, name in enumerate(ds.class_names):
        row = counts[name]
        assert row["kept"] + row["clipped"] + row["dropped"] == row["total"]
        assert row["total"] == int(np.sum(ds.class_id == k))
        assert row["dropped"] == sum(v for key, v in row.items() if key.startswith("dropped_"))
    # kept/clipped annotations have pieces; dropped ones have none and a reason
    has_piece = np.zeros(ds.num_annotations, bool)
    has_piece[plan.piece_ann] = True
    status = plan.report.status
    assert np.array_equal(has_piece, status != D)
    assert np.all(plan.report.reason[status == D] != DropReason.NONE)
    # every tile with a piece is written
    assert np.all(plan.tile_selected[plan.piece_tile])
    # the visibility and size rules, computed independently pair by pair: a box (clipped to
    # the image) gets a piece in a tile exactly when they overlap, at least min_vis of its
    # area is in the tile, and the piece is at least min_size wide and high
    tiles = np.asarray(cfg.grid(wh).boxes, dtype=np.float64)
    expected = {}
    seen_enough = np.zeros(ds.num_annotations, bool)  # some tile holds min_vis of the box
    for j, (x1, y1, x2, y2) in enumerate(ds.boxes.tolist()):
        if not all(np.isfinite([x1, y1, x2, y2])) or x2 <= x1 or y2 <= y1:
            continue
        cx1, cx2 = min(max(x1, 0), wh[0]), min(max(x2, 0), wh[0])
        cy1, cy2 = min(max(y1, 0), wh[1]), min(max(y2, 0), wh[1])
        area = (cx2 - cx1) * (cy2 - cy1)
        if area <= 0:
            continue
        for t, (tx1, ty1, tx2, ty2) in enumerate(tiles.tolist()):
            iw = min(cx2, tx2) - max(cx1, tx1)
            ih = min(cy2, ty2) - max(cy1, ty1)
            if iw <= 0 or ih <= 0:
                continue
            if iw * ih / area >= min_vis - 1e-9:
                seen_enough[j] = True
                if min(iw, ih) >= min_size - 1e-9:
                    expected[j, t] = (max(cx1, tx1) - tx1, max(cy1, ty1) - ty1, iw, ih)
    got = {
        (int(j), int(t)): (bx[0], bx[1], bx[2] - bx[0], bx[3] - bx[1])
        for j, t, bx in zip(plan.piece_ann, plan.piece_tile, plan.piece_box.tolist(), strict=True)
    }
    assert got.keys() == expected.keys()
    for key, (x, y, w, h) in expected.items():
        assert got[key] == pytest.approx((x, y, w, h), abs=1e-9), key
    # and a dropped box names the rule that dropped it
    reason = plan.report.reason
    assert np.array_equal(reason == DropReason.LOW_VISIBILITY, (status == D) & ~seen_enough
                          & (reason != DropReason.DEGENERATE)
                          & (reason != DropReason.OUTSIDE_IMAGE))  # fmt: skip
    assert np.all(seen_enough[reason == DropReason.TOO_SMALL])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cols=st.integers(1, 4),
    rows=st.integers(1, 4),
    slice_wh=st.integers(4, 20),
    raw=boxes_st,
)
def test_property_zero_overlap_full_visibility_round_trips(cols, rows, slice_wh, raw):
    wh = (cols * slice_wh, rows * slice_wh)
    b = DatasetBuilder(["a", "b", "c"])
    i = b.add_image("im.png", *wh)
    for x, y, w, h, c in raw:
        if x >= 0 and y >= 0 and x + w <= wh[0] and y + h <= wh[1]:  # in-image boxes
            b.add_box(i, [x, y, x + w, y + h], c)
    ds = b.build()
    cfg = TilingConfig(slice_wh=slice_wh, overlap=0, min_visibility=1.0, min_size=0, empty_ratio=0)
    plan = plan_tiles(ds, cfg)
    tiled = plan.to_dataset()
    back = tiled.boxes + np.tile(tiled.images.offset[tiled.image_index], 2)
    got = sorted(zip(plan.piece_ann.tolist(), back.tolist(), strict=True))
    bx = ds.boxes
    inside = (
        (bx[:, 2] > bx[:, 0])
        & (bx[:, 3] > bx[:, 1])
        # an area that underflows to 0 (1e-234 x 1e-238) is degenerate
        & ((bx[:, 2] - bx[:, 0]) * (bx[:, 3] - bx[:, 1]) > 0)
        & (bx[:, 0] >= 0)
        & (bx[:, 1] >= 0)
        & (bx[:, 2] <= wh[0])
        & (bx[:, 3] <= wh[1])
        & (np.floor(bx[:, 0] / slice_wh) == np.ceil(bx[:, 2] / slice_wh) - 1)
        & (np.floor(bx[:, 1] / slice_wh) == np.ceil(bx[:, 3] / slice_wh) - 1)
    )
    expected = sorted((j, bx[j].tolist()) for j in np.flatnonzero(inside).tolist())
    assert len(got) == len(expected)
    for (ja, ba), (jb, bb) in zip(got, expected, strict=True):
        assert ja == jb
        np.testing.assert_allclose(ba, bb, rtol=0, atol=1e-9)
    assert np.all(plan.report.status[inside] == K)
    assert np.all(plan.report.status[~inside] == D)
    assert tiled.class_id.tolist() == ds.class_id[plan.piece_ann].tolist()


# ----------------------------------------------------------------------------- splits, empties


def test_splits_per_source_image_never_leak():
    b = DatasetBuilder(["a"])
    for k in range(20):
        i = b.add_image(f"im{k}.png", 30, 30)
        b.add_box(i, [8, 8, 22, 22], 0)  # in all four overlapping tiles
    cfg = TilingConfig(slice_wh=16, overlap=0.25, min_visibility=0.1, split_ratios=(0.6, 0.2, 0.2))
    tiled = plan_tiles(b.build(), cfg).to_dataset()
    by_source: dict[str, set[str]] = {}
    for src, split in zip(tiled.images.source, tiled.images.split, strict=True):
        by_source.setdefault(src, set()).add(split)
    assert all(len(s) == 1 for s in by_source.values())
    splits = [next(iter(s)) for s in by_source.values()]
    assert sorted(splits).count("train") == 12
    assert splits.count("val") == 4
    again = plan_tiles(b.build(), cfg).to_dataset()
    assert again.images.split.tolist() == tiled.images.split.tolist()


def test_assign_splits_depends_on_names_not_order():
    names = np.array([f"{k}.png" for k in range(50)], dtype=object)
    a = assign_splits(names, (0.7, 0.2, 0.1), seed=3)
    perm = np.random.default_rng(0).permutation(50)
    b = assign_splits(names[perm], (0.7, 0.2, 0.1), seed=3)
    assert a[perm].tolist() == b.tolist()


def test_empty_tiles_sampled_at_ratio_reproducibly():
    b = DatasetBuilder(["a"])
    for k in range(4):
        i = b.add_image(f"im{k}.png", 100, 100)
        b.add_box(i, [1, 1, 5, 5], 0)
    cfg = TilingConfig(slice_wh=10, overlap=0, empty_ratio=2.0, seed=5)
    p1 = plan_tiles(b.build(), cfg)
    p2 = plan_tiles(b.build(), cfg)
    assert p1.report.tiles["with_objects"] == 4
    assert p1.report.tiles["empty_kept"] == 8
    assert p1.tile_selected.sum() == 12
    assert np.array_equal(p1.tile_selected, p2.tile_selected)
    p3 = plan_tiles(b.build(), TilingConfig(slice_wh=10, overlap=0, empty_ratio=2.0, seed=6))
    assert not np.array_equal(p1.tile_selected, p3.tile_selected)


# ----------------------------------------------------------------------------- on disk


def make_source(root: Path, n: int = 3) -> Path:
    rng = np.random.default_rng(0)
    b = DatasetBuilder(["car", "person"])
    for k in range(n):
        name = f"im{k}.png"
        cv2.imwrite(str(root / name), rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
        i = b.add_image(name, 50, 40)
        b.add_box(i, [5, 5, 15, 12], 0)
        b.add_box(i, [28, 18, 36, 30], 1)
    from tilewise.datasets import write_coco

    return write_coco(b.build(), root / "train.json")


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_tile_dataset_writes_everything(tmp_path: Path, fmt: str) -> None:
    src = make_source(tmp_path)
    cfg = TilingConfig(
        slice_wh=24,
        overlap=0.25,
        min_visibility=0.3,
        empty_ratio=0.5,
        split_ratios=(2 / 3, 1 / 3, 0),
    )
    out = tmp_path / "out"
    res = tile_dataset(src, out, cfg, format=fmt, progress=False, workers=2)
    assert is_complete(out)
    assert TilingConfig.load(out / CONFIG_NAME) == cfg
    prov = json.loads((out / "provenance.json").read_text())
    assert len(prov["file_name"]) == res.dataset.num_images
    for name, off in zip(prov["file_name"], prov["offset"], strict=True):
        tile = cv2.imread(str(out / name))
        assert tile is not None
        assert tile.shape[:2] == (24, 24)
        src_name = prov["source"][prov["file_name"].index(name)]
        full = cv2.imread(str(tmp_path / src_name))
        assert np.array_equal(tile, full[off[1] : off[1] + 24, off[0] : off[0] + 24])
    back = read_dataset(out)
    assert back.num_annotations == res.dataset.num_annotations
    accounting = json.loads((out / "accounting.json").read_text())
    assert accounting["totals"]["total"] == 6


def test_tile_dataset_resumes_after_kill(tmp_path: Path) -> None:
    src = make_source(tmp_path)
    cfg = TilingConfig(slice_wh=24, overlap=0.25)
    out = tmp_path / "out"
    first = tile_dataset(src, out, cfg, format="yolo", progress=False)
    n = first.tiles_written
    # simulate a job killed half way: marker and annotations not written, some tiles missing
    (out / MARKER_NAME).unlink()
    (out / "data.yaml").unlink()
    tiles = sorted((out / "images").rglob("*.png"))
    for t in tiles[: len(tiles) // 2]:
        t.unlink()
    assert not is_complete(out)
    second = tile_dataset(src, out, cfg, format="yolo", progress=False)
    assert second.tiles_written == len(tiles) // 2
    assert second.tiles_reused == n - len(tiles) // 2
    assert is_complete(out)
    assert (out / "data.yaml").is_file()
    third = tile_dataset(src, out, cfg, format="yolo", progress=False)
    assert third.already_complete
    assert third.tiles_written == 0
    with pytest.raises(TilewiseError, match="different config"):
        tile_dataset(src, out, TilingConfig(slice_wh=20), format="yolo", progress=False)
    redo = tile_dataset(
        src, out, TilingConfig(slice_wh=20), format="yolo", progress=False, overwrite=True
    )
    assert redo.tiles_written > 0
    assert is_complete(out)


def test_tile_dataset_refuses_foreign_directory(tmp_path: Path) -> None:
    src = make_source(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("x")
    with pytest.raises(TilewiseError, match="not empty"):
        tile_dataset(src, out, TilingConfig(slice_wh=24), progress=False, overwrite=True)


def test_missing_image_is_reported_and_counted(tmp_path: Path) -> None:
    src = make_source(tmp_path)
    (tmp_path / "im1.png").unlink()
    (tmp_path / "im2.png").write_bytes(b"garbage")
    res = tile_dataset(src, tmp_path / "out", TilingConfig(slice_wh=24), progress=False)
    assert set(res.report.images_skipped) == {"im1.png", "im2.png"}
    totals = res.report.totals()
    assert totals["dropped_image_unreadable"] == 4
    assert totals["kept"] + totals["clipped"] + totals["dropped"] == 6
    assert set(res.dataset.images.source.tolist()) == {"im0.png"}
    with pytest.raises(TilewiseError, match=r"im[12]\.png"):
        tile_dataset(
            src, tmp_path / "out2", TilingConfig(slice_wh=24), progress=False, on_error="raise"
        )


def test_tile_dataset_refuses_another_source(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    src_a, src_b = make_source(tmp_path / "a"), make_source(tmp_path / "b")
    out = tmp_path / "out"
    tile_dataset(src_a, out, TilingConfig(slice_wh=24), progress=False)
    with pytest.raises(TilewiseError, match="another source"):
        tile_dataset(src_b, out, TilingConfig(slice_wh=24), progress=False)


def test_tile_dataset_with_polygons_and_masks_to_coco(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "s.png"), np.zeros((40, 40, 3), np.uint8))
    b = DatasetBuilder(["a", "b"])
    i = b.add_image("s.png", 40, 40)
    b.add_box(i, [5, 5, 35, 35], 0, polygon=[np.array([[5, 5], [35, 5], [20, 35]], float)])
    m = np.zeros((40, 40), bool)
    m[12:28, 12:28] = True
    b.add_box(i, [12, 12, 28, 28], 1, rle=rle_encode(m), iscrowd=True)
    from tilewise.datasets import write_coco

    src = write_coco(b.build(), tmp_path / "src.json")
    cfg = TilingConfig(slice_wh=20, overlap=0, min_visibility=0.1, empty_ratio=0)
    res = tile_dataset(src, tmp_path / "out", cfg, format="coco", progress=False)
    back = read_dataset(tmp_path / "out")
    assert back.num_annotations == res.dataset.num_annotations == 8
    assert sorted(back.segments.kind.tolist()) == [1] * 4 + [2] * 4
    assert back.iscrowd.sum() == 4
    total = 0
    for j in np.flatnonzero(back.segments.kind == 2).tolist():
        total += int(rle_decode(back.segments.rle(j), (20, 20)).sum())
    assert total == int(m.sum())
    poly_area = sum(
        shapely.Polygon(r).area
        for j in np.flatnonzero(back.segments.kind == 1).tolist()
        for r in back.segments.polygon(j)
    )
    assert poly_area == pytest.approx(450.0)


def _reference_pieces(boxes, wh, tiles, min_vis, min_size):
    """{(box, tile): piece xywh in tile pixels} by the tiling rules, box by box, tile by tile."""
    out = {}
    for j, (x1, y1, x2, y2) in enumerate(boxes):
        cx1, cx2 = min(max(x1, 0), wh[0]), min(max(x2, 0), wh[0])
        cy1, cy2 = min(max(y1, 0), wh[1]), min(max(y2, 0), wh[1])
        area = (cx2 - cx1) * (cy2 - cy1)
        if not (x2 > x1 and y2 > y1 and area > 0):
            continue
        for t, (tx1, ty1, tx2, ty2) in enumerate(tiles):
            iw, ih = min(cx2, tx2) - max(cx1, tx1), min(cy2, ty2) - max(cy1, ty1)
            if iw > 0 and ih > 0 and iw * ih / area >= min_vis - 1e-9 and min(iw, ih) >= min_size:
                out[j, t] = (max(cx1, tx1) - tx1, max(cy1, ty1) - ty1, iw, ih)
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    images=st.lists(
        st.tuples(st.integers(3, 50), st.integers(3, 50), boxes_st.map(lambda b: b[:8])),
        min_size=1,
        max_size=3,
    ),
    slice_wh=st.tuples(st.integers(3, 24), st.integers(3, 24)),
    overlap=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    min_vis=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
    min_size=st.sampled_from([0, 1, 2, 3]),
)
def test_property_rules_across_images_and_rectangular_slices(
    images, slice_wh, overlap, min_vis, min_size
):
    """Several images (tile indices continue from one image to the next), slices that are
    not square, whole-pixel boxes whose pieces land exactly on min_size: every piece is the
    one the rules give, in the tile the rules give."""
    b = DatasetBuilder(["a", "b", "c"])
    for k, (w, h, raw) in enumerate(images):
        i = b.add_image(f"im{k}.png", w, h)
        for x, y, bw, bh, c in raw:
            b.add_box(i, [round(x), round(y), round(x) + round(bw), round(y) + round(bh)], c)
    ds = b.build()
    cfg = TilingConfig(
        slice_wh=slice_wh,
        overlap=(min(overlap[0], slice_wh[0] - 1), min(overlap[1], slice_wh[1] - 1)),
        min_visibility=min_vis,
        min_size=min_size,
    )
    plan = plan_tiles(ds, cfg)
    expected = {}
    first_tile = 0
    for i, (w, h, _) in enumerate(images):
        tiles = np.asarray(cfg.grid((w, h)).boxes, dtype=np.float64).tolist()
        sl = ds.annotations_of(i)
        for (j, t), piece in _reference_pieces(ds.boxes[sl].tolist(), (w, h), tiles,
                                               min_vis, min_size).items():  # fmt: skip
            expected[j + sl.start, t + first_tile] = piece
        assert np.array_equal(
            plan.tile_image[first_tile : first_tile + len(tiles)], [i] * len(tiles)
        )
        first_tile += len(tiles)
    assert len(plan.tile_box) == first_tile
    got = {
        (int(j), int(t)): (bx[0], bx[1], bx[2] - bx[0], bx[3] - bx[1])
        for j, t, bx in zip(plan.piece_ann, plan.piece_tile, plan.piece_box.tolist(), strict=True)
    }
    assert got.keys() == expected.keys()
    for key, piece in expected.items():
        assert got[key] == pytest.approx(piece, abs=1e-9), key
    # boxes reaching outside their image are counted as clipped to it
    outside = 0
    for i, (w, h, _) in enumerate(images):
        for x1, y1, x2, y2 in ds.boxes[ds.annotations_of(i)].tolist():
            cw = min(max(x2, 0), w) - min(max(x1, 0), w)
            ch = min(max(y2, 0), h) - min(max(y1, 0), h)
            inside_area = cw > 0 and ch > 0 and x2 > x1 and y2 > y1
            outside += inside_area and (x1 < 0 or y1 < 0 or x2 > w or y2 > h)
    assert plan.report.boxes_clipped_to_image == outside
