"""Segmentation through the Slicer: masks moved, resized, clipped, merged and evaluated."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tilewise import Detections, ModelOutputError, Slicer, TilewiseError
from tilewise.masks import CompactMasks
from tilewise.merge import merge_masked_detections


def disk_scene(wh: tuple[int, int], n: int, seed: int) -> np.ndarray:
    """Black RGB image with ``n`` red disks; green encodes a confidence, blue a class."""
    rng = np.random.default_rng(seed)
    w, h = wh
    image = np.zeros((h, w, 3), np.uint8)
    for _ in range(n):
        r = int(rng.integers(3, 22))
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        color = (255, int(rng.integers(60, 250)), int(rng.integers(0, 255)))
        cv2.circle(image, c, r, color, -1)
    return image


def blob_masks(image: np.ndarray) -> Detections:
    """Connected red blobs of one image: tight boxes, dense image-sized masks."""
    red = np.ascontiguousarray(image[..., 0] > 128).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(red, connectivity=4)
    if n <= 1:
        return Detections.empty()
    st = stats[1:n]
    x, y, w, h = st[:, 0], st[:, 1], st[:, 2], st[:, 3]
    xyxy = np.stack([x, y, x + w, y + h], axis=1)
    _, first = np.unique(labels.ravel(), return_index=True)  # each blob's first pixel
    fy, fx = np.unravel_index(first[1:], labels.shape)
    conf = image[fy, fx, 1].astype(np.float32) / 255.0
    dense = labels[None] == np.arange(1, n)[:, None, None]
    return Detections(xyxy, conf, image[fy, fx, 2] % 2, masks=dense)


def mask_model(images: list[np.ndarray]) -> list[Detections]:
    return [blob_masks(im) for im in images]


def compact_model(images: list[np.ndarray]) -> list[Detections]:
    out = []
    for im in images:
        det = blob_masks(im)
        if det.masks is not None:
            m = det.masks
            crops = [m.crop(i) for i in range(len(m))]
            det = Detections(
                det.xyxy,
                det.confidence,
                det.class_id,
                masks=CompactMasks.from_crops(crops, m.origins),
            )
        out.append(det)
    return out


@pytest.mark.parametrize("model", [mask_model, compact_model])
@pytest.mark.parametrize("method", ["nms", "nmm", "greedy_nmm"])
@pytest.mark.parametrize("mask_overlap", ["mask", "box"])
def test_slicer_moves_masks_into_the_image_and_merges_them(model, method, mask_overlap) -> None:
    image = disk_scene((230, 170), 30, seed=4)
    slicer = Slicer(
        model,
        slice_wh=64,
        overlap=0.25,
        batch_size=3,
        merge=method,
        threshold=0.3,
        mask_overlap=mask_overlap,
    )
    result = slicer.run(image)
    raw = result.raw
    assert isinstance(raw.masks, CompactMasks)
    assert raw.masks.image_wh == (230, 170)
    # Every raw mask is the model's slice mask, moved to its slice's place in the image.
    grid = slicer.grid_for((230, 170)).boxes
    dense_raw = raw.masks.to_dense()
    red = image[..., 0] > 128
    for i, s in enumerate(result.raw_slice_index.tolist()):
        x0, y0, x1, y1 = grid[s]
        inside = np.zeros_like(red)
        inside[y0:y1, x0:x1] = True
        assert not (dense_raw[i] & ~(red & inside)).any()
    # The merge is the mask-aware merge of the raw rows.
    expected, res = merge_masked_detections(raw, method, threshold=0.3, mask_overlap=mask_overlap)
    np.testing.assert_array_equal(result.detections.masks.to_dense(), expected.masks.to_dense())
    np.testing.assert_array_equal(result.report.merge.parent, res.parent)
    assert result.report.mask_overlap == mask_overlap
    assert f"on {mask_overlap} overlap" in result.report.summary()
    if method != "nms":  # pieces of a disk cut by slices come back whole
        union = result.detections.masks.to_dense().any(axis=0)
        np.testing.assert_array_equal(union, red)


def test_single_slice_returns_the_models_masks() -> None:
    image = disk_scene((60, 50), 5, seed=1)
    result = Slicer(mask_model, slice_wh=64).run(image)
    direct = blob_masks(image)
    np.testing.assert_array_equal(result.detections.masks.to_dense(), direct.masks.to_dense())


def test_full_frame_masks_at_the_model_input_size_are_resized() -> None:
    image = disk_scene((240, 160), 12, seed=7)

    def model(images: list[np.ndarray]) -> list[Detections]:
        out = []
        for im in images:
            h, w = im.shape[:2]
            if (w, h) != (240, 160):
                out.append(blob_masks(im))
                continue
            small = cv2.resize(im, (120, 80), interpolation=cv2.INTER_NEAREST)
            det = blob_masks(small)  # masks at the model's 120 x 80 input size
            out.append(Detections(det.xyxy * 2, det.confidence, det.class_id, masks=det.masks))
        return out

    slicer = Slicer(model, slice_wh=96, overlap=0.25, full_frame=True, merge="nmm", threshold=0.3)
    result = slicer.run(image)
    full = result.raw_slice_index == -1
    assert result.report.masks_resized == int(full.sum()) > 0
    small = cv2.resize(image, (120, 80), interpolation=cv2.INTER_NEAREST)
    expected = blob_masks(small)
    up = CompactMasks.from_dense(expected.masks.to_dense()).resized((240, 160)).to_dense()
    np.testing.assert_array_equal(result.raw[full].masks.to_dense(), up)
    assert "resized to the image" in result.report.summary()


def test_letterboxed_masks_are_refused() -> None:
    def model(images: list[np.ndarray]) -> list[Detections]:
        return [
            Detections(np.array([[0, 0, 4, 4]]), masks=np.ones((1, 64, 64), dtype=bool))
            for _ in images
        ]

    with pytest.raises(ModelOutputError, match="64x64 masks for a 100x50 image"):
        Slicer(model, slice_wh=(100, 50)).run(np.zeros((50, 100, 3), np.uint8))


def test_masks_outside_their_box_are_clipped_and_counted() -> None:
    def model(images: list[np.ndarray]) -> list[Detections]:
        out = []
        for im in images:
            h, w = im.shape[:2]
            dense = np.zeros((2, h, w), dtype=bool)
            dense[0, 2:10, 2:10] = True  # box covers only the left half
            dense[1, 20:24, 20:24] = True
            out.append(
                Detections(np.array([[2, 2, 6, 10], [20, 20, 24, 24]]), [0.9, 0.8], masks=dense)
            )
        return out

    result = Slicer(model, slice_wh=32, overlap=0, merge="nms").run(np.zeros((32, 64, 3), np.uint8))
    report = result.report
    assert report.masks_clipped == 2
    assert report.mask_pixels_clipped == 2 * 32
    assert result.detections.masks.area.tolist() == [32, 32, 16, 16]
    assert "2 clipped to their box (64 pixels cut)" in report.summary()


def test_empty_masks_are_dropped_and_counted() -> None:
    def model(images: list[np.ndarray]) -> list[Detections]:
        out = []
        for im in images:
            h, w = im.shape[:2]
            dense = np.zeros((3, h, w), dtype=bool)
            dense[1, 1:3, 1:3] = True
            dense[2, 8:12, 8:12] = True  # outside its box: empty once clipped
            boxes = np.array([[0, 0, 4, 4], [1, 1, 3, 3], [0, 0, 4, 4]])
            out.append(Detections(boxes, [0.5, 0.6, 0.7], masks=dense))
        return out

    result = Slicer(model, slice_wh=16, overlap=0).run(np.zeros((16, 32, 3), np.uint8))
    report = result.report
    assert report.dropped_empty_mask == 4
    assert report.model_detections == 6
    assert report.raw == len(result.raw) == 2
    assert "4 dropped (empty mask)" in report.summary()


def test_all_empty_outputs_with_masks_give_no_detections() -> None:
    def model(images: list[np.ndarray]) -> list[Detections]:
        return [
            Detections(np.array([[0, 0, 4, 4]]), masks=np.zeros((1, *im.shape[:2]), dtype=bool))
            for im in images
        ]

    result = Slicer(model, slice_wh=16, overlap=0).run(np.zeros((16, 32, 3), np.uint8))
    assert len(result.detections) == 0
    assert result.report.dropped_empty_mask == 2


def test_other_mask_stores_and_wbf_are_refused() -> None:
    class Opaque:
        def __init__(self, n: int) -> None:
            self.n = n

        def __len__(self) -> int:
            return self.n

        def __getitem__(self, index: np.ndarray) -> Opaque:
            return Opaque(len(np.arange(self.n)[index]))

        def shifted(self, dx: int, dy: int) -> Opaque:
            return self

        @classmethod
        def concatenate(cls, stores: list[Opaque]) -> Opaque:
            return cls(sum(len(s) for s in stores))

    def opaque(images: list[np.ndarray]) -> list[Detections]:
        return [Detections(np.array([[0, 0, 2, 2]]), masks=Opaque(1)) for _ in images]

    with pytest.raises(ModelOutputError, match="CompactMasks"):
        Slicer(opaque, slice_wh=16, overlap=0).run(np.zeros((16, 32, 3), np.uint8))
    with pytest.raises(TilewiseError, match="wbf"):
        Slicer(mask_model, slice_wh=32, overlap=0, merge="wbf").run(disk_scene((64, 32), 4, 2))
    with pytest.raises(TilewiseError, match="mask_overlap"):
        Slicer(mask_model, mask_overlap="area")
    assert "mask_overlap=box" in repr(Slicer(mask_model, mask_overlap="box"))


def test_segm_evaluation_of_sliced_masks() -> None:
    pytest.importorskip("faster_coco_eval")
    from tilewise.evaluation import evaluate

    image = disk_scene((200, 140), 14, seed=9)
    truth = blob_masks(image)
    rles = truth.masks.to_coco_rle((200, 140))
    xywh = np.concatenate([truth.xyxy[:, :2], truth.xyxy[:, 2:] - truth.xyxy[:, :2]], axis=1)
    gt = {
        "images": [{"id": 1, "width": 200, "height": 140, "file_name": "a.png"}],
        "categories": [{"id": 1, "name": "disk"}],
        "annotations": [
            {
                "id": k + 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": rle,
                "area": int(area),
                "bbox": box,
                "iscrowd": 0,
            }
            for k, (rle, area, box) in enumerate(
                zip(rles, truth.masks.area, xywh.tolist(), strict=True)
            )
        ],
    }
    pred = Slicer(
        mask_model,
        slice_wh=64,
        overlap=0.3,
        merge="nmm",
        threshold=0.2,
        metric="ios",
        class_agnostic=True,
    )(image)
    res = evaluate(gt, {1: pred}, iou_type="segm", class_to_category={0: 1, 1: 1})
    assert res.coco_stats()[0] == pytest.approx(1.0)
    top_half = pred.masks.crop_boxes
    top_half[:, 3] = (top_half[:, 1] + top_half[:, 3]) // 2
    cut = Detections(
        pred.xyxy, pred.confidence, pred.class_id, masks=pred.masks.clipped(top_half)[0]
    )
    worse = evaluate(gt, {1: cut}, iou_type="segm", class_to_category={0: 1, 1: 1})
    assert worse.coco_stats()[0] < 1.0
    with pytest.raises(TilewiseError, match="the ground truth says 200x140"):
        evaluate(
            gt,
            {1: Detections(pred.xyxy, masks=pred.masks.with_image_wh((10, 10)))},
            iou_type="segm",
        )
