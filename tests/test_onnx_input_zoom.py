"""Zoom on an ONNX detector with a dynamic input size (issue 15): the input grows.

A fixed-size graph letterboxes every slice into its input, so ``Slicer(zoom=)`` is undone;
a graph whose height and width are dynamic (``with_dynamic_input``) is letterboxed into
``imgsz * zoom`` instead (``OnnxDetector.with_input_zoom``).
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

pytest.importorskip("onnx")

from tilewise import Slicer, TilewiseError
from tilewise.images import load_image
from tilewise.models import (
    ModelLayoutError,
    OnnxDetector,
    bundled_path,
    letterbox_batch,
    with_dynamic_input,
)
from tilewise.models.testing import constant_detector_onnx
from tilewise.slicing.zoom import model_scale, zoomed

# The constant graph (imgsz 64) returns one box at input pixels (24, 24, 40, 40), class 0,
# score 0.9, whatever its input size: a model image at scale r maps it back to that / r.


@pytest.fixture(scope="module")
def dynamic(tmp_path_factory) -> OnnxDetector:
    path = tmp_path_factory.mktemp("m") / "dynamic.onnx"
    return OnnxDetector(constant_detector_onnx(path, dynamic_hw=True), conf=0.5)


@pytest.fixture(scope="module")
def bundled_copy(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("bundled") / "dynamic.onnx"
    return with_dynamic_input(bundled_path("default_detector.onnx"), out)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    # a 640 x 640 corner of the bundled sample scene: 4 slices of 320 px at overlap 0
    return np.ascontiguousarray(load_image(bundled_path("sample_scene.jpg"))[:640, :640])


@pytest.mark.parametrize(
    ("zoom", "input_hw", "xyxy"),
    [
        (1.0, (64, 64), [24.0, 24.0, 40.0, 40.0]),
        (2.0, (128, 128), [12.0, 12.0, 20.0, 20.0]),
        (1.5, (96, 96), [16.0, 16.0, 80 / 3, 80 / 3]),
        # box 80 px, padded to 96 (the stride, 32): the scale stays exactly 1.25
        (1.25, (96, 96), [19.2, 19.2, 32.0, 32.0]),
        # box 32 px: the box (48, 48, 80, 80) is clipped to the 64 px image
        (0.5, (32, 32), [48.0, 48.0, 64.0, 64.0]),
    ],
)
def test_input_zoom_table(dynamic, zoom, input_hw, xyxy):
    model = dynamic.with_input_zoom(zoom)
    assert model.input_hw == input_hw
    assert model.imgsz == (64, 64)  # the base size is what the model says it is
    assert model.input_zoom == zoom
    det = model([np.zeros((64, 64, 3), np.uint8)])[0]
    assert det.class_id.tolist() == [0]
    np.testing.assert_allclose(det.xyxy[0], xyxy, atol=1e-4)


def test_input_zoom_keeps_the_plain_detector_and_shares_its_session(dynamic):
    zoomed_model = dynamic.with_input_zoom(2.0)
    assert zoomed_model.session is dynamic.session
    assert (dynamic.input_zoom, dynamic.input_hw) == (1.0, (64, 64))
    assert zoomed_model.with_input_zoom(1.0).input_hw == (64, 64)  # relative to imgsz
    assert "input_zoom=2" in repr(zoomed_model)
    assert "input_zoom" not in repr(dynamic)


def test_fixed_graph_cannot_zoom_its_input(tmp_path):
    fixed = OnnxDetector(constant_detector_onnx(tmp_path / "m.onnx"))
    assert not fixed.zooms_input
    with pytest.raises(TilewiseError, match=r"fixed input size 64x64 .*with_dynamic_input"):
        fixed.with_input_zoom(2.0)
    # the Slicer's zoom then resizes the slices (and the letterbox undoes it)
    assert type(zoomed(fixed, 2.0)).__name__ == "_ZoomedStagedModel"


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "2"])
def test_bad_input_zoom_is_refused(dynamic, bad):
    with pytest.raises(TilewiseError, match="zoom must be a finite number > 0"):
        dynamic.with_input_zoom(bad)


def test_slicer_zoom_enlarges_a_dynamic_input_and_reports_it(dynamic):
    assert dynamic.zooms_input
    assert zoomed(dynamic, 1.0) is dynamic
    assert zoomed(dynamic, 2.0).input_hw == (128, 128)
    slicer = Slicer(dynamic, slice_wh=64, overlap=0, zoom=2.0, merge="none")
    out = slicer(np.zeros((64, 128, 3), np.uint8))
    # one box per 64 px slice, at (24, 24, 40, 40) / 2 of each slice
    np.testing.assert_allclose(out.xyxy, [[12, 12, 20, 20], [76, 12, 84, 20]], atol=1e-4)
    assert slicer.last_report.model_scale == 2.0
    assert model_scale(dynamic, (32, 32), 1.5) == 3.0  # a 32 px slice into 96 px


def test_letterbox_canvas_pads_right_and_bottom():
    image = np.full((10, 20, 3), 200, np.uint8)
    batch, infos = letterbox_batch([image], (20, 40), canvas_hw=(32, 64))
    assert batch.shape == (1, 3, 32, 64)
    assert (infos[0].scale, infos[0].pad) == (2.0, (0, 0))
    level = np.float32(1 / 255)
    assert np.all(batch[0, :, :20, :40] == np.float32(200) * level)
    assert np.all(batch[0, :, 20:, :] == np.float32(114) * level)
    assert np.all(batch[0, :, :, 40:] == np.float32(114) * level)
    with pytest.raises(TilewiseError, match="canvas 16x64 is smaller than the input box 20x40"):
        letterbox_batch([image], (20, 40), canvas_hw=(16, 64))


def test_dynamic_copy_of_the_bundled_model_is_bit_identical_at_zoom_1(bundled_copy, scene):
    fixed = OnnxDetector(bundled_path("default_detector.onnx"), conf=0.01)
    copy = OnnxDetector(bundled_copy, conf=0.01, imgsz=fixed.imgsz)
    assert not fixed.zooms_input
    assert copy.zooms_input
    assert (copy.imgsz, copy.names) == (fixed.imgsz, fixed.names)
    a = Slicer(fixed, slice_wh=320, overlap=0.2).run(scene)
    b = Slicer(copy, slice_wh=320, overlap=0.2, zoom=1.0).run(scene)
    assert len(a.detections) > 10
    assert a.detections == b.detections
    np.testing.assert_array_equal(a.raw.xyxy, b.raw.xyxy)
    np.testing.assert_array_equal(a.raw.confidence, b.raw.confidence)


def test_bundled_copy_at_zoom_2_maps_boxes_back_within_half_a_pixel(bundled_copy, scene):
    """At zoom 2 a 320 slice is letterboxed into 640: the same network input as the
    slice resized 2x and given at 640; the boxes come back divided by exactly 2."""
    import cv2

    copy = OnnxDetector(bundled_copy, conf=0.05, imgsz=320)
    at640 = OnnxDetector(bundled_copy, conf=0.05, imgsz=640)
    slice_ = np.ascontiguousarray(scene[:320, :320])
    zoomed_det = copy.with_input_zoom(2.0)([slice_])[0]
    big = cv2.resize(slice_, (640, 640), interpolation=cv2.INTER_LINEAR)
    ref = at640([big])[0]
    assert len(zoomed_det) == len(ref) > 3
    np.testing.assert_array_equal(zoomed_det.confidence, ref.confidence)
    assert np.abs(zoomed_det.xyxy - ref.xyxy / 2).max() <= 0.5
    # and it sees more than the letterboxed 320 input does: not the same detections
    assert copy([slice_])[0] != zoomed_det


def test_with_dynamic_input_refuses_a_graph_with_sizes_fixed_inside(tmp_path):
    # the constant graph's anchors do not follow the input size
    src = constant_detector_onnx(tmp_path / "const.onnx")
    with pytest.raises(ModelLayoutError, match=r"not more anchors .*fixes sizes inside"):
        with_dynamic_input(src, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_with_dynamic_input_bad_input(tmp_path):
    with pytest.raises(TilewiseError, match="cannot read ONNX model"):
        with_dynamic_input(tmp_path / "missing.onnx", tmp_path / "out.onnx")
    dyn = constant_detector_onnx(tmp_path / "dyn.onnx", dynamic_hw=True)
    with pytest.raises(TilewiseError, match=r"no fixed square input size .*pass check_size"):
        with_dynamic_input(dyn, tmp_path / "out.onnx")


def test_dynamic_copy_needs_a_multiple_of_the_stride_and_pads_to_it(bundled_copy):
    model = OnnxDetector(bundled_copy, imgsz=320)
    for zoom in (1.25, 1.4, 1.5, 1.75, 2.0):
        h, w = model.with_input_zoom(zoom).input_hw
        assert h == w == math.ceil(round(320 * zoom) / 32) * 32


@pytest.mark.parametrize(
    ("settings", "refused"),
    [
        ({"slice_wh": 32, "zoom": 1.5}, True),
        ({"overlap": 0.0, "scales": [[64, 1.0], [32, 2.0]]}, True),
        ({"overlap": 0.0, "scales": [{"slice_wh": [32, 32], "zoom": 2.0}]}, True),
        # no zoom: the same on either model
        ({"slice_wh": 32}, False),
        ({"slice_wh": 32, "zoom": 1.0}, False),
    ],
)
def test_a_zooming_config_for_a_dynamic_input_is_refused_for_a_fixed_graph(
    dynamic, tmp_path, settings, refused
):
    from tilewise.slicing import SlicerConfig
    from tilewise.slicing.config import model_signature

    assert model_signature(dynamic) == {"names": ["a", "b"], "imgsz": [64, 64], "zooms_input": True}
    fixed = OnnxDetector(constant_detector_onnx(tmp_path / "fixed.onnx"))
    assert "zooms_input" not in model_signature(fixed)
    cfg = SlicerConfig(settings, model_signature(dynamic))
    assert isinstance(Slicer.from_config(dynamic, cfg), Slicer)
    if refused:
        with pytest.raises(TilewiseError, match=r"fixed at 64x64: its letterbox would undo"):
            Slicer.from_config(fixed, cfg)
    else:
        assert isinstance(Slicer.from_config(fixed, cfg), Slicer)
    # a config made on the fixed graph runs on the dynamic copy
    assert isinstance(
        Slicer.from_config(dynamic, SlicerConfig(settings, model_signature(fixed))), Slicer
    )
