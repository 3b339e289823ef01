"""Mosaic's polygon and mask paths (issue 17, item 4: only its box path was tested).

Every object is painted into its sample's image with its own colour, so after the mosaic
each kept object's mask must be exactly the canvas pixels of that colour, and its polygon
exactly the visible part of its painted rectangle; a sample without masks (or polygons)
next to samples with them gets box masks (or empty rings).
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise.datasets.augment import BoxRules, DropCounts, Sample, bbox_safe_crop, mosaic4


def _sample(index: int, rects, wh, *, masks: bool, polygons: bool, shape: str) -> Sample:
    """Objects of class ``10 * index + k`` painted with colour ``class + 1`` in channel 0."""
    w, h = wh
    img = np.zeros((h, w, 3), np.uint8)
    m = np.zeros((len(rects), h, w), bool)
    for k, (x1, y1, x2, y2) in enumerate(rects):
        region = np.zeros((h, w), bool)
        region[y1:y2, x1:x2] = True
        if shape == "checker":  # a mask that is not its box: every other pixel row
            region[y1 + 1 : y2 : 2, :] = False
        img[region, 0] = 10 * index + k + 1
        m[k] = region
    polys = (
        [[np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], float)] for x1, y1, x2, y2 in rects]
        if polygons
        else None
    )
    return Sample(
        img,
        np.array(rects, float).reshape(-1, 4),
        10 * index + np.arange(len(rects)),
        polys,
        m if masks else None,
    )


def _disjoint_rects(rng: np.random.Generator, wh: tuple[int, int], n: int) -> list[list[int]]:
    """Up to ``n`` non-overlapping rectangles (so each pixel has one owner)."""
    w, h = wh
    taken = np.zeros((h, w), bool)
    out: list[list[int]] = []
    for _ in range(n * 4):
        if len(out) == n:
            break
        bw, bh = int(rng.integers(2, 12)), int(rng.integers(2, 12))
        x1, y1 = int(rng.integers(0, max(w - bw, 1))), int(rng.integers(0, max(h - bh, 1)))
        x2, y2 = min(x1 + bw, w), min(y1 + bh, h)
        if not taken[y1:y2, x1:x2].any():
            taken[y1:y2, x1:x2] = True
            out.append([x1, y1, x2, y2])
    return out


def _inputs(seed: int, with_segments: list[bool], polygons: bool, shape: str):
    rng = np.random.default_rng(seed)
    samples = []
    for q, has in enumerate(with_segments):
        wh = (int(rng.integers(20, 70)), int(rng.integers(20, 70)))
        rects = _disjoint_rects(rng, wh, int(rng.integers(0, 6)))
        samples.append(
            _sample(q, rects, wh, masks=has and not polygons, polygons=has and polygons,
                    shape=shape)
        )  # fmt: skip
    return samples, rng


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(24, 96),
    with_masks=st.lists(st.booleans(), min_size=4, max_size=4).filter(any),
    shape=st.sampled_from(["box", "checker"]),
    min_vis=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_mosaic_masks_follow_their_pixels(seed, size, with_masks, shape, min_vis) -> None:
    samples, rng = _inputs(seed, with_masks, polygons=False, shape=shape)
    counts = DropCounts()
    out = mosaic4(samples, size, rng, rules=BoxRules(min_vis, 0), counts=counts)
    assert out.masks is not None
    assert out.polygons is None
    assert out.masks.shape == (len(out), size, size)
    assert counts.kept == len(out)
    assert counts.kept + counts.total_dropped == sum(len(s) for s in samples)
    colours = out.image[..., 0].astype(np.int64)
    for j, cls in enumerate(out.class_id.tolist()):
        source = samples[cls // 10]
        mask = out.masks[j]
        if source.masks is not None:
            # exactly the pixels painted for this object that landed on the canvas
            assert np.array_equal(mask, colours == cls + 1), (j, cls)
        else:
            # a sample without masks: the object's box, rounded, on the canvas
            x1, y1, x2, y2 = np.round(out.boxes[j]).astype(int)
            expected = np.zeros_like(mask)
            expected[y1:y2, x1:x2] = True
            assert np.array_equal(mask, expected)
        assert mask.any()
        ys, xs = np.nonzero(mask)
        bx1, by1, bx2, by2 = out.boxes[j]
        assert bx1 <= xs.min()
        assert xs.max() < bx2
        assert by1 <= ys.min()
        assert ys.max() < by2


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(24, 96),
    with_polys=st.lists(st.booleans(), min_size=4, max_size=4).filter(any),
)
def test_mosaic_polygons_are_the_visible_rectangles(seed, size, with_polys) -> None:
    samples, rng = _inputs(seed, with_polys, polygons=True, shape="box")
    out = mosaic4(samples, size, rng, rules=BoxRules(0.0, 0), counts=DropCounts())
    assert out.masks is None
    assert out.polygons is not None
    assert len(out.polygons) == len(out)
    colours = out.image[..., 0].astype(np.int64)
    for j, cls in enumerate(out.class_id.tolist()):
        rings = out.polygons[j]
        if samples[cls // 10].polygons is None:
            assert rings == []  # no polygon to carry
            continue
        # the painted rectangle's visible part is what the polygon covers, exactly
        ys, xs = np.nonzero(colours == cls + 1)
        assert xs.size
        visible = shapely.box(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        poly = shapely.union_all([shapely.Polygon(r) for r in rings])
        assert poly.symmetric_difference(visible).area == pytest.approx(0.0, abs=1e-9)
        np.testing.assert_allclose(out.boxes[j], visible.bounds, atol=1e-9)


def test_mosaic_masks_table() -> None:
    """One fixed case written out: four 32 px samples with one 4 x 4 object each."""
    samples = [
        _sample(q, [[14, 14, 18, 18]], (32, 32), masks=True, polygons=False, shape="box")
        for q in range(4)
    ]
    out = mosaic4(samples, 64, np.random.default_rng(3), counts=DropCounts())
    assert out.class_id.tolist() == [0, 10, 20, 30]
    assert out.masks.sum(axis=(1, 2)).tolist() == [16, 16, 16, 16]
    for j in range(4):
        ys, xs = np.nonzero(out.masks[j])
        assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == out.boxes[j].tolist()


@pytest.mark.parametrize("with_polygons", [False, True])
def test_crop_of_a_segmented_sample_without_objects(with_polygons: bool) -> None:
    """Regression: a masked sample with no objects crashed every affine transform
    (``reshape(0, -1)``), so a mosaic drawing one raised ValueError."""
    empty = Sample(
        np.zeros((32, 24, 3), np.uint8),
        np.zeros((0, 4)),
        np.zeros(0, np.int64),
        [] if with_polygons else None,
        None if with_polygons else np.zeros((0, 32, 24), bool),
    )
    out = bbox_safe_crop(empty, (17, 10), np.random.default_rng(0), counts=DropCounts())
    assert out.wh == (17, 10)
    assert len(out) == 0
    if not with_polygons:
        assert out.masks.shape == (0, 10, 17)
