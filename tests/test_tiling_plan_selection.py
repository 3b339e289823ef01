"""Exact, hand-worked cases for ``plan_tiles``' tile selection: the empty-tile quota per
split, empty tiles without data (``valid_fraction``, ``min_valid``), tile file names
(duplicate stems, splits, extensions, offsets) and ``to_dataset``.
(Added for the mutation score of ``datasets/tiling/plan.py``; see docs/testing.md.)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.tiling_plan_helpers import tiles
from tilewise.datasets import DatasetBuilder
from tilewise.datasets.tiling import TilingConfig, plan_tiles
from tilewise.errors import TilewiseError

# ----------------------------------------------------------------------------- empty tiles


def row_of_tiles(n_positive, n_empty, split="", name="im.png", builder=None):
    """An image of n_positive + n_empty 10 px tiles in a row, a box in each of the first."""
    b = builder or DatasetBuilder(["a"])
    i = b.add_image(name, 10 * (n_positive + n_empty), 10, split=split)
    for k in range(n_positive):
        b.add_box(i, [10 * k + 2, 2, 10 * k + 8, 8], 0)
    return b


# quota = min(empty tiles, rint(empty_ratio * tiles with objects)); rint rounds half to even
@pytest.mark.parametrize(
    ("n_positive", "n_empty", "ratio", "quota"),
    [
        (1, 3, 0.1, 0),  # rint(0.1) = 0
        (1, 3, 0.5, 0),  # rint(0.5) = 0
        (3, 5, 0.5, 2),  # rint(1.5) = 2
        (5, 10, 0.5, 2),  # rint(2.5) = 2
        (3, 5, 0.6, 2),  # rint(1.8) = 2
        (2, 3, 1.0, 2),
        (2, 3, 5.0, 3),  # capped at the 3 empty tiles
        (0, 4, 2.0, 0),  # no tile with objects, no empty tile
    ],
)
def test_empty_tile_quota_table(n_positive, n_empty, ratio, quota):
    ds = row_of_tiles(n_positive, n_empty).build()
    plan = plan_tiles(ds, TilingConfig(slice_wh=10, overlap=0, empty_ratio=ratio, seed=1))
    n = n_positive + n_empty
    assert plan.report.tiles == tiles(n, n_positive, quota)
    assert plan.tile_positive.tolist() == [True] * n_positive + [False] * n_empty
    assert plan.tile_selected[:n_positive].all()
    assert int(plan.tile_selected[n_positive:].sum()) == quota


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_empty_tiles_all_taken_when_quota_reaches_them(seed):
    # 2 tiles with objects, 4 empty, ratio 3: quota min(4, 6) = 4, every empty tile, whatever
    # the seed (sampling without replacement)
    plan = plan_tiles(
        row_of_tiles(2, 4).build(), TilingConfig(slice_wh=10, overlap=0, empty_ratio=3, seed=seed)
    )
    assert plan.tile_selected.tolist() == [True] * 6
    assert plan.report.tiles == tiles(6, 2, 4)


def test_empty_tile_quota_per_split():
    b = row_of_tiles(1, 4, split="train", name="a.png")  # quota min(4, 1) = 1
    row_of_tiles(3, 2, split="val", name="b.png", builder=b)  # quota min(2, 3) = 2
    row_of_tiles(0, 3, split="test", name="c.png", builder=b)  # quota 0: no tile with objects
    plan = plan_tiles(b.build(), TilingConfig(slice_wh=10, overlap=0, empty_ratio=1.0))
    assert plan.report.tiles == tiles(5 + 5 + 3, 1 + 3, 1 + 2)
    assert plan.report.splits == {"test": 1, "train": 1, "val": 1}
    sel = plan.tile_selected
    img = plan.tile_image
    assert [int(sel[img == i].sum()) for i in range(3)] == [1 + 1, 3 + 2, 0]
    assert plan.selected.tolist() == np.flatnonzero(sel).tolist()


# ----------------------------------------------------------------------------- names, dataset


def one_tile_images(files, wh=(10, 10), splits=None):
    b = DatasetBuilder(["a"])
    for k, f in enumerate(files):
        i = b.add_image(f, *wh, split="" if splits is None else splits[k])
        b.add_box(i, [2, 2, 8, 8], 0)
    return b.build()


@pytest.mark.parametrize(
    ("files", "splits", "image_ext", "names"),
    [
        pytest.param(
            ["d/im.png", "d/im.jpg", "e/im.png", "d/IM.BMP", "d/im.webp", "noext"],
            None,
            None,
            # same folder and stem: _1, _2 in image order; the extension is lower-cased;
            # no extension: .png; a file at the top: no folder
            [
                "d/im_0_0.png",
                "d/im_1_0_0.jpg",
                "e/im_0_0.png",
                "d/IM_0_0.bmp",
                "d/im_2_0_0.webp",
                "noext_0_0.png",
            ],
            id="duplicate-stems",
        ),
        pytest.param(
            ["d/im.png", "d/im.jpg"],
            None,
            ".jpg",
            ["d/im_0_0.jpg", "d/im_1_0_0.jpg"],
            id="image-ext",
        ),
        pytest.param(
            ["images/train/x/im.png", "im.png", "x/im.png", "images/val/im.png"],
            ["train", "val", "val", "train"],
            None,
            # the split leads; the same stem in another split is not a duplicate
            ["train/x/im_0_0.png", "val/im_0_0.png", "val/x/im_0_0.png", "train/val/im_0_0.png"],
            id="splits",
        ),
    ],
)
def test_tile_names_table(files, splits, image_ext, names):
    ds = one_tile_images(files, splits=splits)
    plan = plan_tiles(ds, TilingConfig(slice_wh=10, overlap=0, image_ext=image_ext))
    assert plan.tile_names() == names
    assert plan.tile_names(np.arange(len(files))[::-1]) == names[::-1]


def test_tile_names_carry_tile_offsets():
    ds = one_tile_images(["im.png"], wh=(20, 20))
    plan = plan_tiles(ds, TilingConfig(slice_wh=10, overlap=0))
    assert plan.selected.tolist() == [0]
    assert plan.tile_names(np.arange(4)) == [
        "im_0_0.png",
        "im_10_0.png",
        "im_0_10.png",
        "im_10_10.png",
    ]
    assert plan.tile_names([1, 3]) == ["im_10_0.png", "im_10_10.png"]


def test_to_dataset_rectangular_tiles():
    # 25 x 14 image, 10 x 8 slices: tiles (0,0) (10,0) (15,0) (0,6) (10,6) (15,6)
    b = DatasetBuilder(["a", "b"])
    i = b.add_image("d/im.png", 25, 14, split="train")
    b.add_box(i, [11, 1, 14, 4], 1)  # tile (10, 0) only
    b.add_box(i, [21, 10, 24, 13], 0, iscrowd=True)  # tile (15, 6) only
    plan = plan_tiles(b.build(), TilingConfig(slice_wh=(10, 8), overlap=0, empty_ratio=0))
    assert plan.selected.tolist() == [1, 5]
    tiled = plan.to_dataset()
    assert tiled.images.file_name.tolist() == [
        "images/train/d/im_10_0.png",
        "images/train/d/im_15_6.png",
    ]
    assert tiled.images.width.tolist() == [10, 10]
    assert tiled.images.height.tolist() == [8, 8]
    assert tiled.images.offset.tolist() == [[10, 0], [15, 6]]
    assert tiled.images.source.tolist() == ["d/im.png", "d/im.png"]
    assert tiled.images.split.tolist() == ["train", "train"]
    assert tiled.image_index.tolist() == [0, 1]
    assert tiled.boxes.tolist() == [[1.0, 1.0, 4.0, 4.0], [6.0, 4.0, 9.0, 7.0]]
    assert tiled.class_id.tolist() == [1, 0]
    assert tiled.iscrowd.tolist() == [False, True]


def test_plan_is_frozen_and_compared_by_identity():
    ds = one_tile_images(["im.png"])
    plan = plan_tiles(ds, TilingConfig(slice_wh=10, overlap=0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.report = None  # type: ignore[misc]
    # numpy fields make field-wise == ambiguous: a plan is its own identity (and hashable)
    again = plan_tiles(ds, TilingConfig(slice_wh=10, overlap=0))
    assert plan == plan
    assert plan != again
    assert len({plan, again}) == 2


# ----------------------------------------------------------------------------- nodata tiles


class Fractions:
    """``valid_fraction`` from a table {(image, tile x): fraction}; records its calls."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def __call__(self, tile_image, tile_box):
        self.calls.append((tile_image.tolist(), tile_box.tolist()))
        keys = zip(tile_image.tolist(), tile_box[:, 0].tolist(), strict=True)
        return [self.table[key] for key in keys]


def nodata_scene():
    b = row_of_tiles(1, 1, name="a.png")  # image 0: tile x 0 with a box, tile x 10 empty
    row_of_tiles(0, 4, name="b.png", builder=b)  # image 1: four empty tiles
    return b.build()


# empty tiles: (0, 10) (1, 0) (1, 10) (1, 20) (1, 30); no valid pixel (<= 0) is never a
# negative, nor a fraction under min_valid; exactly min_valid is enough
FRACTIONS = {(0, 10): 0.0, (1, 0): 0.2, (1, 10): 0.5, (1, 20): 1.0, (1, 30): 0.49999}


@pytest.mark.parametrize(
    ("min_valid", "nodata", "sparse", "eligible"),
    [
        (0.5, 1, 2, [(1, 10), (1, 20)]),
        (0.0, 1, 0, [(1, 0), (1, 10), (1, 20), (1, 30)]),
        (1.0, 1, 3, [(1, 20)]),
    ],
)
def test_nodata_and_sparse_empty_tiles_never_sampled(min_valid, nodata, sparse, eligible):
    frac = Fractions(FRACTIONS)
    plan = plan_tiles(
        nodata_scene(),
        TilingConfig(slice_wh=10, overlap=0, empty_ratio=10),  # quota: every eligible tile
        valid_fraction=frac,
        min_valid=min_valid,
    )
    # one call, for the empty tiles only, with their image and window
    assert frac.calls == [
        (
            [0, 1, 1, 1, 1],
            [[10, 0, 20, 10], [0, 0, 10, 10], [10, 0, 20, 10], [20, 0, 30, 10], [30, 0, 40, 10]],
        )
    ]
    selected = [(int(plan.tile_image[t]), int(plan.tile_box[t, 0])) for t in plan.selected.tolist()]
    assert selected == [(0, 0), *eligible]
    assert plan.report.tiles == {
        **tiles(6, 1, len(eligible)),
        "empty_nodata": nodata,
        "empty_sparse": sparse,
    }


def test_valid_fraction_of_the_wrong_length_is_refused():
    with pytest.raises(TilewiseError, match=r"^valid_fraction returned \(4,\) values for 5 tiles$"):
        plan_tiles(
            nodata_scene(),
            TilingConfig(slice_wh=10, overlap=0),
            valid_fraction=lambda img, box: np.ones(4),
        )


@pytest.mark.parametrize(
    ("min_valid", "shown"), [(True, "True"), (-0.1, "-0.1"), (1.5, "1.5"), (float("nan"), "nan")]
)
def test_min_valid_must_be_a_fraction(min_valid, shown):
    message = rf"^min_valid must be a fraction in \[0, 1\], got {shown}$"
    with pytest.raises(TilewiseError, match=message):
        plan_tiles(nodata_scene(), TilingConfig(slice_wh=10, overlap=0), min_valid=min_valid)


def test_min_valid_defaults_to_any_valid_pixel():
    # without min_valid only tiles with no valid pixel are kept out: 0.2 and 0.49999 are fine
    plan = plan_tiles(
        nodata_scene(),
        TilingConfig(slice_wh=10, overlap=0, empty_ratio=10),
        valid_fraction=Fractions(FRACTIONS),
    )
    assert plan.report.tiles == {**tiles(6, 1, 4), "empty_nodata": 1, "empty_sparse": 0}
