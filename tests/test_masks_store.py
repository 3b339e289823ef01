"""CompactMasks: round trips (dense, COCO RLE, polygons), Detections plumbing, bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tilewise import Detections, TilewiseError
from tilewise.masks import CompactMasks, pixel_rects
from tilewise.masks.rle import crop_to_rle, rle_encode, rle_to_crop

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def dense_masks(draw: st.DrawFn, max_n: int = 5, max_side: int = 24) -> np.ndarray:
    n = draw(st.integers(0, max_n))
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    return draw(hnp.arrays(bool, (n, h, w)))


@st.composite
def blob_masks(draw: st.DrawFn, max_n: int = 4, side: int = 40) -> np.ndarray:
    """Masks of 1-3 filled ellipses each: shapes with interiors, holes possible."""
    n = draw(st.integers(1, max_n))
    out = np.zeros((n, side, side), dtype=np.uint8)
    for i in range(n):
        for _ in range(draw(st.integers(1, 3))):
            cx, cy = draw(st.integers(0, side - 1)), draw(st.integers(0, side - 1))
            ax, ay = draw(st.integers(1, 12)), draw(st.integers(1, 12))
            cv2.ellipse(out[i], (cx, cy), (ax, ay), draw(st.integers(0, 179)), 0, 360, 1, -1)
    return out.astype(bool)


def tight_boxes(dense: np.ndarray) -> np.ndarray:
    boxes = np.zeros((len(dense), 4), dtype=np.float32)
    for i, m in enumerate(dense):
        ys, xs = np.nonzero(m)
        if xs.size:
            boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


def fill_holes(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1).astype(np.uint8)
    outside = padded.copy()
    cv2.floodFill(outside, None, (0, 0), 2)
    return (outside != 2)[1:-1, 1:-1]


# ---------------------------------------------------------------- dense round trips


@SETTINGS
@given(dense_masks())
def test_dense_compact_dense_is_identity(dense: np.ndarray) -> None:
    masks = CompactMasks.from_dense(dense)
    assert len(masks) == len(dense)
    assert masks.image_wh == (dense.shape[2], dense.shape[1])
    np.testing.assert_array_equal(masks.to_dense(), dense)
    np.testing.assert_array_equal(masks.area, dense.sum(axis=(1, 2)))
    for i in range(len(dense)):
        np.testing.assert_array_equal(masks.mask(i), dense[i])
    # Crops are tight: the crop boxes are the masks' bounding boxes.
    nonempty = dense.any(axis=(1, 2))
    np.testing.assert_array_equal(masks.crop_boxes[nonempty], tight_boxes(dense)[nonempty])
    assert masks.nbytes <= sum((b[3] - b[1]) * ((b[2] - b[0] + 7) // 8) for b in masks.crop_boxes)


@SETTINGS
@given(dense_masks(), st.data())
def test_from_dense_with_any_boxes_is_lossless(dense: np.ndarray, data: st.DataObject) -> None:
    n = len(dense)
    coords = hnp.arrays(np.float32, (n, 4), elements=st.floats(-5, 30, width=32))
    boxes = np.sort(data.draw(coords).reshape(n, 2, 2), axis=1).reshape(n, 4)
    masks = CompactMasks.from_dense(dense, boxes)
    np.testing.assert_array_equal(masks.to_dense(), dense)


def test_dense_masks_in_detections_are_compacted() -> None:
    dense = np.zeros((2, 10, 12), dtype=bool)
    dense[0, 1:4, 2:6] = True
    dense[1, 5:9, 0:3] = True
    det = Detections(np.array([[2, 1, 6, 4], [0, 5, 3, 9]]), masks=dense)
    assert isinstance(det.masks, CompactMasks)
    assert det.masks.nbytes == 3 * 1 + 4 * 1
    np.testing.assert_array_equal(det.masks.to_dense(), dense)


# ---------------------------------------------------------------- Detections plumbing


def test_indexing_filtering_concatenation_and_shift_carry_masks() -> None:
    dense = np.zeros((3, 8, 8), dtype=bool)
    dense[0, 0:2, 0:2] = True
    dense[1, 3:6, 3:7] = True
    dense[2, 7, :] = True
    det = Detections(tight_boxes(dense), confidence=[0.9, 0.2, 0.6], masks=dense)
    picked = det[det.confidence > 0.5]
    np.testing.assert_array_equal(picked.masks.to_dense(), dense[[0, 2]])
    np.testing.assert_array_equal(det[1].masks.to_dense(), dense[[1]])
    np.testing.assert_array_equal(det[::-1].masks.to_dense(), dense[::-1])
    both = Detections.concatenate([det, det[[2]], Detections.empty()[:0]])
    np.testing.assert_array_equal(both.masks.to_dense(), dense[[0, 1, 2, 2]])
    moved = det.shifted(3, 1)
    np.testing.assert_array_equal(moved.masks.origins, det.masks.origins + np.array([3, 1]))
    assert moved.masks.image_wh is None
    np.testing.assert_array_equal(
        moved.masks.to_dense((11, 9))[:, 1:, 3:], dense, err_msg="shift moves pixels"
    )


def test_indexing_shares_the_buffer_and_concatenation_compacts_it() -> None:
    crops = [np.ones((4, 9), dtype=bool), np.ones((2, 2), dtype=bool), np.ones((1, 17), bool)]
    masks = CompactMasks.from_crops(crops, [(0, 0), (5, 5), (1, 9)])
    sub = masks[np.array([2, 0])]
    assert np.shares_memory(sub._data, masks._data)
    joined = CompactMasks.concatenate([sub, masks[[1]]])
    assert joined._data.size == joined.nbytes == 3 + 8 + 2
    np.testing.assert_array_equal(joined.area, [17, 36, 4])
    assert joined == CompactMasks.from_crops(
        [crops[2], crops[0], crops[1]], [(1, 9), (0, 0), (5, 5)]
    )


def test_concatenating_other_stores_is_refused() -> None:
    with pytest.raises(TilewiseError, match="CompactMasks"):
        CompactMasks.concatenate([CompactMasks.empty(), object()])


# ---------------------------------------------------------------- COCO RLE


@SETTINGS
@given(dense_masks(max_n=3))
def test_rle_matches_pycocotools_both_ways(dense: np.ndarray) -> None:
    mask_utils = pytest.importorskip("pycocotools.mask")
    _, h, w = dense.shape
    masks = CompactMasks.from_dense(dense)
    ours = masks.to_coco_rle()
    theirs = mask_utils.encode(np.asfortranarray(dense.transpose(1, 2, 0).astype(np.uint8)))
    assert [r["counts"] for r in ours] == [r["counts"].decode() for r in theirs]
    assert all(r["size"] == [h, w] for r in ours)
    back = CompactMasks.from_coco_rle(theirs, image_wh=(w, h))
    np.testing.assert_array_equal(back.to_dense(), dense)
    assert back == masks
    raw = CompactMasks.from_coco_rle(masks.to_coco_rle(compress=False), image_wh=(w, h))
    np.testing.assert_array_equal(raw.to_dense(), dense)


@SETTINGS
@given(hnp.arrays(bool, st.tuples(st.integers(0, 12), st.integers(0, 12))), st.data())
def test_crop_to_rle_equals_encoding_the_whole_image(crop: np.ndarray, data: st.DataObject) -> None:
    h, w = data.draw(st.integers(1, 20)), data.draw(st.integers(1, 20))
    x0, y0 = data.draw(st.integers(-6, 20)), data.draw(st.integers(-6, 20))
    image = np.zeros((h + 80, w + 80), dtype=bool)
    image[30 + y0 : 30 + y0 + crop.shape[0], 30 + x0 : 30 + x0 + crop.shape[1]] = crop
    expected = rle_encode(image[30 : 30 + h, 30 : 30 + w])
    np.testing.assert_array_equal(crop_to_rle(crop, (x0, y0), (h, w)), expected)
    origin, tight = rle_to_crop(expected, (h, w))
    rebuilt = np.zeros((h, w), dtype=bool)
    rebuilt[origin[1] : origin[1] + tight.shape[0], origin[0] : origin[0] + tight.shape[1]] = tight
    np.testing.assert_array_equal(rebuilt, image[30 : 30 + h, 30 : 30 + w])


def test_rle_input_errors() -> None:
    with pytest.raises(TilewiseError, match="'size' and 'counts'"):
        CompactMasks.from_coco_rle([{"counts": "52"}])
    with pytest.raises(TilewiseError, match="needs"):
        CompactMasks.from_coco_rle([{"size": [4, 3], "counts": [5, 2]}])
    with pytest.raises(TilewiseError, match="image size is unknown"):
        CompactMasks.from_crops([np.ones((1, 1), bool)], [(0, 0)]).to_coco_rle()


# ---------------------------------------------------------------- polygons


@SETTINGS
@given(blob_masks())
def test_polygon_round_trip_is_within_one_pixel_of_the_boundary(dense: np.ndarray) -> None:
    masks = CompactMasks.from_dense(dense)
    back = CompactMasks.from_polygons(masks.to_polygons(), image_wh=masks.image_wh).to_dense()
    kernel = np.ones((3, 3), np.uint8)
    for original, rebuilt in zip(dense, back, strict=True):
        filled = fill_holes(original)  # COCO polygons hold no holes
        diff = filled ^ rebuilt
        u8 = filled.astype(np.uint8)
        boundary = (cv2.dilate(u8, kernel) != cv2.erode(u8, kernel)).astype(bool)
        assert not (diff & ~boundary).any()


def test_polygons_of_rectangles_are_exact() -> None:
    dense = np.zeros((2, 10, 10), dtype=bool)
    dense[0, 2:5, 1:8] = True
    dense[1, 6:9, 6:7] = True
    masks = CompactMasks.from_dense(dense)
    rings = masks.to_polygons()
    assert [len(r) for r in rings] == [1, 1]
    assert rings[0][0].tolist() == [[1.0, 2.0], [1.0, 5.0], [8.0, 5.0], [8.0, 2.0]]
    back = CompactMasks.from_polygons(rings, image_wh=(10, 10))
    np.testing.assert_array_equal(back.to_dense(), dense)
    flat = CompactMasks.from_polygons([[[1, 2, 8, 2, 8, 5, 1, 5]], []], image_wh=(10, 10))
    np.testing.assert_array_equal(flat.to_dense()[0], dense[0])
    assert flat.area.tolist() == [21, 0]
    with pytest.raises(TilewiseError, match="ring 0"):
        CompactMasks.from_polygons([[[[0, 0, 1], [1, 1, 1]]]])


# ---------------------------------------------------------------- resize and clip


@SETTINGS
@given(
    dense_masks(max_n=3, max_side=30),
    st.integers(1, 70),
    st.integers(1, 70),
)
def test_resize_is_centre_aligned_nearest(dense: np.ndarray, w: int, h: int) -> None:
    _, src_h, src_w = dense.shape
    masks = CompactMasks.from_dense(dense).resized((w, h))
    assert masks.image_wh == (w, h)
    cols = ((2 * np.arange(w) + 1) * src_w) // (2 * w)
    rows = ((2 * np.arange(h) + 1) * src_h) // (2 * h)
    ties = ((2 * np.arange(h) + 1) * src_h % (2 * h) == 0)[:, None] | (
        (2 * np.arange(w) + 1) * src_w % (2 * w) == 0
    )[None, :]
    for i, m in enumerate(dense):
        np.testing.assert_array_equal(masks.mask(i), m[np.ix_(rows, cols)])
        opencv = cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
        np.testing.assert_array_equal(masks.mask(i)[~ties], opencv.astype(bool)[~ties])


def test_resize_needs_the_source_size() -> None:
    with pytest.raises(TilewiseError, match="own image_wh"):
        CompactMasks.from_crops([np.ones((1, 1), bool)], [(0, 0)]).resized((4, 4))


@SETTINGS
@given(dense_masks(), st.data())
def test_clip_to_rectangles_equals_dense_and(dense: np.ndarray, data: st.DataObject) -> None:
    n = len(dense)
    rects = pixel_rects(data.draw(hnp.arrays(np.float64, (n, 4), elements=st.floats(-3, 27))))
    masks, counts = CompactMasks.from_dense(dense).clipped(rects)
    keep = np.zeros_like(dense)
    for i, (x0, y0, x1, y1) in enumerate(rects.tolist()):
        keep[i, max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    expected = dense & keep
    np.testing.assert_array_equal(masks.to_dense(), expected)
    lost = dense.sum(axis=(1, 2)) - expected.sum(axis=(1, 2))
    assert counts.pixels == int(lost.sum())
    assert counts.masks == int((lost > 0).sum())
    assert counts.emptied == int(((lost > 0) & (expected.sum(axis=(1, 2)) == 0)).sum())


# ---------------------------------------------------------------- bad input


def test_bad_dense_masks_are_refused_clearly() -> None:
    boxes = np.array([[0, 0, 2, 2]])
    with pytest.raises(TilewiseError, match=r"shape \(1, H, W\)"):
        Detections(boxes, masks=np.ones((4, 4), dtype=bool))
    with pytest.raises(TilewiseError, match=r"shape \(1, H, W\)"):
        Detections(boxes, masks=np.ones((2, 4, 4), dtype=bool))
    with pytest.raises(TilewiseError, match="threshold probabilities"):
        Detections(boxes, masks=np.full((1, 4, 4), 0.7))
    ints = Detections(boxes, masks=np.eye(4, dtype=np.uint8)[None])
    assert ints.masks.area.tolist() == [4]
    with pytest.raises(TilewiseError, match="one row per mask"):
        CompactMasks(np.zeros(1, np.uint8), [0, 0], [[0, 0]], [[1, 1]])
    with pytest.raises(TilewiseError, match="past the end"):
        CompactMasks(np.zeros(1, np.uint8), [0], [[0, 0]], [[2, 3]])
    with pytest.raises(TilewiseError, match="crop 0 must be 2-D"):
        CompactMasks.from_crops([np.ones(3, bool)], [(0, 0)])


def test_all_empty_masks_are_kept_as_empty_crops() -> None:
    dense = np.zeros((3, 5, 5), dtype=bool)
    masks = CompactMasks.from_dense(dense, np.array([[0, 0, 2, 2]] * 3))
    assert masks.area.tolist() == [0, 0, 0]
    assert masks.nbytes == 0
    assert masks.shapes.tolist() == [[0, 0]] * 3
    np.testing.assert_array_equal(masks.to_dense(), dense)
    assert masks.to_polygons() == [[], [], []]
    assert len(CompactMasks.concatenate([masks, CompactMasks.empty()])) == 3


def test_repr_and_equality() -> None:
    a = CompactMasks.from_dense(np.eye(4, dtype=bool)[None])
    assert repr(a) == "CompactMasks(n=1, 4 bytes, image_wh=(4, 4))"
    assert a == CompactMasks.from_dense(np.eye(4, dtype=bool)[None])
    assert a != a.shifted(1, 0)
    assert a != CompactMasks.empty()


def test_compact_masks_implement_the_mask_store_protocol() -> None:
    from tilewise.detections import MaskStore

    assert isinstance(CompactMasks.empty(), MaskStore)
