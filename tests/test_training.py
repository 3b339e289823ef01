from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("sklearn")
pytest.importorskip("skimage")

import torch

from tests.training_data import TINY, make_tiles, scored_detector
from tilewise import TilewiseError
from tilewise.models import OnnxDetector, TorchModuleDetector
from tilewise.synth import SynthConfig, generate_benchmark
from tilewise.training import (
    BatchMemoryError,
    CheckpointError,
    DetectorConfig,
    TileDetector,
    TrainConfig,
    count_parameters,
    export_checkpoint,
    export_onnx,
    load_checkpoint,
    model_from_checkpoint,
    train,
)
from tilewise.training.batch_size import (
    MemoryProfile,
    auto_batch,
    check_batch,
    profile_memory,
    settle_batch,
)
from tilewise.training.loss import DetectionLoss


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: parallel test workers on few cores otherwise oversubscribe."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
        "memory_budget_gb": 8.0,
        **TINY,
    }
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_default_detector_size_and_outputs() -> None:
    model = TileDetector(DetectorConfig(num_classes=6))
    assert 1_000_000 <= count_parameters(model) <= 3_000_000
    x = torch.zeros(2, 3, 96, 96)
    raw = model.train()(x)
    assert [tuple(r.shape) for r in raw] == [(2, 3, 12, 12, 11), (2, 3, 6, 6, 11)]
    with torch.no_grad():
        out = model.eval()(x)
    assert tuple(out.shape) == (2, 10, 3 * (144 + 36))
    assert float(out[:, 4:].min()) >= 0
    assert float(out[:, 4:].max()) <= 1


def test_loss_assigns_neighbours_and_learns() -> None:
    torch.manual_seed(0)
    model = TileDetector(DetectorConfig(num_classes=2, **TINY)).train()
    loss_fn = DetectionLoss(model.detect, 64)
    images = torch.rand(2, 3, 64, 64)
    targets = torch.tensor([[0, 1, 20.3, 30.6, 8, 9], [1, 0, 40.0, 12.0, 20, 18]])
    built = loss_fn._build_targets(model(images), targets)
    assert sum(len(level[0]) for level in built) >= 3  # own cell plus neighbours
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(15):
        loss, parts = loss_fn(model(images), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        assert parts.shape == (3,)
    assert losses[-1] < losses[0]
    empty, _ = loss_fn(model(images), torch.zeros((0, 6)))
    assert torch.isfinite(empty)


def test_export_matches_torch_and_onnx_detector(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = scored_detector(3)
    path = export_onnx(model, tmp_path / "m.onnx", names=["a", "b", "c"], img_size=64, tile_size=64)
    import onnxruntime as ort

    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        expected = model(x).numpy()
    session = ort.InferenceSession(str(path))
    got = session.run(None, {"images": x.numpy()})[0]
    np.testing.assert_allclose(got[:, :4], expected[:, :4], rtol=1e-3, atol=0.1)  # pixels
    np.testing.assert_allclose(got[:, 4:], expected[:, 4:], atol=2e-3)  # scores
    assert session.get_outputs()[0].shape == ["batch", 7, 3 * (64 + 16)]
    onnx_model = OnnxDetector(path, conf=0.3)
    assert onnx_model.names == ("a", "b", "c")
    assert onnx_model.tile_size == (64, 64)
    torch_model = TorchModuleDetector(model, 64, names=["a", "b", "c"], conf=0.3)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in [(64, 64), (80, 50)]]
    for a, b in zip(onnx_model(images), torch_model(images), strict=True):
        assert len(a) == len(b)
        assert len(a) > 0
        a, b = a[np.lexsort(np.round(a.xyxy).T)], b[np.lexsort(np.round(b.xyxy).T)]
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.2)
        np.testing.assert_array_equal(a.class_id, b.class_id)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=2e-3)
    with pytest.raises(TilewiseError, match="class names"):
        export_onnx(model, tmp_path / "x.onnx", names=["a"], img_size=64)


def test_train_writes_checkpoints_metrics_and_onnx(tiles: Path, tmp_path: Path) -> None:
    result = train(_cfg(tiles, tmp_path / "run", epochs=2), progress=False, log=lambda m: None)
    assert result.best.is_file()
    assert result.last.is_file()
    assert result.onnx is not None
    assert result.onnx.is_file()
    assert len(result.history) == 2
    row = result.history[-1]
    assert {"val_AP", "val_AP50", "val_AP_small", "images_per_s", "peak_rss"} <= set(row)
    assert result.accumulate == 2
    assert result.weight_decay == pytest.approx(5e-4 * 4 * 2 / 8)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert len(saved["history"]) == 2
    model = OnnxDetector(result.onnx)
    assert model.names == ("digit", "coin", "face", "logo", "horse", "cat")
    assert model.imgsz == (64, 64)
    ckpt = load_checkpoint(result.best)
    assert model_from_checkpoint(ckpt).cfg.anchors == result.anchors
    again = export_checkpoint(result.best, tmp_path / "again.onnx")
    assert OnnxDetector(again).num_classes == 6


def _weights(path: Path) -> dict:
    return load_checkpoint(path)["train"]["raw_model"]


def test_training_is_deterministic_and_resumable(tiles: Path, tmp_path: Path) -> None:
    kw = {"export": False, "anchors": "default"}
    two = train(_cfg(tiles, tmp_path / "a", epochs=2, **kw), progress=False, log=lambda m: None)
    again = train(_cfg(tiles, tmp_path / "b", epochs=2, **kw), progress=False, log=lambda m: None)
    wa, wb = _weights(two.last), _weights(again.last)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # interrupted after its first epoch (max_steps = one epoch), then resumed
    from tilewise.datasets import read_dataset

    n_train = int((read_dataset(tiles).images.split == "train").sum())
    first = _cfg(tiles, tmp_path / "c", epochs=2, max_steps=-(-n_train // 4), **kw)
    one = train(first, progress=False, log=lambda m: None)
    assert len(one.history) == 1
    resumed = train(
        _cfg(tiles, tmp_path / "c", epochs=2, **kw),
        resume=one.last,
        progress=False,
        log=lambda m: None,
    )
    wr = _weights(resumed.last)
    assert all(torch.allclose(wa[k].float(), wr[k].float(), atol=1e-6) for k in wa)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    with pytest.raises(CheckpointError, match="already trained 2 of 2"):
        train(_cfg(tiles, tmp_path / "c", epochs=2, **kw), resume=resumed.last, progress=False)
    with pytest.raises(CheckpointError, match="img-size 64"):
        train(_cfg(tiles, tmp_path / "c", epochs=3, img_size=96, **kw), resume=resumed.last)
    with pytest.raises(CheckpointError, match="no training state"):
        train(_cfg(tiles, tmp_path / "c", epochs=3, **kw), resume=resumed.best, progress=False)


def test_resume_with_other_classes_is_refused(tiles: Path, tmp_path: Path) -> None:
    run = train(_cfg(tiles, tmp_path / "r", export=False), progress=False, log=lambda m: None)
    other = tmp_path / "other"
    cfg = SynthConfig(scene_size=128, size_range=(4, 24))
    generate_benchmark(other, scenes=3, seed=1, config=cfg, progress=False)
    ann = other / "annotations" / "instances_train.json"
    coco = json.loads(ann.read_text())
    coco["categories"] = coco["categories"][:5]
    coco["annotations"] = [a for a in coco["annotations"] if a["category_id"] <= 5]
    ann.write_text(json.dumps(coco))
    for split in ("val", "test"):
        (other / "annotations" / f"instances_{split}.json").unlink()
    with pytest.raises(CheckpointError, match=r"trained on 6 classes .* has 5 classes"):
        train(_cfg(other, tmp_path / "r2", epochs=2), resume=run.last, progress=False)


def test_bad_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="expected a tilewise detector checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not a tilewise checkpoint"):
        load_checkpoint(other)
    model = TileDetector(DetectorConfig(num_classes=2, **TINY))
    bad = {
        "format": "tilewise-detector",
        "version": 1,
        "model_config": DetectorConfig(num_classes=3, **TINY).to_dict(),
        "names": ["a", "b", "c"],
        "img_size": 64,
        "model": model.state_dict(),
    }
    torch.save(bad, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not match"):
        model_from_checkpoint(load_checkpoint(tmp_path / "mismatch.pt"))


def test_memory_profile_and_refusal(tiles: Path, tmp_path: Path) -> None:
    model = TileDetector(DetectorConfig(num_classes=2, **TINY)).train()
    loss_fn = DetectionLoss(model.detect, 64)

    def step(images: torch.Tensor, targets: torch.Tensor) -> None:
        loss, _ = loss_fn(model(images), targets)
        loss.backward()
        model.zero_grad()

    seen: list[tuple[tuple[int, ...], int]] = []

    def spy(images: torch.Tensor, targets: torch.Tensor) -> None:
        seen.append((tuple(images.shape), int(targets[:, 0].max()) + 1))
        step(images, targets)

    prof = profile_memory(spy, img_size=64, num_classes=2, sizes=(4, 1, 2, 2))
    # one full step per distinct size, smallest first, on a batch of that many 64 px images
    assert seen == [((b, 3, 64, 64), b) for b in (1, 2, 4)]
    assert prof.sizes == (1, 2, 4)
    assert prof.source == "cpu-rss"
    assert all(isinstance(p, int) and p >= 0 for p in prof.peaks)
    assert all(t > 0 for t in prof.seconds)
    # the prediction is the fitted line, never below what was measured
    fixed, per = prof.fit
    for b in range(1, 65):
        measured = dict(zip(prof.sizes, prof.peaks, strict=True)).get(b, 0)
        assert prof.predict(b) == max(fixed + per * b, measured)
    fake = MemoryProfile((1, 2), (1 << 30, 2 << 30), (0.1, 0.2), "cpu-rss", 640)
    with pytest.raises(BatchMemoryError, match=r"use --batch 3 or less"):
        check_batch(fake, 32, budget=int(3.5 * (1 << 30)))
    with pytest.raises(BatchMemoryError, match="measured"):
        train(_cfg(tiles, tmp_path / "m", batch=4096, memory_budget_gb=0.05), progress=False)


def test_auto_batch(tiles: Path, tmp_path: Path) -> None:
    result = train(
        _cfg(tiles, tmp_path / "auto", batch="auto", max_steps=1, export=False),
        progress=False,
        log=lambda m: None,
    )
    prof = result.profile
    assert prof is not None
    assert prof.sizes == (1, 2, 4, 8)
    # the largest batch up to nominal_batch whose predicted need fits the 8 GiB budget
    budget = 8 << 30
    assert result.batch == max(b for b in range(1, 9) if prof.predict(b) <= budget)
    assert result.batch * result.accumulate >= 8


MIB = 1 << 20


@pytest.mark.parametrize(
    ("budget_mib", "batch", "accumulate"),
    [
        (1000.0, 8, 1),  # everything fits: the nominal batch
        (300.0, 4, 2),  # 100 + 50 b <= 300: b <= 4
        (180.0, 1, 8),  # only batch 1 (150) fits
    ],
)
def test_auto_batch_picks_the_largest_that_fits(
    tiles: Path, tmp_path: Path, monkeypatch, budget_mib: float, batch: int, accumulate: int
) -> None:
    train_mod = importlib.import_module("tilewise.training.train")  # the module, not train()

    fake = MemoryProfile(
        (1, 2, 4, 8), tuple(100 * MIB + 50 * MIB * b for b in (1, 2, 4, 8)), (0.1,) * 4,
        "cpu-rss", 64,
    )  # fmt: skip
    monkeypatch.setattr(train_mod, "profile_memory", lambda *a, **k: fake)
    logs: list[str] = []
    result = train(
        _cfg(
            tiles, tmp_path / "fake", batch="auto", max_steps=1, export=False,
            memory_budget_gb=budget_mib / 1024,
        ),
        progress=False,
        log=logs.append,
    )  # fmt: skip
    assert (result.batch, result.accumulate) == (batch, accumulate)
    assert any(line.startswith(f"auto batch: {batch} ") for line in logs)


def test_auto_batch_refuses_when_even_one_image_does_not_fit(tiles, tmp_path, monkeypatch) -> None:
    train_mod = importlib.import_module("tilewise.training.train")  # the module, not train()

    fake = MemoryProfile((1, 2), (900 * MIB, 1000 * MIB), (0.1, 0.1), "cpu-rss", 64)
    monkeypatch.setattr(train_mod, "profile_memory", lambda *a, **k: fake)
    with pytest.raises(BatchMemoryError, match="even batch 1"):
        train(
            _cfg(tiles, tmp_path / "no", batch="auto", memory_budget_gb=0.5, export=False),
            progress=False,
        )


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 16), min_size=1, max_size=4, unique=True).map(sorted),
    per=st.integers(0, 1000),
    fixed=st.integers(0, 5000),
    noise=st.lists(st.integers(-200, 200), min_size=4, max_size=4),
    budget=st.integers(0, 30_000),
    max_batch=st.integers(1, 40),
)
def test_profile_fit_and_auto_batch_property(sizes, per, fixed, noise, budget, max_batch) -> None:
    peaks = tuple(max(fixed + per * s + e, 0) for s, e in zip(sizes, noise, strict=False))
    prof = MemoryProfile(tuple(sizes), peaks, (0.0,) * len(sizes), "cpu-rss", 64)
    f, p = prof.fit
    assert f >= 0
    assert p >= 0
    for s, peak in zip(sizes, peaks, strict=True):
        assert prof.predict(s) >= peak  # never below a measurement
    fits = [b for b in range(1, max_batch + 1) if prof.predict(b) <= budget]
    if prof.predict(1) > budget:
        with pytest.raises(BatchMemoryError):
            auto_batch(prof, budget, max_batch=max_batch)
    else:
        assert auto_batch(prof, budget, max_batch=max_batch) == max(fits)


def test_config_validation() -> None:
    with pytest.raises(TilewiseError, match="multiple of 32"):
        TrainConfig(data="d", img_size=100)
    with pytest.raises(TilewiseError, match="batch"):
        TrainConfig(data="d", batch="big")
    with pytest.raises(TilewiseError, match="anchors"):
        TrainConfig(data="d", anchors="fitted")
    with pytest.raises(TilewiseError, match="levels"):
        DetectorConfig(num_classes=2, anchors=(((5, 5),),))


def _line_profile(fixed: int, per: int, sizes=(1, 2, 4)) -> MemoryProfile:
    return MemoryProfile(
        tuple(sizes), tuple(fixed + per * s for s in sizes), (0.0,) * len(sizes), "cpu-rss", 64
    )


# (measured peak of batch b, budget, max_batch) -> (batch, the batches run to check)
@pytest.mark.parametrize(
    ("peak", "budget", "max_batch", "batch", "runs"),
    [
        (lambda b: 100 + 200 * b, 2000, 64, 9, [9]),  # linear: the prediction holds
        (lambda b: 100 + 200 * b, 1000, 64, 4, []),  # 4 is profiled: nothing to run
        (lambda b: 100 + 200 * b, 2000, 3, 3, [3]),  # capped, not profiled: run
        (lambda b: 100 + 200 * b, 2000, 4, 4, []),  # capped, profiled
        (lambda b: 100 + 200 * b + 10 * b * b, 2000, 64, 6, [9, 6]),  # convex: backs off
        # far worse than the line: the refit fits nothing; the largest measured fit
        (lambda b: 100 + 200 * b if b <= 4 else 10**6, 2000, 64, 4, [9]),
    ],
)
def test_settle_batch_table(peak, budget, max_batch, batch, runs) -> None:
    profile = _line_profile(100, 200)
    seen: list[int] = []

    def measure(b: int) -> tuple[int, float]:
        seen.append(b)
        return peak(b), 0.0

    got, settled = settle_batch(profile, budget, max_batch=max_batch, measure=measure)
    assert (got, seen) == (batch, runs)
    measured = dict(zip(settled.sizes, settled.peaks, strict=True))
    assert measured[got] <= budget
    assert all(measured[b] == peak(b) for b in runs)


def test_settle_batch_refuses_like_auto_batch() -> None:
    with pytest.raises(BatchMemoryError, match="even batch 1"):
        settle_batch(_line_profile(900, 100), 500, max_batch=8, measure=lambda b: (0, 0.0))


@settings(max_examples=200, deadline=None)
@given(
    fixed=st.integers(0, 2000),
    per=st.integers(1, 500),
    curve=st.integers(-20, 60),
    budget=st.integers(0, 40_000),
    max_batch=st.integers(1, 64),
)
def test_settle_batch_property(fixed, per, curve, budget, max_batch) -> None:
    # memory that grows linearly, faster (curve > 0) or slower (curve < 0) than a line
    def true_peak(b: int) -> int:
        return max(fixed + per * b + curve * b * b, 0)

    profile = MemoryProfile(
        (1, 2, 4), tuple(true_peak(s) for s in (1, 2, 4)), (0.0,) * 3, "cpu-rss", 64
    )
    runs: list[int] = []

    def measure(b: int) -> tuple[int, float]:
        runs.append(b)
        return true_peak(b), 0.0

    if profile.predict(1) > budget:
        with pytest.raises(BatchMemoryError):
            settle_batch(profile, budget, max_batch=max_batch, measure=measure)
        return
    batch, settled = settle_batch(profile, budget, max_batch=max_batch, measure=measure)
    assert 1 <= batch <= max_batch
    assert true_peak(batch) <= budget  # measured, never extrapolated
    assert batch in settled.sizes
    assert len(runs) <= 3
    assert runs == sorted(runs, reverse=True)  # each retry is smaller


def test_auto_batch_runs_an_extrapolated_batch_before_using_it(
    tiles: Path, tmp_path: Path, monkeypatch
) -> None:
    train_mod = importlib.import_module("tilewise.training.train")  # the module, not train()
    calls: list[tuple[tuple[int, ...], int | None]] = []

    def fake_profile(step, *, img_size, num_classes, sizes, device, base=None):
        calls.append((tuple(sizes), base))
        peaks = tuple((10 + 5 * s + s * s // 2) * MIB for s in sizes)  # convex
        return MemoryProfile(tuple(sizes), peaks, (0.1,) * len(sizes), "cpu-rss", 64, 7 * MIB)

    monkeypatch.setattr(train_mod, "profile_memory", fake_profile)
    logs: list[str] = []
    result = train(
        _cfg(tiles, tmp_path / "x", batch="auto", nominal_batch=64, max_steps=1, export=False,
             memory_budget_gb=200 / 1024),
        progress=False,
        log=logs.append,
    )  # fmt: skip
    # the line through 1, 2, 4, 8 says about 28 fits 200 MiB; 28 needs 542 MiB, 20 fits
    assert calls[0] == ((1, 2, 4, 8), None)
    assert all(base == 7 * MIB for _, base in calls[1:])  # counted from the same base
    assert 10 + 5 * result.batch + result.batch**2 // 2 <= 200
    assert len(calls) > 1
    assert any("after running batch" in line for line in logs)
