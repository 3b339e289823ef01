from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise.datasets.augment import (
    BoxRules,
    DropCounts,
    Sample,
    SmallObjectAugment,
    bbox_safe_crop,
    crop,
    flip,
    mosaic4,
    rotate,
    rotate90,
    scale,
)


def painted(boxes, wh=(40, 30), masks=False, polygons=False):
    w, h = wh
    img = np.zeros((h, w, 3), np.uint8)
    m = np.zeros((len(boxes), h, w), bool)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        img[y1:y2, x1:x2] = 255
        m[k, y1:y2, x1:x2] = True
    polys = None
    if polygons:
        polys = [
            [np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], float)] for x1, y1, x2, y2 in boxes
        ]
    return Sample(img, np.array(boxes, float), np.arange(len(boxes)), polys, m if masks else None)


def white_bbox(img):
    ys, xs = np.nonzero(img[:, :, 0] == 255)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.mark.parametrize("kind", ["boxes", "masks", "polygons"])
@pytest.mark.parametrize(
    "op",
    [
        lambda s: flip(s),
        lambda s: flip(s, horizontal=False),
        lambda s: rotate90(s, 1),
        lambda s: rotate90(s, 2),
        lambda s: rotate90(s, 3),
    ],
)
def test_exact_transforms_move_pixels_and_objects_together(kind, op):
    s = painted([[3, 4, 9, 7]], masks=kind == "masks", polygons=kind == "polygons")
    out = op(s)
    assert out.boxes.tolist() == [white_bbox(out.image)]
    if kind == "masks":
        assert np.array_equal(out.masks[0], out.image[:, :, 0] == 255)
    if kind == "polygons":
        assert shapely.Polygon(out.polygons[0][0]).area == pytest.approx(18.0)


def test_rotation_recomputes_boxes_from_polygons():
    s = painted([[15, 10, 25, 20]], polygons=True)
    out = rotate(s, 45)
    half = 5 * np.sqrt(2)
    np.testing.assert_allclose(out.boxes[0], [20 - half, 15 - half, 20 + half, 15 + half])
    plain = rotate(painted([[15, 10, 25, 20]]), 45)
    np.testing.assert_allclose(plain.boxes[0], out.boxes[0])  # a square's corners agree
    tri = Sample(
        np.zeros((40, 40, 3), np.uint8),
        np.array([[10.0, 10, 30, 30]]),
        np.array([0]),
        [[np.array([[10.0, 10], [30, 10], [10, 30]])]],
    )
    r = rotate(tri, 90)
    np.testing.assert_allclose(r.boxes[0], [10, 10, 30, 30], atol=1e-9)
    assert shapely.Polygon(r.polygons[0][0]).area == pytest.approx(200.0)


def test_rotation_full_turn_is_identity():
    s = painted([[3, 4, 9, 7]], polygons=True)
    np.testing.assert_allclose(rotate(s, 360).boxes, s.boxes, atol=1e-9)


def test_objects_leaving_the_frame_are_counted():
    s = painted([[0, 0, 6, 4], [15, 10, 25, 20]])
    c = DropCounts()
    out = rotate(s, 30, rules=BoxRules(0.9, 2), counts=c)
    assert len(out) == 1
    assert c.kept == 1
    assert c.dropped["low_visibility"] == 1
    assert c.by_class == {0: 1}


def test_scale_drops_objects_under_min_size():
    s = painted([[2, 2, 5, 5], [10, 10, 30, 20]])
    c = DropCounts()
    out = scale(s, 0.5, rules=BoxRules(0.3, 2), counts=c)
    assert out.wh == (20, 15)
    assert out.boxes.tolist() == [[5.0, 5.0, 15.0, 10.0]]
    assert c.dropped == {"low_visibility": 0, "too_small": 1}


def test_crop_visibility_and_masks():
    s = painted([[8, 2, 12, 6]], masks=True)
    c = DropCounts()
    assert len(crop(s, (10, 0, 40, 30), rules=BoxRules(0.6, 1), counts=c)) == 0
    assert c.dropped["low_visibility"] == 1
    out = crop(s, (10, 0, 40, 30), rules=BoxRules(0.5, 1))
    assert out.boxes.tolist() == [[0.0, 2.0, 2.0, 6.0]]
    assert out.masks[0].sum() == 8


@pytest.mark.parametrize("seed", range(5))
def test_bbox_safe_crop_keeps_everything_that_fits(seed):
    s = painted([[30, 30, 36, 34], [40, 38, 44, 44], [50, 31, 52, 40]], wh=(100, 80))
    c = DropCounts()
    out = bbox_safe_crop(s, (32, 32), np.random.default_rng(seed), counts=c)
    assert out.wh == (32, 32)
    assert len(out) == 3
    assert c.total_dropped == 0
    sizes = out.boxes[:, 2:] - out.boxes[:, :2]
    np.testing.assert_allclose(sizes, s.boxes[:, 2:] - s.boxes[:, :2])


def test_mosaic_accounts_for_every_object():
    rng = np.random.default_rng(0)
    samples = [
        painted([[5, 5, 12, 12], [30, 20, 38, 28]], wh=(48, 40), polygons=True) for _ in range(4)
    ]
    c = DropCounts()
    out = mosaic4(samples, 64, rng, rules=BoxRules(0.3, 2), counts=c)
    assert out.wh == (64, 64)
    assert c.kept == len(out)
    assert c.kept + c.total_dropped == 8
    assert len(out.polygons) == len(out)
    assert np.all(out.boxes[:, :2] >= 0)
    assert np.all(out.boxes[:, 2:] <= 64)


@settings(max_examples=40, deadline=None)
@given(
    boxes=st.lists(
        st.tuples(st.integers(0, 35), st.integers(0, 25), st.integers(1, 10), st.integers(1, 10)),
        min_size=1,
        max_size=8,
    ),
    window=st.tuples(
        st.integers(-10, 30), st.integers(-10, 20), st.integers(2, 40), st.integers(2, 40)
    ),
    min_vis=st.floats(0, 1),
)
def test_property_crop_keeps_boxes_inside_and_counts(boxes, window, min_vis):
    b = [[x, y, min(x + w, 40), min(y + h, 30)] for x, y, w, h in boxes]
    s = painted(b)
    c = DropCounts()
    x, y, w, h = window
    out = crop(s, (x, y, x + w, y + h), rules=BoxRules(min_vis, 1), counts=c)
    assert c.kept + c.total_dropped == len(s)
    assert c.kept == len(out)
    assert np.all(out.boxes[:, :2] >= 0)
    assert np.all(out.boxes[:, 2] <= w)
    assert np.all(out.boxes[:, 3] <= h)


def test_pipeline_counts_and_is_seeded():
    s = painted([[10, 10, 14, 14], [30, 5, 34, 9]], wh=(64, 48), polygons=True)
    a = SmallObjectAugment(crop_size=(32, 32), max_angle=15, seed=3)
    b = SmallObjectAugment(crop_size=(32, 32), max_angle=15, seed=3)
    for _ in range(5):
        oa, ob = a(s), b(s)
        np.testing.assert_array_equal(oa.boxes, ob.boxes)
    assert a.counts.kept + a.counts.total_dropped == 10


def test_pipeline_never_loses_objects_silently():
    s = painted([[10, 10, 11, 14], [30, 5, 34, 9]], wh=(64, 48))  # the first is 1 px wide
    aug = SmallObjectAugment(p_flip=1.0, scale_range=(1, 1), rules=BoxRules(0.3, 2), seed=0)
    out = aug(s)
    assert len(out) == 1
    assert aug.counts.kept == 1
    assert aug.counts.dropped["too_small"] == 1


def test_uncounted_drop_warns():
    from tilewise import TilewiseWarning

    with pytest.warns(TilewiseWarning, match="dropped 1 object"):
        crop(painted([[0, 0, 6, 4]]), (10, 10, 40, 30))
