"""Slice zoom (issue 15): slices resized before the model, detections scaled back exactly."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from tests.conftest import blob_model
from tilewise import Detections, Slicer, TilewiseError
from tilewise.slicing import batched
from tilewise.slicing.zoom import ZoomedModel, model_scale, zoomed, zoomed_wh

CELL = 64


def _cell_scene(zoom_safe_sizes=(6, 9, 13, 20)) -> tuple[np.ndarray, np.ndarray]:
    """Bright squares, one per 64 px cell, never crossing a cell border (slices = cells)."""
    image = np.zeros((2 * CELL, 3 * CELL, 3), np.uint8)
    boxes = []
    rng = np.random.default_rng(7)
    for row in range(2):
        for col in range(3):
            s = int(zoom_safe_sizes[(row * 3 + col) % len(zoom_safe_sizes)])
            x = col * CELL + int(rng.integers(2, CELL - s - 2))
            y = row * CELL + int(rng.integers(2, CELL - s - 2))
            image[y : y + s, x : x + s] = (255, 200, 0)
            boxes.append([x, y, x + s, y + s])
    return image, np.asarray(boxes, np.float32)


def _sorted(xyxy: np.ndarray) -> np.ndarray:
    return xyxy[np.lexsort((xyxy[:, 1], xyxy[:, 0]))]


# zoom, tolerance (px in the image) of the mapped-back box: the table of the issue
ZOOM_TABLE = [(2.0, 0.5), (3.0, 0.5), (4.0, 0.5), (1.5, 0.5), (1.25, 0.5), (0.5, 1.0)]


@pytest.mark.parametrize(("zoom", "tol"), ZOOM_TABLE)
def test_boxes_map_back_exactly_to_the_scale(zoom, tol):
    image, truth = _cell_scene()
    seen = []

    def model(images):
        seen.extend(im.shape[:2] for im in images)
        return blob_model(images)

    slicer = Slicer(model, slice_wh=CELL, overlap=0, zoom=zoom, merge="none")
    got = slicer(image)
    side = zoomed_wh((CELL, CELL), zoom)[0]
    assert set(seen) == {(side, side)}
    assert len(got) == len(truth)
    np.testing.assert_allclose(_sorted(got.xyxy), _sorted(truth), atol=tol)
    assert slicer.last_report.zoom == zoom
    assert slicer.last_report.model_scale == pytest.approx(side / CELL)


def test_zoom_2_box_table_within_half_a_pixel():
    # a fixed box in the zoomed slice comes back divided by the exact per-axis ratio
    def model(images):
        return [Detections(np.array([[10.0, 20.0, 41.0, 61.0]]), [0.9]) for _ in images]

    got = Slicer(model, slice_wh=(50, 40), overlap=0, zoom=2.0).run(
        np.zeros((40, 100, 3), np.uint8)
    )
    np.testing.assert_allclose(
        got.raw.xyxy, [[5.0, 10.0, 20.5, 30.5], [55.0, 10.0, 70.5, 30.5]], atol=1e-5
    )


def test_zoom_1_is_todays_slicer_bit_for_bit(scene):
    image, _ = scene
    base = Slicer(blob_model, slice_wh=96, overlap=0.25, full_frame=True, merge="nmm")
    same = Slicer(blob_model, slice_wh=96, overlap=0.25, full_frame=True, merge="nmm", zoom=1)
    a, b = base.run(image), same.run(image)
    assert a.detections == b.detections
    assert a.raw == b.raw
    np.testing.assert_array_equal(a.raw_slice_index, b.raw_slice_index)
    assert zoomed(blob_model, 1.0) is blob_model
    assert "zoom" not in repr(same)
    assert "scale:" not in same.last_report.summary()


class Staged:
    """A staged blob model recording what ``prepare`` saw."""

    def __init__(self):
        self.prepared_shapes = []

    def prepare(self, images):
        self.prepared_shapes.extend(im.shape for im in images)
        return list(images)

    def forward(self, prepared):
        return prepared

    def finish(self, prepared, raw):
        return blob_model(raw)

    def __call__(self, images):
        return self.finish(self.prepare(images), self.forward(self.prepare(images)))


@pytest.mark.parametrize("kind", ["batch", "one-image", "staged"])
def test_any_model_kind_gives_the_same_zoomed_result(kind, scene):
    image, _ = scene
    reference = Slicer(blob_model, slice_wh=100, overlap=0.2, zoom=1.5).run(image)
    staged = Staged()
    model = {
        "batch": blob_model,
        "one-image": batched(lambda im: blob_model([im])[0]),
        "staged": staged,
    }[kind]
    slicer = Slicer(model, slice_wh=100, overlap=0.2, zoom=1.5, pipeline=True, batch_size=3)
    got = slicer.run(image)
    assert got.detections == reference.detections
    if kind == "staged":
        assert slicer.staged
        assert set(staged.prepared_shapes) == {(150, 150, 3)}


def test_stream_honours_zoom(scene):
    image, _ = scene
    frames = [image, image[::-1].copy(), image[:, ::-1].copy()]
    slicer = Slicer(blob_model, slice_wh=100, overlap=0.2, zoom=2.0, batch_size=5)
    streamed = [d for _, _, d in slicer.stream(frames)]
    assert slicer.last_report.zoom == 2.0
    for frame, det in zip(frames, streamed, strict=True):
        assert det == slicer(frame)


def test_masks_come_back_at_slice_scale():
    image = np.zeros((64, 128, 3), np.uint8)
    image[10:30, 20:40] = 255  # 20 x 20 px object in the first slice

    def masked(images):
        out = []
        for im in images:
            m = im[..., 0] > 128
            ys, xs = np.nonzero(m)
            if not len(xs):
                out.append(Detections.empty())
                continue
            box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
            out.append(Detections(box, [0.9], masks=m[None]))
        return out

    result = Slicer(masked, slice_wh=64, overlap=0, zoom=2.0, merge="none").run(image)
    assert len(result.detections) == 1
    np.testing.assert_allclose(result.detections.xyxy, [[20, 10, 40, 30]], atol=0.5)
    assert int(result.detections.masks.area[0]) == 400


def test_report_names_the_letterbox_composition(tmp_path: pathlib.Path):
    from tilewise.models import OnnxDetector
    from tilewise.models.testing import constant_detector_onnx

    model = OnnxDetector(constant_detector_onnx(tmp_path / "m.onnx"))  # 64 x 64 graph
    image = np.zeros((64, 96, 3), np.uint8)
    at1 = Slicer(model, slice_wh=32, overlap=0)
    at1(image)
    assert at1.last_report.model_scale == 2.0  # a 32 px slice into a 64 px graph
    at2 = Slicer(model, slice_wh=32, overlap=0, zoom=1.5)
    at2(image)
    assert at2.last_report.model_scale == pytest.approx(2.0)  # the letterbox undoes the zoom
    assert "model sees 2.00x" in at2.last_report.summary()
    assert model_scale(model, (64, 64), 1.0) == 1.0


@pytest.mark.parametrize("bad", [0, 0.0, -1.5, float("nan"), float("inf"), True, "2", None, [2.0]])
def test_bad_zoom_is_refused_clearly(bad):
    with pytest.raises(TilewiseError, match="zoom must be a finite number > 0"):
        Slicer(blob_model, zoom=bad)


def test_zoomed_model_forwards_model_attributes():
    class Named:
        names = ("a",)
        imgsz = (32, 32)
        on_cpu = True

        def __call__(self, images):
            return [Detections.empty() for _ in images]

    wrapped = zoomed(Named(), 2.0)
    assert isinstance(wrapped, ZoomedModel)
    assert (wrapped.names, wrapped.imgsz, wrapped.on_cpu) == (("a",), (32, 32), True)
    assert not hasattr(wrapped, "prepare")


def test_zoomed_model_checks_the_models_outputs():
    from tilewise import ModelOutputError

    with pytest.raises(ModelOutputError):
        zoomed(lambda images: [], 2.0)([np.zeros((4, 4, 3), np.uint8)])
