"""The Slicer's pipelined path for staged models (prepare | forward | finish)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise import Detections, Slicer
from tilewise.errors import ModelOutputError, TilewiseError
from tilewise.models import OnnxDetector
from tilewise.models.testing import constant_detector_onnx
from tilewise.slicing.model import StagedModel, is_staged


class StagedFake:
    """Finds a box at each slice's brightest pixel; records which thread ran each stage."""

    def __init__(self, fail: str | None = None, wrong_count: bool = False) -> None:
        self.fail = fail
        self.wrong_count = wrong_count
        self.threads: dict[str, set[str]] = {"prepare": set(), "forward": set(), "finish": set()}
        self.calls = 0

    def _mark(self, stage: str) -> None:
        self.threads[stage].add(threading.current_thread().name)
        if self.fail == stage:
            raise RuntimeError(f"{stage} failed")

    def prepare(self, images: list[np.ndarray]) -> np.ndarray:
        self._mark("prepare")
        return np.stack([im.sum(axis=2, dtype=np.int64) for im in images])

    def forward(self, prepared: np.ndarray) -> np.ndarray:
        self._mark("forward")
        flat = prepared.reshape(len(prepared), -1)
        return np.stack([flat.argmax(axis=1), flat.max(axis=1)], axis=1)

    def finish(self, prepared: np.ndarray, raw: np.ndarray) -> list[Detections]:
        self._mark("finish")
        h, w = prepared.shape[1:]
        out = []
        for idx, peak in raw:
            y, x = divmod(int(idx), w)
            box = np.array([[max(x - 3, 0), max(y - 3, 0), min(x + 4, w), min(y + 4, h)]])
            out.append(Detections(box, [min(float(peak) / 765.0, 1.0)], [int(peak) % 3]))
        return out[:-1] if self.wrong_count else out

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        self.calls += 1
        prepared = self.prepare(images)
        return self.finish(prepared, self.forward(prepared))


def _scene(seed: int, h: int = 200, w: int = 330) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_staged_protocol_is_recognised() -> None:
    assert is_staged(StagedFake())
    assert isinstance(StagedFake(), StagedModel)
    assert not is_staged(lambda images: [])
    assert Slicer(StagedFake()).staged
    assert not Slicer(StagedFake(), pipeline=False).staged
    assert not Slicer(lambda images: []).staged
    assert not Slicer(lambda images: [], pipeline=True).staged
    on_cpu = StagedFake()
    on_cpu.on_cpu = True  # type: ignore[attr-defined]
    assert not Slicer(on_cpu).staged  # auto: a CPU-bound forward is called whole
    assert Slicer(on_cpu, pipeline=True).staged
    with pytest.raises(TilewiseError, match="pipeline must be True, False or 'auto'"):
        Slicer(StagedFake(), pipeline="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("batch_size", "workers"), [(1, 1), (3, 1), (4, 2), (7, 3), (64, 1), (2, 4)]
)
def test_pipelined_equals_whole_calls(batch_size: int, workers: int) -> None:
    image = _scene(0)
    reference = Slicer(StagedFake(), slice_wh=64, overlap=16, pipeline=False).run(image)
    model = StagedFake()
    got = Slicer(model, slice_wh=64, overlap=16, batch_size=batch_size, workers=workers).run(image)
    assert model.calls == 0  # the stages were called, never the whole model
    np.testing.assert_array_equal(got.raw.xyxy, reference.raw.xyxy)
    np.testing.assert_array_equal(got.raw_slice_index, reference.raw_slice_index)
    np.testing.assert_array_equal(got.detections.xyxy, reference.detections.xyxy)
    np.testing.assert_array_equal(got.detections.class_id, reference.detections.class_id)
    assert got.report.batches == -(-got.report.slices // batch_size)
    t = got.report.timings
    assert t.preprocess > 0
    assert t.decode > 0
    assert "preprocess" in got.report.summary()
    # preparation ran on the prefetch thread, forward on model threads, finish here
    assert model.threads["prepare"] == {"tilewise-prefetch"}
    assert all(n.startswith("tilewise-model") for n in model.threads["forward"])
    assert model.threads["finish"] == {threading.current_thread().name}


def test_full_frame_pass_calls_the_whole_model() -> None:
    model = StagedFake()
    result = Slicer(model, slice_wh=64, overlap=16, batch_size=4, full_frame=True).run(_scene(1))
    assert model.calls == 1
    assert result.report.full_frame_detections == 1


@pytest.mark.parametrize("stage", ["prepare", "forward", "finish"])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_stage_raises(stage: str, workers: int) -> None:
    slicer = Slicer(StagedFake(fail=stage), slice_wh=64, batch_size=2, workers=workers)
    with pytest.raises(RuntimeError, match=f"{stage} failed"):
        slicer(_scene(2))


def test_finish_must_return_one_detections_per_image() -> None:
    slicer = Slicer(StagedFake(wrong_count=True), slice_wh=64, batch_size=3)
    with pytest.raises(ModelOutputError, match="results for a batch of 3 images"):
        slicer(_scene(3))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    h=st.integers(20, 180),
    w=st.integers(20, 180),
    batch_size=st.integers(1, 9),
    workers=st.integers(1, 3),
)
def test_pipelined_property(seed: int, h: int, w: int, batch_size: int, workers: int) -> None:
    image = _scene(seed, h, w)
    plain = Slicer(StagedFake(), slice_wh=48, overlap=0.25, pipeline=False).run(image)
    model = StagedFake()
    staged = Slicer(model, slice_wh=48, overlap=0.25, batch_size=batch_size, workers=workers).run(
        image
    )
    assert model.calls == 0  # the pipelined path really ran
    for got, want in ((staged.detections, plain.detections), (staged.raw, plain.raw)):
        np.testing.assert_array_equal(got.xyxy, want.xyxy)
        np.testing.assert_array_equal(got.confidence, want.confidence)
        np.testing.assert_array_equal(got.class_id, want.class_id)
    np.testing.assert_array_equal(staged.raw_slice_index, plain.raw_slice_index)
    assert staged.report.batches == -(-staged.report.slices // batch_size)


def test_onnx_detector_stages_equal_its_call(tmp_path: Path) -> None:
    model = OnnxDetector(constant_detector_onnx(tmp_path / "m.onnx"), max_batch=3)
    images = [np.zeros((64, 64, 3), np.uint8)] * 4 + [np.zeros((100, 40, 3), np.uint8)]
    prepared = model.prepare(images)
    assert len(prepared) == 5
    assert [x.shape[0] for x in prepared.inputs] == [3, 2]  # max_batch chunks
    staged = model.finish(prepared, model.forward(prepared))
    whole = model(images)
    assert [d.xyxy.tolist() for d in staged] == [d.xyxy.tolist() for d in whole]
    assert model([]) == []
    assert model.on_cpu
    sliced = Slicer(model, slice_wh=64, overlap=0, batch_size=4, pipeline=True).run(
        _scene(4, 128, 192)
    )
    assert sliced.report.timings.preprocess > 0
    assert len(sliced.raw) == 12  # the two constant boxes of each of the 6 slices
