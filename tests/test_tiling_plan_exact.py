"""Exact, hand-worked cases for ``plan_tiles``: the report's counters, reason priority, the
1e-9 tolerances, polygons and masks (holes, empty pieces, tightened boxes). The empty-tile
quota, tile names and ``to_dataset`` are in ``test_tiling_plan_selection.py``.

Every expected value below is worked out from the rules in ``plan_tiles``' docstring, in the
comments beside it; none is copied from a run. (Added for the mutation score of
``datasets/tiling/plan.py``; see docs/testing.md.)
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from tests.tiling_plan_helpers import tiles
from tilewise.datasets import DatasetBuilder
from tilewise.datasets.segments import SegmentKind
from tilewise.datasets.tiling import AnnotationStatus, DropReason, TilingConfig, plan_tiles
from tilewise.masks.rle import rle_decode, rle_encode

K, C, D = AnnotationStatus.KEPT, AnnotationStatus.CLIPPED, AnnotationStatus.DROPPED
NONE, DEG, OUT = DropReason.NONE, DropReason.DEGENERATE, DropReason.OUTSIDE_IMAGE
LOW, SMALL, EMPTY = DropReason.LOW_VISIBILITY, DropReason.TOO_SMALL, DropReason.EMPTY_SEGMENT


def tri(*pts):
    return np.array(pts, dtype=float)


def build(image_wh, anns, split=""):
    """One image; ``anns`` are (box, polygon rings or None, mask or None)."""
    b = DatasetBuilder(["a"])
    i = b.add_image("im.png", *image_wh, split=split)
    for box, polygon, mask in anns:
        b.add_box(i, box, 0, polygon=polygon, rle=None if mask is None else rle_encode(mask))
    return b.build()


def summary(report):
    """The report's counters as one comparable dict (zero drop counts left out)."""
    d = report.to_dict()
    return {
        "status": report.status.tolist(),
        "reason": report.reason.tolist(),
        "piece_drops": {k: v for k, v in d["tile_pieces_dropped"].items() if v},
        "instances": d["instances_written"],
        "instances_clipped": d["instances_clipped"],
        "tiles": d["tiles"],
        "splits": d["splits"],
        "boxes_clipped_to_image": d["boxes_clipped_to_image"],
        "polygons_repaired": d["polygons_repaired"],
        "holes_dropped": d["holes_dropped"],
        "short_rings": d["short_rings"],
    }


def expect(status, reason, instances, clipped, tile_counts, piece_drops=None, **counters):
    out = {
        "status": [int(s) for s in status],
        "reason": [int(r) for r in reason],
        "piece_drops": piece_drops or {},
        "instances": instances,
        "instances_clipped": clipped,
        "tiles": tile_counts,
        "splits": {"(none)": 1},
        "boxes_clipped_to_image": 0,
        "polygons_repaired": 0,
        "holes_dropped": 0,
        "short_rings": 0,
    }
    out.update(counters)
    return out


def pieces(plan):
    """[(tile x, tile y, piece box)] in plan order."""
    return [
        (int(plan.tile_box[t, 0]), int(plan.tile_box[t, 1]), [float(v) for v in box])
        for t, box in zip(plan.piece_tile.tolist(), plan.piece_box.tolist(), strict=True)
    ]


# ----------------------------------------------------------------------------- boxes only

# 20 x 10 image, tiles x in [0, 10) and [10, 20); min_visibility 0.5, min_size 1.
MIXED = [
    [2, 2, 6, 6],  # 0 whole in tile 0: kept, 1 piece
    [8, 2, 12, 6],  # 1 half in each tile (vis 0.5 each): clipped, 2 clipped pieces
    [-4, 2, 4, 6],  # 2 clipped to the image first ([0, 2, 4, 6], vis 1): clipped, 1 piece
    [25, 2, 30, 6],  # 3 outside the image
    [3, 3, 3, 8],  # 4 zero width: degenerate
    [9, 2, 13, 6],  # 5 left vis 1/4 (low), right 3/4 kept: clipped
    [9, 2, 10.5, 6],  # 6 left vis 2/3 (1 px wide, kept), right vis 1/3 (low): clipped
    [19.5, 2, 20, 3.5],  # 7 whole in tile 1 but 0.5 px wide (< min_size): too small
    [12, 7, 16, 8],  # 8 1 px high, whole in tile 1: kept
    [2, 8, 6, 5],  # 9 positive width, negative height: degenerate
    [6, 6, 2, 2],  # 10 negative width and height (positive product): degenerate
]


@pytest.mark.parametrize(
    ("image_wh", "boxes", "cfg", "expected"),
    [
        pytest.param(
            (20, 10),
            MIXED,
            {"min_visibility": 0.5, "min_size": 1},
            expect(
                [K, C, C, D, D, C, C, D, K, D, D],
                [NONE, NONE, NONE, OUT, DEG, NONE, NONE, SMALL, NONE, DEG, DEG],
                instances=7,  # 1 + 2 + 1 + 1 + 1 + 1
                clipped=5,  # all but boxes 0 and 8
                tile_counts=tiles(2, 2),
                piece_drops={"low_visibility": 2, "too_small": 1},
                boxes_clipped_to_image=1,  # box 2 only: box 3 is dropped, not clipped
            ),
            id="mixed",
        ),
        pytest.param(
            # every box dropped: the reason is the strongest of its pieces' reasons
            (20, 10),
            [
                [9, 2, 11.5, 6],  # left vis 0.4 (low), right vis 0.6 but 1.5 px: too small
                [8, 2, 12, 6],  # vis 0.5 in both tiles: low
                [2, 2, 3.5, 6],  # whole, 1.5 px wide: too small
            ],
            {"min_visibility": 0.6, "min_size": 2},
            expect(
                [D, D, D],
                [SMALL, LOW, SMALL],
                instances=0,
                clipped=0,
                tile_counts=tiles(2, 0),
                piece_drops={"low_visibility": 3, "too_small": 2},
            ),
            id="reason-priority",
        ),
        pytest.param(
            # visibility 1/4 on the left; 0.250000001 - 1e-9 == 0.25 exactly: kept
            (20, 10),
            [[9, 2, 13, 6]],
            {"min_visibility": 0.250000001, "min_size": 1},
            expect([C], [NONE], instances=2, clipped=2, tile_counts=tiles(2, 2)),
            id="visibility-tolerance-inclusive",
        ),
        pytest.param(
            # 1.5e-9 over the visible fraction: beyond the 1e-9 tolerance, dropped
            (20, 10),
            [[9, 2, 13, 6]],
            {"min_visibility": 0.25 + 1.5e-9, "min_size": 1},
            expect(
                [C],
                [NONE],
                instances=1,
                clipped=1,
                tile_counts=tiles(2, 1),
                piece_drops={"low_visibility": 1},
            ),
            id="visibility-tolerance-exceeded",
        ),
        pytest.param(
            # 1 px wide pieces (box 0) and 1 px high pieces (box 1) on 1.000000001: kept
            (20, 20),
            [[9, 2, 11, 6], [2, 9, 6, 11]],
            {"min_visibility": 0.4, "min_size": 1.000000001},
            expect([C, C], [NONE, NONE], instances=4, clipped=4, tile_counts=tiles(4, 3)),
            id="size-tolerance-inclusive",
        ),
        pytest.param(
            (20, 20),
            [[9, 2, 11, 6], [2, 9, 6, 11]],
            {"min_visibility": 0.4, "min_size": 1 + 1.5e-9},
            expect(
                [D, D],
                [SMALL, SMALL],
                instances=0,
                clipped=0,
                tile_counts=tiles(4, 0),
                piece_drops={"too_small": 4},
            ),
            id="size-tolerance-exceeded",
        ),
    ],
)
def test_report_counters_table(image_wh, boxes, cfg, expected):
    ds = build(image_wh, [(box, None, None) for box in boxes])
    plan = plan_tiles(ds, TilingConfig(slice_wh=10, overlap=0, empty_ratio=0, **cfg))
    assert summary(plan.report) == expected


def test_mixed_boxes_pieces_and_totals():
    ds = build((20, 10), [(box, None, None) for box in MIXED])
    plan = plan_tiles(ds, TilingConfig(slice_wh=10, overlap=0, min_visibility=0.5, min_size=1))
    # pieces sorted by tile, then by annotation
    assert list(zip(plan.piece_ann.tolist(), pieces(plan), strict=True)) == [
        (0, (0, 0, [2.0, 2.0, 6.0, 6.0])),
        (1, (0, 0, [8.0, 2.0, 10.0, 6.0])),
        (2, (0, 0, [0.0, 2.0, 4.0, 6.0])),
        (6, (0, 0, [9.0, 2.0, 10.0, 6.0])),
        (1, (10, 0, [0.0, 2.0, 2.0, 6.0])),
        (5, (10, 0, [0.0, 2.0, 3.0, 6.0])),
        (8, (10, 0, [2.0, 7.0, 6.0, 8.0])),
    ]
    assert plan.piece_clipped.tolist() == [False, True, True, True, True, True, False]
    assert plan.report.totals() == {
        "total": 11,
        "kept": 2,
        "clipped": 4,
        "dropped": 5,
        "dropped_degenerate": 3,
        "dropped_outside_image": 1,
        "dropped_low_visibility": 0,
        "dropped_too_small": 1,
        "dropped_empty_segment": 0,
        "dropped_image_unreadable": 0,
        "dropped_image_truncated": 0,
    }


# Tiles that are not square: a box meets exactly the tiles its span overlaps, so no pair
# outside it is even considered (a pair with no overlap would be counted as a dropped piece).
@pytest.mark.parametrize(
    ("image_wh", "slice_wh", "expected"),
    [
        # tall tiles (10 x 20): columns start at x 0, 10, 20
        ((30, 20), (10, 20), [(10, 0, [2.0, 2.0, 6.0, 6.0]), (0, 0, [2.0, 12.0, 6.0, 16.0])]),
        # wide tiles (20 x 10): rows start at y 0, 10, 20
        ((20, 30), (20, 10), [(0, 0, [12.0, 2.0, 16.0, 6.0]), (0, 10, [2.0, 2.0, 6.0, 6.0])]),
    ],
)
def test_rectangular_tiles_pair_only_overlapping_tiles(image_wh, slice_wh, expected):
    boxes = [[12, 2, 16, 6], [2, 12, 6, 16]]
    plan = plan_tiles(
        build(image_wh, [(box, None, None) for box in boxes]),
        TilingConfig(slice_wh=slice_wh, overlap=0, empty_ratio=0, min_visibility=0.5),
    )
    got = sorted(zip(plan.piece_ann.tolist(), pieces(plan), strict=True))
    assert [p for _, p in got] == expected
    assert summary(plan.report) == expect([K, K], [NONE, NONE], 2, 0, tiles(3, 2))


def test_no_images_and_no_annotations():
    plan = plan_tiles(DatasetBuilder(["a"]).build(), TilingConfig(slice_wh=10, overlap=0))
    assert plan.tile_box.shape == (0, 4)
    assert plan.tile_image.shape == (0,)
    assert plan.piece_ann.shape == (0,)
    assert summary(plan.report) == expect(
        [], [], instances=0, clipped=0, tile_counts=tiles(0, 0), splits={}
    )
    assert plan.tile_names() == []
    # an image without annotations: its tiles are candidates, none has objects
    empty_image = build((20, 10), [])
    plan = plan_tiles(empty_image, TilingConfig(slice_wh=10, overlap=0, empty_ratio=1.0))
    assert summary(plan.report) == expect([], [], 0, 0, tiles(2, 0))
    assert plan.tile_selected.tolist() == [False, False]


# ----------------------------------------------------------------------------- polygons

SQUARE = tri([1, 1], [19, 1], [19, 9], [1, 9])
HOLE = tri([3, 3], [7, 3], [7, 7], [3, 7])


@pytest.mark.parametrize(
    ("image_wh", "box", "rings", "cfg", "expected_pieces", "expected"),
    [
        pytest.param(
            # a ring inside the other: repaired into a polygon with a hole, in the left tile
            (20, 10),
            [1, 1, 19, 9],
            [SQUARE, tri([2, 3], [6, 3], [6, 7], [2, 7])],
            {},
            [(0, 0, [1, 1, 10, 9]), (10, 0, [0, 1, 9, 9])],
            expect([C], [NONE], 2, 2, tiles(2, 2), polygons_repaired=1, holes_dropped=1),
            id="hole-in-one-piece",
        ),
        pytest.param(
            # the hole straddles x = 10: each piece has a notch, not a hole
            (20, 10),
            [5, 1, 15, 9],
            [tri([5, 1], [15, 1], [15, 9], [5, 9]), tri([8, 3], [12, 3], [12, 7], [8, 7])],
            {},
            [(0, 0, [5, 1, 10, 9]), (10, 0, [0, 1, 5, 9])],
            expect([C], [NONE], 2, 2, tiles(2, 2), polygons_repaired=1, holes_dropped=0),
            id="hole-cut-by-tile-border",
        ),
        pytest.param(
            # polygon inside its box, box not clipped: the piece keeps the annotation's box
            (20, 10),
            [2, 2, 8, 8],
            [tri([3, 3], [7, 3], [3, 7])],
            {},
            [(0, 0, [2, 2, 8, 8])],
            expect([K], [NONE], 1, 0, tiles(2, 1)),
            id="unclipped-box-not-tightened",
        ),
        pytest.param(
            # the box spans both tiles, the polygon only the left one: the right piece is
            # an empty segment; the left one's box is tightened to the polygon
            (20, 10),
            [4, 2, 16, 8],
            [tri([4, 2], [9, 2], [4, 8])],
            {},
            [(0, 0, [4, 2, 9, 8])],
            expect([C], [NONE], 1, 1, tiles(2, 1), piece_drops={"empty_segment": 1}),
            id="empty-piece-beside-kept",
        ),
        pytest.param(
            # left 2/3 visible but empty, right 1/3 visible (low): empty segment wins
            (20, 10),
            [2, 2, 14, 8],
            [tri([11, 3], [14, 3], [14, 7])],
            {"min_visibility": 0.4},
            [],
            expect(
                [D],
                [EMPTY],
                0,
                0,
                tiles(2, 0),
                piece_drops={"empty_segment": 1, "low_visibility": 1},
            ),
            id="priority-empty-over-low",
        ),
        pytest.param(
            # left empty, right 4 px wide (< 5): too small wins over empty segment
            (20, 10),
            [2, 2, 14, 8],
            [tri([11, 3], [14, 3], [14, 7])],
            {"min_size": 5},
            [],
            expect(
                [D],
                [SMALL],
                0,
                0,
                tiles(2, 0),
                piece_drops={"empty_segment": 1, "too_small": 1},
            ),
            id="priority-small-over-empty",
        ),
        pytest.param(
            # hypotenuse from (16, 2) to (4, 8) meets x = 10 at y = 5: the right piece's
            # box tightens to [0, 2, 6, 5], 3 px high < min_size 4 (its tile box was 6 x 6)
            (20, 10),
            [4, 2, 16, 8],
            [tri([4, 2], [16, 2], [4, 8])],
            {"min_size": 4},
            [(0, 0, [4, 2, 10, 8])],
            expect([C], [NONE], 1, 1, tiles(2, 1), piece_drops={"too_small": 1}),
            id="tightened-height-under-min-size",
        ),
        pytest.param(
            # the same turned on its side (10 x 20 image): the bottom piece tightens to
            # [2, 0, 5, 6], 3 px wide; the top piece is exactly 6 x 6 with min_size
            # 6.000000001 (6.000000001 - 1e-9 == 6.0): kept
            (10, 20),
            [2, 4, 8, 16],
            [tri([2, 4], [8, 4], [2, 16])],
            {"min_size": 6.000000001},
            [(0, 0, [2, 4, 8, 10])],
            expect([C], [NONE], 1, 1, tiles(2, 1), piece_drops={"too_small": 1}),
            id="tightened-width-under-min-size",
        ),
        pytest.param(
            # the same with min_size 4: the bottom piece, 3 x 6 once tightened, is too
            # narrow though its tile box (6 x 6) and its height pass
            (10, 20),
            [2, 4, 8, 16],
            [tri([2, 4], [8, 4], [2, 16])],
            {"min_size": 4},
            [(0, 0, [2, 4, 8, 10])],
            expect([C], [NONE], 1, 1, tiles(2, 1), piece_drops={"too_small": 1}),
            id="tightened-width-only-under-min-size",
        ),
        pytest.param(
            # the left piece is dropped for visibility (1/3 < 0.5) even though its box is
            # also under min_size: its reason stays low visibility
            (20, 10),
            [9, 2, 12, 6],
            [tri([9, 2], [12, 2], [12, 6], [9, 6])],
            {"min_visibility": 0.5, "min_size": 2},
            [(10, 0, [0, 2, 2, 6])],
            expect([C], [NONE], 1, 1, tiles(2, 1), piece_drops={"low_visibility": 1}),
            id="low-visibility-piece-keeps-its-reason",
        ),
        pytest.param(
            # a polygon of area 0.5 (under 1 px) is a real polygon
            (20, 10),
            [2, 2, 3, 3],
            [tri([2, 2], [3, 2], [2, 3])],
            {"min_size": 0.5},
            [(0, 0, [2, 2, 3, 3])],
            expect([K], [NONE], 1, 0, tiles(2, 1)),
            id="area-half-pixel",
        ),
        pytest.param(
            # zero area: dropped before tiling, so no piece is counted
            (20, 10),
            [12, 2, 14, 4],
            [tri([12, 2], [14, 2], [13, 2])],
            {},
            [],
            expect([D], [EMPTY], 0, 0, tiles(2, 0), polygons_repaired=1),
            id="zero-area",
        ),
        pytest.param(
            # a 2-point ring is left out and counted; the triangle stays
            (20, 10),
            [2, 2, 6, 6],
            [tri([2, 2], [6, 2], [2, 6]), tri([3, 3], [4, 4])],
            {},
            [(0, 0, [2, 2, 6, 6])],
            expect([K], [NONE], 1, 0, tiles(2, 1), short_rings=1),
            id="short-ring",
        ),
    ],
)
def test_polygon_table(image_wh, box, rings, cfg, expected_pieces, expected):
    config = {"min_visibility": 0.0, "min_size": 1, **cfg}
    plan = plan_tiles(
        build(image_wh, [(box, rings, None)]),
        TilingConfig(slice_wh=10, overlap=0, empty_ratio=0, **config),
    )
    assert pieces(plan) == [(x, y, [float(v) for v in b]) for x, y, b in expected_pieces]
    assert summary(plan.report) == expected


def test_polygon_hole_dropped_area():
    plan = plan_tiles(
        build((20, 10), [([1, 1, 9, 9], [tri([1, 1], [9, 1], [9, 9], [1, 9]), HOLE], None)]),
        TilingConfig(slice_wh=10, overlap=0, empty_ratio=0),
    )
    tiled = plan.to_dataset()
    # the hole is dropped: the piece is the outer 8 x 8 square
    assert [shapely.Polygon(r).area for r in tiled.segments.polygon(0)] == [64.0]
    assert plan.report.holes_dropped == 1


# ----------------------------------------------------------------------------- masks


def mask(shape, rows, cols):
    m = np.zeros(shape, bool)
    m[rows, cols] = True
    return m


@pytest.mark.parametrize(
    ("box", "m", "expected_pieces", "expected"),
    [
        pytest.param(
            [2, 2, 6, 6],
            np.zeros((10, 20), bool),
            [],
            expect([D], [EMPTY], 0, 0, tiles(2, 0)),
            id="empty-mask",
        ),
        pytest.param(
            [3, 3, 4, 4],
            mask((10, 20), 3, 3),
            [(0, 0, [3, 3, 4, 4])],
            expect([K], [NONE], 1, 0, tiles(2, 1)),
            id="one-pixel",
        ),
        pytest.param(
            # box over both tiles, pixels only right of x = 11: the left piece is empty
            # (dropped); the right one's box tightens to the mask, [1, 2, 4, 6]
            [6, 2, 14, 6],
            mask((10, 20), slice(2, 6), slice(11, 14)),
            [(10, 0, [1, 2, 4, 6])],
            expect([C], [NONE], 1, 1, tiles(2, 1), piece_drops={"empty_segment": 1}),
            id="empty-piece-first",
        ),
    ],
)
def test_mask_table(box, m, expected_pieces, expected):
    plan = plan_tiles(
        build((20, 10), [(box, None, m)]),
        TilingConfig(slice_wh=10, overlap=0, empty_ratio=0, min_visibility=0, min_size=1),
    )
    assert pieces(plan) == [(x, y, [float(v) for v in b]) for x, y, b in expected_pieces]
    assert summary(plan.report) == expected
    tiled = plan.to_dataset()
    for k, (x, y, _) in enumerate(expected_pieces):
        assert np.array_equal(
            rle_decode(tiled.segments.rle(k), (10, 10)), m[y : y + 10, x : x + 10]
        )


def test_mask_on_rectangular_tiles():
    # 25 x 14 image, 10 x 8 slices: x starts 0, 10, 15; y starts 0, 6
    m = mask((14, 25), slice(4, 7), slice(12, 14))  # rows 4-6, columns 12-13
    plan = plan_tiles(
        build((25, 14), [([11, 3, 15, 8], None, m)]),
        TilingConfig(slice_wh=(10, 8), overlap=0, empty_ratio=0, min_visibility=0.3, min_size=1),
    )
    # tile (10, 0) holds the whole box: not clipped, not tightened; tile (10, 6) holds
    # rows 6-7 of it (vis 8/20): clipped, tightened to the mask's row 6, columns 12-13
    assert pieces(plan) == [(10, 0, [1.0, 3.0, 5.0, 8.0]), (10, 6, [2.0, 0.0, 4.0, 1.0])]
    assert plan.piece_clipped.tolist() == [False, True]
    assert plan.report.status.tolist() == [K]  # whole in one tile: kept
    tiled = plan.to_dataset()
    assert np.array_equal(rle_decode(tiled.segments.rle(0), (8, 10)), m[0:8, 10:20])
    assert np.array_equal(rle_decode(tiled.segments.rle(1), (8, 10)), m[6:14, 10:20])


def test_mixed_segment_kinds_follow_their_pieces():
    m = mask((10, 20), slice(2, 5), slice(5, 8))
    plan = plan_tiles(
        build(
            (20, 10),
            [
                ([12, 2, 18, 8], [tri([12, 2], [18, 2], [12, 8])], None),  # 0 right tile
                ([1, 1, 4, 4], None, None),  # 1 box only, left
                ([5, 2, 8, 5], None, m),  # 2 mask, left
                ([1, 6, 4, 9], [tri([1, 6], [4, 6], [1, 9])], None),  # 3 polygon, left
            ],
        ),
        TilingConfig(slice_wh=10, overlap=0, empty_ratio=0, min_visibility=0.5, min_size=1),
    )
    assert plan.piece_ann.tolist() == [1, 2, 3, 0]
    tiled = plan.to_dataset()
    seg = tiled.segments
    assert seg.kind.tolist() == [
        SegmentKind.NONE,
        SegmentKind.RLE,
        SegmentKind.POLYGON,
        SegmentKind.POLYGON,
    ]
    assert seg.polygon(0) == []
    assert np.array_equal(rle_decode(seg.rle(1), (10, 10)), m[:, :10])
    # (clipping may start a ring elsewhere or turn it round: compare the vertex sets)
    assert [sorted(r.tolist()) for r in seg.polygon(2)] == [[[1, 6], [1, 9], [4, 6]]]
    assert [sorted(r.tolist()) for r in seg.polygon(3)] == [[[2, 2], [2, 8], [8, 2]]]  # x - 10
