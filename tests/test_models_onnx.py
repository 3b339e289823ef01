from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from tilewise import Detections, Slicer, TilewiseError
from tilewise.models import (
    ModelLayoutError,
    OnnxDetector,
    UltralyticsDetector,
    as_batch_model,
    decode_yolov8,
    letterbox,
    unletterbox_boxes,
)
from tilewise.models.testing import constant_detector_onnx


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    return constant_detector_onnx(tmp_path / "m.onnx", names=("car", "van", "bus"))


def test_metadata_and_properties(model_path: Path) -> None:
    model = OnnxDetector(model_path)
    assert model.names == ("car", "van", "bus")
    assert model.imgsz == (64, 64)
    assert model.fixed_batch is None
    assert model.tile_size is None
    assert model.slice_wh == (64, 64)
    assert "OnnxDetector" in repr(model)


def test_tile_size_from_metadata(tmp_path: Path) -> None:
    path = constant_detector_onnx(tmp_path / "m.onnx", extra_metadata={"tile_size": "[48, 40]"})
    model = OnnxDetector(path)
    assert model.tile_size == (48, 40)
    assert model.slice_wh == (40, 48)


def test_batched_results_are_per_image(model_path: Path) -> None:
    model = OnnxDetector(model_path, conf=0.3)
    dark = np.zeros((64, 64, 3), np.uint8)
    bright = np.full((64, 64, 3), 255, np.uint8)
    out = model([dark, bright, dark])
    assert [len(d) for d in out] == [1, 2, 1]
    assert out[0].class_id.tolist() == [0]
    assert sorted(out[1].class_id.tolist()) == [0, 2]  # the gated box is the last class
    np.testing.assert_allclose(out[0].xyxy, [[24, 24, 40, 40]])
    np.testing.assert_allclose(out[0].confidence, [0.9], rtol=1e-6)
    # the same as one at a time, and as max_batch chunks
    single = [model([im])[0] for im in (dark, bright, dark)]
    chunked = OnnxDetector(model_path, conf=0.3, max_batch=2)([dark, bright, dark])
    for a, b, c in zip(out, single, chunked, strict=True):
        assert a == b == c
    assert model([]) == []


@pytest.mark.parametrize(("spin", "entry"), [(False, "0"), (True, "1")])
def test_intra_op_spinning_is_off_unless_asked(model_path: Path, spin: bool, entry: str) -> None:
    # spinning intra-op threads hold the cores the read-ahead thread needs (issue 11)
    default = OnnxDetector(model_path, conf=0.3)
    model = OnnxDetector(model_path, conf=0.3, spin=spin)
    options = model.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == entry
    assert model.spin is spin
    images = [np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8)]
    assert model(images) == default(images)  # a scheduling choice, never a result change


def test_letterbox_maps_boxes_back(model_path: Path) -> None:
    model = OnnxDetector(model_path)
    image = np.zeros((128, 256, 3), np.uint8)  # scale 0.25, 16 px padding top and bottom
    det = model.predict(image)
    np.testing.assert_allclose(det.xyxy, [[96, 32, 160, 96]])
    padded, info = letterbox(image, (64, 64))
    assert padded.shape == (64, 64, 3)
    assert info.pad == (0, 16)
    assert padded[0, 0, 0] == 114
    assert padded[32, 32, 0] == 0
    np.testing.assert_allclose(unletterbox_boxes(np.array([[24, 24, 40, 40]]), info), det.xyxy)


def test_small_images_are_scaled_up(model_path: Path) -> None:
    det = OnnxDetector(model_path).predict(np.zeros((32, 32, 3), np.uint8))
    np.testing.assert_allclose(det.xyxy, [[12, 12, 20, 20]])


def test_fixed_batch_graph_runs_in_chunks(tmp_path: Path) -> None:
    path = constant_detector_onnx(tmp_path / "fixed.onnx", dynamic_batch=False)
    model = OnnxDetector(path, conf=0.3)
    assert model.fixed_batch == 1
    images = [np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 200, np.uint8)]
    assert [len(d) for d in model(images)] == [1, 2]


def test_plugs_into_slicer(model_path: Path) -> None:
    model = OnnxDetector(model_path, conf=0.5)
    image = np.zeros((128, 192, 3), np.uint8)
    slicer = Slicer(model, slice_wh=model.slice_wh, overlap=0, batch_size=4)
    det = slicer(image)
    # one box in the middle of every one of the 2 x 3 slices
    centres = sorted(((det.xyxy[:, :2] + det.xyxy[:, 2:]) / 2).tolist())
    assert centres == sorted([[32.0 + 64 * c, 32.0 + 64 * r] for r in range(2) for c in range(3)])
    assert slicer.last_report is not None
    assert slicer.last_report.batches == 2


def test_transposed_output_is_refused(tmp_path: Path) -> None:
    path = constant_detector_onnx(tmp_path / "t.onnx", transposed=True, anchors=32)
    with pytest.raises(ModelLayoutError, match=r"YOLOv8 layout"):
        OnnxDetector(path)
    unnamed = constant_detector_onnx(tmp_path / "u.onnx", transposed=True, names=None, anchors=32)
    with pytest.raises(ModelLayoutError, match=r"end-to-end|transposed"):
        OnnxDetector(unnamed)


def test_end_to_end_output_is_refused() -> None:
    with pytest.raises(ModelLayoutError, match="end-to-end"):
        decode_yolov8(np.zeros((1, 300, 6), np.float32))


def test_class_count_mismatch(model_path: Path) -> None:
    with pytest.raises(ModelLayoutError, match=r"4 \+ 2 = 6 channels"):
        OnnxDetector(model_path, names=["a", "b"])
    with pytest.raises(ModelLayoutError, match="class names and model disagree"):
        decode_yolov8(np.zeros((1, 7, 20), np.float32), num_classes=5)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(TilewiseError, match="not found"):
        OnnxDetector(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(TilewiseError, match="cannot load ONNX model"):
        OnnxDetector(junk)
    seg = constant_detector_onnx(tmp_path / "seg.onnx", extra_metadata={"task": "segment"})
    with pytest.raises(ModelLayoutError, match="'segment' model"):
        OnnxDetector(seg)


def test_bad_arguments(model_path: Path) -> None:
    with pytest.raises(TilewiseError, match="conf"):
        OnnxDetector(model_path, conf=2)
    with pytest.raises(ModelLayoutError, match="fixed input size"):
        OnnxDetector(model_path, imgsz=128)
    model = OnnxDetector(model_path)
    with pytest.raises(TilewiseError, match="list of images"):
        model(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(TilewiseError, match="uint8"):
        model([np.zeros((64, 64, 3), np.float32)])


def test_decode_nms_is_per_class() -> None:
    out = np.zeros((1, 6, 8), np.float32)
    out[0, :4, 0] = [10, 10, 8, 8]
    out[0, :4, 1] = [10.5, 10, 8, 8]
    out[0, :4, 2] = [10.5, 10, 8, 8]
    out[0, 4, :2] = [0.9, 0.8]  # same class: the second is suppressed
    out[0, 5, 2] = 0.7  # other class: kept
    det = decode_yolov8(out, conf=0.25, iou=0.5)[0]
    assert det.class_id.tolist() == [0, 1]
    agnostic = decode_yolov8(out, conf=0.25, iou=0.5, class_agnostic=True)[0]
    assert len(agnostic) == 1
    capped = decode_yolov8(out, conf=0.25, iou=0.5, max_det=1)[0]
    assert len(capped) == 1
    assert capped.confidence[0] == pytest.approx(0.9)


class _Boxes:
    def __init__(self, n: int) -> None:
        self.xyxy = np.tile(np.array([[1.0, 2.0, 5.0, 6.0]]), (n, 1))
        self.conf = np.full(n, 0.5)
        self.cls = np.arange(n, dtype=np.float32)


class _Result:
    def __init__(self, n: int) -> None:
        self.boxes = _Boxes(n)


class _FakeYOLO:
    def __init__(self) -> None:
        self.names = {0: "a", 1: "b"}
        self.calls: list[tuple[int, dict[str, object]]] = []

    def predict(self, source: list[np.ndarray], **kwargs: object) -> list[_Result]:
        self.calls.append((len(source), kwargs))
        assert all(s.flags.c_contiguous for s in source)
        return [_Result(i % 2 + 1) for i in range(len(source))]


def test_ultralytics_adapter_batches_and_converts() -> None:
    yolo = _FakeYOLO()
    model = UltralyticsDetector(yolo, conf=0.4, imgsz=320)
    out = model([np.zeros((8, 8, 3), np.uint8)] * 3)
    assert [len(d) for d in out] == [1, 2, 1]
    assert isinstance(out[0], Detections)
    assert yolo.calls[0][0] == 3
    assert yolo.calls[0][1]["conf"] == 0.4
    assert yolo.calls[0][1]["imgsz"] == 320
    assert model.names == ("a", "b")
    assert isinstance(as_batch_model(lambda ims: []), type(lambda: None))
    with pytest.raises(TilewiseError, match="predict"):
        UltralyticsDetector(object())
    with pytest.raises(TilewiseError, match="cannot use"):
        as_batch_model(42)


@pytest.mark.parametrize(
    ("hw", "input_hw", "view"),
    [
        ((64, 64), (64, 64), False),  # at the input size: the fast path
        ((64, 64), (64, 64), True),  # a strided view of a larger image
        ((32, 48), (64, 64), False),  # enlarged and padded
        ((100, 40), (64, 64), True),  # shrunk and padded
        ((64, 96), (64, 96), True),  # non-square input
    ],
)
def test_letterbox_batch_matches_letterbox(
    hw: tuple[int, int], input_hw: tuple[int, int], view: bool
) -> None:
    """The batched NCHW float path equals the one-image letterbox, scaled to [0, 1]."""
    from tilewise.models.letterbox import letterbox, letterbox_batch

    rng = np.random.default_rng(hw[0] * 1000 + hw[1])
    big = rng.integers(0, 256, (hw[0] + 7, hw[1] + 9, 3), dtype=np.uint8)
    image = (
        big[3 : 3 + hw[0], 5 : 5 + hw[1]] if view else np.ascontiguousarray(big[: hw[0], : hw[1]])
    )
    batch, infos = letterbox_batch([image, image], input_hw)
    padded, info = letterbox(image, input_hw)
    expected = padded.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255)
    assert batch.shape == (2, 3, *input_hw)
    np.testing.assert_array_equal(batch[0], expected)
    np.testing.assert_array_equal(batch[1], expected)
    assert infos == [info, info]
