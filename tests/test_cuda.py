"""CUDA paths of training, batch sizing and the torch adapter.

Skipped where torch sees no GPU (CI has none); run on a GPU machine with
``pytest tests/test_cuda.py``. The CPU twins of these tests live in test_training.py.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("sklearn")
pytest.importorskip("skimage")

import torch

from tests.training_data import TINY, make_tiles, scored_detector
from tilewise import Slicer
from tilewise.models import OnnxDetector, TorchModuleDetector
from tilewise.training import (
    BatchMemoryError,
    DetectorConfig,
    TileDetector,
    TrainConfig,
    load_checkpoint,
    model_from_checkpoint,
    train,
)
from tilewise.training.batch_size import memory_budget, profile_memory
from tilewise.training.loss import DetectionLoss

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture(scope="module")
def tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiles(tmp_path_factory.mktemp("data"), scenes=5, seed=3, empty_ratio=0.0)


def _cfg(tiles: Path, out: Path, **kw: object) -> TrainConfig:
    base = {
        "data": str(tiles),
        "out": str(out),
        "img_size": 64,
        "epochs": 1,
        "batch": 4,
        "nominal_batch": 8,
        "device": "cuda",
        **TINY,
    }
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_train_on_cuda_with_auto_batch_resumes_and_exports(tiles: Path, tmp_path: Path) -> None:
    result = train(
        _cfg(tiles, tmp_path / "run", batch="auto", epochs=1),
        progress=False,
        log=lambda m: None,
    )
    assert result.profile is not None
    assert result.profile.source == "cuda"
    assert all(p > 0 for p in result.profile.peaks)
    assert list(result.profile.peaks) == sorted(result.profile.peaks)
    assert 1 <= result.batch <= 8
    row = result.history[-1]
    assert {"val_AP", "val_AP50", "images_per_s"} <= set(row)
    # the checkpoint is device-free: it loads and runs on the CPU
    model = model_from_checkpoint(load_checkpoint(result.last))
    assert next(model.parameters()).device.type == "cpu"
    resumed = train(
        _cfg(tiles, tmp_path / "run", batch="auto", epochs=2),
        resume=result.last,
        progress=False,
        log=lambda m: None,
    )
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    assert resumed.batch == result.batch  # a resumed auto run keeps its batch
    assert result.onnx is not None
    assert OnnxDetector(result.onnx).num_classes == 6


def test_cuda_training_is_deterministic(tiles: Path, tmp_path: Path) -> None:
    kw = {"export": False, "anchors": "default", "batch": 4}
    a = train(_cfg(tiles, tmp_path / "a", **kw), progress=False, log=lambda m: None)
    b = train(_cfg(tiles, tmp_path / "b", **kw), progress=False, log=lambda m: None)
    wa = load_checkpoint(a.last)["train"]["raw_model"]
    wb = load_checkpoint(b.last)["train"]["raw_model"]
    worst = max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)
    assert worst <= 1e-5, f"CUDA runs with one seed differ by {worst}"


def test_cuda_memory_profile_and_budget(tiles: Path, tmp_path: Path) -> None:
    model = TileDetector(DetectorConfig(num_classes=2, **TINY)).cuda().train()
    loss_fn = DetectionLoss(model.detect, 64)

    def step(images: torch.Tensor, targets: torch.Tensor) -> None:
        loss, _ = loss_fn(model(images), targets)
        loss.backward()
        model.zero_grad(set_to_none=True)

    prof = profile_memory(step, img_size=64, num_classes=2, sizes=(1, 2, 4, 8), device="cuda")
    assert prof.source == "cuda"
    assert prof.peaks[-1] > prof.peaks[0] > 0
    budget, text = memory_budget("cuda")
    free, _ = torch.cuda.mem_get_info()
    assert 0 < budget <= free
    assert "free on GPU" in text
    with pytest.raises(BatchMemoryError, match=r"measured .*cuda"):
        train(
            _cfg(tiles, tmp_path / "m", batch=4096, memory_budget_gb=0.001),
            progress=False,
            log=lambda m: None,
        )


def test_torch_detector_on_cuda_matches_cpu_and_pipelines(tmp_path: Path) -> None:
    torch.manual_seed(1)
    module = scored_detector(3)
    names = ["a", "b", "c"]
    cpu = TorchModuleDetector(module, 64, names=names, conf=0.3)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(5)]
    expected = cpu(images)
    gpu = TorchModuleDetector(copy.deepcopy(module), 64, names=names, conf=0.3, device="cuda")
    got = gpu(images)
    assert sum(len(d) for d in expected) > 0
    for a, b in zip(expected, got, strict=True):
        assert len(a) == len(b)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.05)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-3)
    scene = rng.integers(0, 255, (300, 420, 3), dtype=np.uint8)
    plain = Slicer(gpu, slice_wh=64, overlap=16, batch_size=4, pipeline=False).run(scene)
    for workers in (1, 2):
        staged = Slicer(gpu, slice_wh=64, overlap=16, batch_size=4, workers=workers).run(scene)
        assert staged.report.timings.preprocess > 0
        np.testing.assert_array_equal(staged.raw.xyxy, plain.raw.xyxy)
        np.testing.assert_array_equal(staged.detections.xyxy, plain.detections.xyxy)
