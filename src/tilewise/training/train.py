"""The training loop: tiles in, checkpoints, per-epoch validation AP and an ONNX model out.

* batch by measured memory (``batch="auto"``) or checked against the budget;
* gradients accumulated up to ``nominal_batch`` images per update, weight decay scaled by
  ``batch * accumulate / nominal_batch`` (YOLOv5);
* AdamW (or SGD) with linear warm-up and a cosine schedule, gradient clipping, EMA weights;
* ``last.pt`` (resumable) and ``best.pt`` written atomically every epoch; ``results.json``;
* deterministic for a seed: initialisation, shuffling and augmentation are all seeded, and
  each epoch has its own random stream, so a resumed run repeats an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tilewise.errors import TilewiseError, TilewiseWarning
from tilewise.fileio import atomic_write_json
from tilewise.training.anchor_fit import fit_anchors, label_wh
from tilewise.training.batch_size import (
    BatchMemoryError,
    MemoryProfile,
    check_batch,
    memory_budget,
    profile_memory,
    settle_batch,
)
from tilewise.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from tilewise.training.config import DEFAULT_ANCHORS, DetectorConfig, TrainConfig, split_anchors
from tilewise.training.data import Batch, SplitData, select_split
from tilewise.training.detector import TileDetector, count_parameters
from tilewise.training.ema import ModelEMA
from tilewise.training.loss import DetectionLoss
from tilewise.training.memory import format_bytes, peak_rss, reset_peak_rss
from tilewise.training.validate import ValMetrics, validate

__all__ = ["TrainResult", "train"]

_PROFILE_SIZES = (1, 2, 4, 8)


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        run_dir: the run directory.
        best: ``best.pt`` (highest validation fitness).
        last: ``last.pt`` (resumable).
        onnx: ``best.onnx`` when exported.
        history: one dict per epoch (losses, validation AP, speed, memory).
        batch: images per step.
        accumulate: steps per optimizer update.
        weight_decay: the scaled weight decay used.
        anchors: the anchors used, per level.
        parameters: model parameters.
        profile: the memory profile, when one was measured.
        seconds: wall time of this call.
    """

    run_dir: Path
    best: Path
    last: Path
    onnx: Path | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    batch: int = 0
    accumulate: int = 1
    weight_decay: float = 0.0
    anchors: tuple = ()
    parameters: int = 0
    profile: MemoryProfile | None = None
    seconds: float = 0.0


def _seed_all(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def _split_indices(cfg: TrainConfig, ds: Any) -> tuple[np.ndarray, np.ndarray]:
    train_idx = select_split(ds, "train")
    val_idx = select_split(ds, "val", fallback="test")
    if train_idx.size == 0:
        rest = np.setdiff1d(np.arange(ds.num_images), val_idx)
        if val_idx.size == 0:
            order = np.random.default_rng([cfg.seed, 3]).permutation(rest)
            n_val = max(1, len(order) // 10) if len(order) > 1 else 0
            val_idx, rest = np.sort(order[:n_val]), np.sort(order[n_val:])
        train_idx = rest
    if train_idx.size == 0:
        raise TilewiseError(f"{cfg.data} has no training images")
    return train_idx, val_idx


def _anchors(cfg: TrainConfig, ds: Any, train_idx: np.ndarray, log: Callable[[str], None]) -> tuple:
    if cfg.anchors == "default":
        return DEFAULT_ANCHORS
    if cfg.anchors == "auto":
        notes: list[str] = []
        anchors = fit_anchors(
            label_wh(ds, train_idx), img_size=cfg.img_size, seed=cfg.seed, notes=notes
        )
        for note in notes:  # a fallback is logged, never silent
            log(note)
        return anchors
    return split_anchors(np.asarray(cfg.anchors, dtype=np.float64))


def _param_groups(model: torch.nn.Module) -> tuple[list, list, list]:
    decay, no_decay, biases = [], [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if name == "bias":
                biases.append(p)
            elif isinstance(module, torch.nn.BatchNorm2d):
                no_decay.append(p)
            else:
                decay.append(p)
    return decay, no_decay, biases


def _optimizer(cfg: TrainConfig, model: torch.nn.Module, wd: float) -> torch.optim.Optimizer:
    decay, no_decay, biases = _param_groups(model)
    groups = [
        {"params": no_decay, "weight_decay": 0.0},
        {"params": decay, "weight_decay": wd},
        {"params": biases, "weight_decay": 0.0},
    ]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.937, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.937, 0.999))


def _lr_at(cfg: TrainConfig, epoch_pos: float, warmup_steps: int, step: int) -> float:
    """Learning rate after ``step`` optimizer updates, at fractional epoch ``epoch_pos``."""
    cosine = 0.01 + 0.99 * (1 + math.cos(math.pi * min(epoch_pos / cfg.epochs, 1.0))) / 2
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    return cfg.lr * cosine * warm


def _to_tensors(batch: Batch, device: str, channels_last: bool) -> tuple[torch.Tensor, ...]:
    images = torch.from_numpy(batch.images).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    images = images.contiguous(
        memory_format=torch.channels_last if channels_last else torch.contiguous_format
    )
    return images, torch.from_numpy(batch.targets).to(device)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def _autocast(cfg: TrainConfig) -> contextlib.AbstractContextManager[Any]:
    if not cfg.amp:
        return contextlib.nullcontext()
    device_type = "cuda" if cfg.device.startswith("cuda") else "cpu"
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)


def _make_step(
    cfg: TrainConfig, model: TileDetector, loss_fn: DetectionLoss
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def step(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with _autocast(cfg):
            raw = model(images)
        loss, parts = loss_fn([r.float() for r in raw], targets)
        loss.backward()
        return parts

    return step


def _choose_batch(
    cfg: TrainConfig, model: TileDetector, stored: int | None, log: Callable[[str], None]
) -> tuple[int, MemoryProfile | None]:
    """The batch size: stored (resume), auto by measured memory, or checked against it."""
    if stored is not None and cfg.batch == "auto":
        return stored, None
    probe = TileDetector(model.cfg).to(cfg.device).train()
    if cfg.channels_last:
        probe = probe.to(memory_format=torch.channels_last)
    loss_fn = DetectionLoss(probe.detect, cfg.img_size)
    inner = _make_step(cfg, probe, loss_fn)

    def step(images: torch.Tensor, targets: torch.Tensor) -> None:
        if cfg.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        inner(images, targets)
        probe.zero_grad(set_to_none=True)

    budget, budget_text = memory_budget(
        cfg.device, budget_gb=cfg.memory_budget_gb, fraction=cfg.memory_fraction
    )
    if cfg.batch == "auto":
        sizes = [s for s in _PROFILE_SIZES if s <= cfg.nominal_batch] or [1]
        profile = profile_memory(
            step,
            img_size=cfg.img_size,
            num_classes=model.cfg.num_classes,
            sizes=sizes,
            device=cfg.device,
        )
        base = profile.base

        def measure(batch: int) -> tuple[int, float]:
            one = profile_memory(
                step,
                img_size=cfg.img_size,
                num_classes=model.cfg.num_classes,
                sizes=(batch,),
                device=cfg.device,
                base=base,
            )
            return one.peaks[0], one.seconds[0]

        profiled = profile.sizes
        batch, profile = settle_batch(profile, budget, max_batch=cfg.nominal_batch, measure=measure)
        runs = [s for s in profile.sizes if s not in profiled]
        how = f"measured, after running batch {', '.join(map(str, runs))}" if runs else "measured"
        log(
            f"auto batch: {batch} ({how}: "
            f"{format_bytes(profile.measured[batch])} of the "
            f"{budget_text}; {profile.describe()})"
        )
        return batch, profile
    batch = int(cfg.batch)
    profile = profile_memory(
        step,
        img_size=cfg.img_size,
        num_classes=model.cfg.num_classes,
        sizes=(1, 2),
        device=cfg.device,
    )
    check_batch(profile, batch, budget, budget_text)
    return batch, profile


class _Bar:
    """A tqdm bar over an epoch's batches with loss, images/s and peak memory."""

    def __init__(self, total: int, epoch: int, epochs: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=total, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", disable=not enabled
        )
        self.t0 = time.perf_counter()
        self.images = 0

    def update(self, n_images: int, parts: torch.Tensor) -> None:
        self.images += n_images
        rate = self.images / max(time.perf_counter() - self.t0, 1e-9)
        box, obj, cls = (float(v) for v in parts)
        self.bar.set_postfix_str(
            f"loss {box + obj + cls:.3f} (box {box:.3f} obj {obj:.3f} cls {cls:.3f}) "
            f"{rate:.1f} img/s mem {format_bytes(peak_rss())}"
        )
        self.bar.update(1)

    def close(self) -> float:
        self.bar.close()
        return self.images / max(time.perf_counter() - self.t0, 1e-9)


_AUGMENTATION = ("hflip", "vflip", "rot90", "mosaic", "scale_range", "colour_jitter")


def augmentation_changes(saved: dict[str, Any], cfg: TrainConfig) -> list[tuple[str, Any, Any]]:
    """Augmentation settings that differ between a saved run config and ``cfg``.

    Example:
        >>> old = TrainConfig(data="d").to_dict()
        >>> augmentation_changes(old, TrainConfig(data="d", mosaic=0.5))
        [('mosaic', 0.0, 0.5)]
    """
    if not saved:
        return []
    before = TrainConfig.from_dict(saved)
    return [
        (key, getattr(before, key), getattr(cfg, key))
        for key in _AUGMENTATION
        if getattr(before, key) != getattr(cfg, key)
    ]


def _check_resume(cfg: TrainConfig, state: dict[str, Any], names: tuple[str, ...]) -> None:
    saved_names = tuple(state["names"])
    if saved_names != names:
        raise CheckpointError(
            f"the checkpoint was trained on {len(saved_names)} classes {list(saved_names)[:8]} "
            f"but {cfg.data} has {len(names)} classes {list(names)[:8]}; resume with the "
            "same dataset (class names and order)"
        )
    if int(state["img_size"]) != cfg.img_size:
        raise CheckpointError(
            f"the checkpoint was trained at img_size {state['img_size']}, not {cfg.img_size}; "
            f"pass --img-size {state['img_size']} to resume"
        )
    if "train" not in state:
        raise CheckpointError(
            "the checkpoint holds no training state (a best.pt or an exported model); "
            "resume from last.pt"
        )
    changed = augmentation_changes(state["train"].get("config", {}), cfg)
    if changed:
        flags = " ".join(f"--{k.replace('_', '-')} {old}" for k, old, _ in changed)
        warnings.warn(
            "resuming with other augmentation than the checkpoint's run: "
            + ", ".join(f"{k} {old} -> {new}" for k, old, new in changed)
            + f"; pass {flags} to continue it unchanged",
            TilewiseWarning,
            stacklevel=3,
        )
    done = int(state["train"]["epoch"]) + 1
    if done >= cfg.epochs:
        raise CheckpointError(
            f"the checkpoint has already trained {done} of {cfg.epochs} epochs; pass "
            f"--epochs greater than {done} to train further"
        )


def train(
    config: TrainConfig,
    *,
    resume: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a ``TileDetector`` on ``config.data`` and export it (see the module docs).

    Args:
        config: the run settings.
        resume: a ``last.pt`` to continue from (same data classes and input size).
        progress: show progress bars.
        log: where status lines go (default: printed above the progress bar).

    Returns:
        A ``TrainResult``.

    Raises:
        TilewiseError: unreadable data, no training labels, a class-count mismatch with
            the checkpoint, an unreadable or mismatched checkpoint (``CheckpointError``),
            or a batch that does not fit memory (``BatchMemoryError``, with the measured
            figures and a size that fits).
    """
    from tqdm.auto import tqdm

    from tilewise.datasets import read_dataset

    t_start = time.perf_counter()
    cfg = config
    say = log or tqdm.write
    previous_det = torch.are_deterministic_algorithms_enabled()
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    if cfg.threads is not None:
        torch.set_num_threads(max(1, int(cfg.threads)))
    try:
        ds = read_dataset(cfg.data)
        names = tuple(ds.class_names)
        if not names:
            raise TilewiseError(f"{cfg.data} defines no classes")
        train_idx, val_idx = _split_indices(cfg, ds)
        if not np.isin(ds.image_index, train_idx).any():
            raise TilewiseError(f"{cfg.data} has no labelled objects in its training images")
        state = load_checkpoint(resume) if resume is not None else None
        _seed_all(cfg.seed)
        if state is not None:
            _check_resume(cfg, state, names)
            model = model_from_checkpoint(state, source=str(resume))
            model.load_state_dict(state["train"]["raw_model"])
        else:
            anchors = _anchors(cfg, ds, train_idx, say)
            model = TileDetector(
                DetectorConfig(len(names), anchors, cfg.widths, cfg.depths)  # type: ignore[arg-type]
            )
            per_image = float(np.isin(ds.image_index, train_idx).sum()) / max(len(train_idx), 1)
            model.detect.init_biases(cfg.img_size, float(np.clip(per_image, 1, 100)))
        model = model.to(cfg.device)
        stored_batch = int(state["train"]["batch"]) if state is not None else None
        batch, profile = _choose_batch(cfg, model, stored_batch, say)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        accumulate = max(round(cfg.nominal_batch / batch), 1)
        wd = cfg.weight_decay * batch * accumulate / cfg.nominal_batch
        optimizer = _optimizer(cfg, model, wd)
        train_data = SplitData(
            ds,
            train_idx,
            cfg.img_size,
            hflip=cfg.hflip,
            vflip=cfg.vflip,
            scale_range=cfg.scale_range,
            jitter=cfg.colour_jitter,
            mosaic=cfg.mosaic,
            rot90=cfg.rot90,
        )
        val_data = SplitData(ds, val_idx, cfg.img_size)
        steps_per_epoch = math.ceil(len(train_data) / batch)
        updates_per_epoch = max(steps_per_epoch // accumulate, 1)
        total_updates = updates_per_epoch * cfg.epochs
        warmup = max(round(cfg.warmup_epochs * updates_per_epoch), 0)
        tau = 2000.0 if total_updates > 20000 else max(total_updates / 10, 5.0)
        ema = ModelEMA(model, tau=tau)
        loss_fn = DetectionLoss(model.detect, cfg.img_size)
        step_fn = _make_step(cfg, model, loss_fn)
        run_dir = Path(cfg.out)
        run_dir.mkdir(parents=True, exist_ok=True)
        history: list[dict[str, Any]] = []
        best_fitness = -1.0
        start_epoch = 0
        updates = 0
        if state is not None:
            tr = state["train"]
            optimizer.load_state_dict(tr["optimizer"])
            ema.ema.load_state_dict(state["model"])
            ema.updates = int(tr["ema_updates"])
            history = list(tr["history"])
            best_fitness = float(tr["best_fitness"])
            start_epoch = int(tr["epoch"]) + 1
            updates = int(tr["updates"])
        result = TrainResult(
            run_dir=run_dir,
            best=run_dir / "best.pt",
            last=run_dir / "last.pt",
            batch=batch,
            accumulate=accumulate,
            weight_decay=wd,
            anchors=model.cfg.anchors,
            parameters=count_parameters(model),
            profile=profile,
        )
        say(
            f"training {result.parameters / 1e6:.2f} M parameters on {len(train_data)} images "
            f"({len(val_data)} for validation), {len(names)} classes, {cfg.img_size} px; "
            f"batch {batch} x accumulate {accumulate} (nominal {cfg.nominal_batch}), "
            f"weight decay {wd:.2e}; anchors {[list(map(list, lvl)) for lvl in model.cfg.anchors]}"
        )
        total_steps = 0
        reset_peak_rss()
        for epoch in range(start_epoch, cfg.epochs):
            bar = _Bar(steps_per_epoch, epoch, cfg.epochs, progress)
            t_epoch = time.perf_counter()
            sums = torch.zeros(3)
            n_steps = 0
            optimizer.zero_grad(set_to_none=True)
            for i, batch_data in enumerate(train_data.batches(batch, cfg.seed, epoch)):
                images, targets = _to_tensors(batch_data, cfg.device, cfg.channels_last)
                try:
                    parts = step_fn(images, targets)
                except (RuntimeError, MemoryError) as exc:
                    if not _is_oom(exc):
                        raise
                    measured = f"; {profile.describe()}" if profile is not None else ""
                    raise BatchMemoryError(
                        f"batch {batch} ran out of memory at {cfg.img_size} px (peak "
                        f"{format_bytes(peak_rss())}){measured}; use a smaller --batch or "
                        "--batch auto"
                    ) from None
                sums += parts
                n_steps += 1
                total_steps += 1
                last_in_epoch = i == steps_per_epoch - 1
                if (i + 1) % accumulate == 0 or last_in_epoch:
                    lr = _lr_at(cfg, epoch + i / steps_per_epoch, warmup, updates)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    ema.update(model)
                    updates += 1
                bar.update(len(batch_data.images), parts)
                if cfg.max_steps is not None and total_steps >= cfg.max_steps:
                    break
            rate = bar.close()
            train_seconds = time.perf_counter() - t_epoch
            metrics = (
                validate(ema.ema, val_data, limit=cfg.val_max_images)
                if len(val_data)
                else ValMetrics(float("nan"), float("nan"), float("nan"), 0, 0)
            )
            mean = (sums / max(n_steps, 1)).tolist()
            row = {
                "epoch": epoch + 1,
                "loss_box": round(mean[0], 5),
                "loss_obj": round(mean[1], 5),
                "loss_cls": round(mean[2], 5),
                "lr": optimizer.param_groups[0]["lr"],
                "images_per_s": round(rate, 2),
                "peak_rss": peak_rss(),
                "train_seconds": round(train_seconds, 2),
                "seconds": round(time.perf_counter() - t_epoch, 2),
                **{f"val_{k}": v for k, v in metrics.to_dict().items()},
            }
            history.append(row)
            say(
                f"epoch {epoch + 1}/{cfg.epochs}: loss {sum(mean):.4f}, val AP "
                f"{metrics.ap:.4f} AP50 {metrics.ap50:.4f} AP_small {metrics.ap_small:.4f}, "
                f"{rate:.1f} img/s, peak {format_bytes(peak_rss())}"
            )
            common = {
                "model_config": model.cfg.to_dict(),
                "names": list(names),
                "img_size": cfg.img_size,
                "tile_size": cfg.tile_size or cfg.img_size,
                "model": {k: v.detach().cpu().clone() for k, v in ema.ema.state_dict().items()},
                "metrics": row,
            }
            fitness = metrics.fitness
            if fitness > best_fitness or not result.best.is_file():
                best_fitness = max(fitness, best_fitness)
                save_checkpoint(result.best, common)
            save_checkpoint(
                result.last,
                {
                    **common,
                    "train": {
                        "raw_model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                        "optimizer": optimizer.state_dict(),
                        "epoch": epoch,
                        "updates": updates,
                        "ema_updates": ema.updates,
                        "batch": batch,
                        "history": history,
                        "best_fitness": best_fitness,
                        "config": cfg.to_dict(),
                    },
                },
            )
            atomic_write_json(
                run_dir / "results.json",
                {
                    "config": cfg.to_dict(),
                    "batch": batch,
                    "accumulate": accumulate,
                    "weight_decay": wd,
                    "history": history,
                },
            )
            if cfg.max_steps is not None and total_steps >= cfg.max_steps:
                break
        result.history = history
        if cfg.export:
            from tilewise.training.export import export_checkpoint

            result.onnx = export_checkpoint(result.best, run_dir / "best.onnx")
        result.seconds = time.perf_counter() - t_start
        return result
    finally:
        torch.use_deterministic_algorithms(previous_det)
        torch.set_num_threads(previous_threads)
