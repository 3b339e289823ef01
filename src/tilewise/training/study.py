"""The batch-size study: throughput, peak memory and short-run validation AP per batch size.

Every batch size trains a fresh model (same seed, same anchors) on the same number of
images without gradient accumulation, so the runs differ only in the batch size.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_path, atomic_write_json, atomic_write_text
from tilewise.training.memory import format_bytes

__all__ = ["BatchStudy", "StudyRow", "batch_size_study"]


@dataclass(frozen=True)
class StudyRow:
    """One batch size's figures.

    Attributes:
        batch: images per step.
        steps: optimizer steps run.
        images: training images seen.
        images_per_s: training throughput.
        step_memory: measured peak memory of one training step at this batch, bytes.
        process_peak: the process's peak resident memory during the run, bytes.
        seconds: wall time of the training steps (validation excluded).
        val_ap: validation AP (IoU .50:.95) after the run.
        val_ap50: validation AP at IoU .50.
        loss: mean training loss.
    """

    batch: int
    steps: int
    images: int
    images_per_s: float
    step_memory: int
    process_peak: int
    seconds: float
    val_ap: float
    val_ap50: float
    loss: float


@dataclass
class BatchStudy:
    """All rows of a study with its settings; renders as text, markdown, JSON and a plot."""

    rows: list[StudyRow]
    img_size: int
    images_per_run: int
    data: str
    device: str = "cpu"
    notes: list[str] = field(default_factory=list)

    def _table(self) -> tuple[list[str], list[list[str]]]:
        head = ["batch", "img/s", "step memory", "process peak", "val AP50", "val AP", "loss"]
        body = [
            [
                str(r.batch),
                f"{r.images_per_s:.1f}",
                format_bytes(r.step_memory),
                format_bytes(r.process_peak),
                f"{r.val_ap50:.4f}",
                f"{r.val_ap:.4f}",
                f"{r.loss:.4f}",
            ]
            for r in self.rows
        ]
        return head, body

    def text(self) -> str:
        """A fixed-width table.

        Example:
            >>> s = BatchStudy([StudyRow(4, 2, 8, 10.0, 1 << 20, 1 << 30, 0.8, 0.1, 0.2, 0.3)],
            ...                img_size=64, images_per_run=8, data="d")
            >>> s.text().splitlines()[0].split()[:3]
            ['batch', 'img/s', 'step']
        """
        head, body = self._table()
        widths = [max([len(h), *(len(row[i]) for row in body)]) for i, h in enumerate(head)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
        for row in body:
            lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        return "\n".join(lines)

    def markdown(self) -> str:
        """A markdown table with a one-line header of the settings."""
        head, body = self._table()
        out = [
            f"Batch-size study on `{self.data}`: {self.images_per_run} training images per "
            f"batch size at {self.img_size} px on {self.device}.",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---:" for _ in head) + "|",
        ]
        out += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(out) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""

        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and math.isnan(v) else v

        return {
            "data": self.data,
            "img_size": self.img_size,
            "images_per_run": self.images_per_run,
            "device": self.device,
            "notes": self.notes,
            "rows": [{k: clean(v) for k, v in asdict(r).items()} for r in self.rows],
        }

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Throughput, step memory and validation AP50 against the batch size (PNG)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        b = [r.batch for r in self.rows]
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        series = [
            ([r.images_per_s for r in self.rows], "training images / s"),
            ([r.step_memory / (1 << 20) for r in self.rows], "peak step memory (MiB)"),
            ([r.val_ap50 for r in self.rows], "validation AP50 (short run)"),
        ]
        for ax, (values, label) in zip(axes, series, strict=True):
            ax.plot(b, values, marker="o")
            ax.set_xscale("log", base=2)
            ax.set_xticks(b, [str(v) for v in b])
            ax.set_xlabel("batch size")
            ax.set_title(label, fontsize=10)
            ax.grid(alpha=0.3)
        fig.suptitle(f"batch-size study: {self.images_per_run} images per run, {self.img_size} px")
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)
        return Path(path)

    def save(self, out: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``study.json``, ``study.md`` and ``study.png`` into ``out``."""
        root = Path(out)
        return {
            "json": atomic_write_json(root / "study.json", self.to_dict()),
            "markdown": atomic_write_text(root / "study.md", self.markdown()),
            "plot": self.plot(root / "study.png"),
        }


def _step_memory(cfg: Any, batch: int, num_classes: int) -> int:
    import torch

    from tilewise.training.batch_size import profile_memory
    from tilewise.training.config import DetectorConfig
    from tilewise.training.detector import TileDetector
    from tilewise.training.loss import DetectionLoss

    model = TileDetector(DetectorConfig(num_classes, widths=cfg.widths, depths=cfg.depths))
    model = model.to(cfg.device).train()
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = DetectionLoss(model.detect, cfg.img_size)

    def step(images: torch.Tensor, targets: torch.Tensor) -> None:
        if cfg.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(
            device_type="cuda" if cfg.device.startswith("cuda") else "cpu",
            dtype=torch.bfloat16,
            enabled=cfg.amp,
        ):
            raw = model(images)
        loss, _ = loss_fn([r.float() for r in raw], targets)
        loss.backward()
        model.zero_grad(set_to_none=True)

    prof = profile_memory(
        step, img_size=cfg.img_size, num_classes=num_classes, sizes=(batch,), device=cfg.device
    )
    return prof.peaks[0]


def batch_size_study(
    data: str | os.PathLike[str],
    sizes: Sequence[int] = (1, 2, 4, 8, 16),
    *,
    img_size: int = 320,
    images: int = 256,
    seed: int = 0,
    lr: float = 0.002,
    val_max_images: int | None = 128,
    device: str = "cpu",
    amp: bool = False,
    threads: int | None = None,
    mosaic: float = 0.0,
    rot90: float = 0.0,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> BatchStudy:
    """Train briefly at each batch size and measure speed, memory and validation AP.

    Args:
        data: a dataset with train (and val) splits, usually tiled.
        sizes: batch sizes to compare.
        img_size: model input size.
        images: training images per batch size (the same data budget for all).
        seed: random seed (every run starts from the same weights).
        lr: learning rate of every run.
        val_max_images: validation images per run.
        device: ``"cpu"`` or a CUDA device.
        amp: bfloat16 mixed precision.
        threads: torch CPU threads (None: torch's default).
        mosaic: mosaic probability of the training runs (``TrainConfig.mosaic``).
        rot90: 90-degree-turn probability of the training runs (``TrainConfig.rot90``).
        progress: show progress bars.
        log: where status lines go.

    Raises:
        TilewiseError: bad sizes, or the errors of ``train``.
    """
    from tilewise.training.config import TrainConfig
    from tilewise.training.train import train

    order = sorted({int(s) for s in sizes})
    if not order or order[0] < 1:
        raise TilewiseError(f"batch sizes must be integers >= 1, got {sizes!r}")
    if images < order[-1]:
        raise TilewiseError(f"images per run ({images}) must be at least the largest batch")
    from tilewise.datasets import read_dataset

    say = log or print
    num_classes = len(read_dataset(data).class_names)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tilewise-batch-study-") as tmp:
        for b in order:
            cfg = TrainConfig(
                data=str(data),
                out=str(Path(tmp) / f"b{b}"),
                img_size=img_size,
                epochs=1,
                batch=b,
                nominal_batch=b,
                lr=lr,
                seed=seed,
                warmup_epochs=0.0,
                val_max_images=val_max_images,
                max_steps=math.ceil(images / b),
                export=False,
                device=device,
                amp=amp,
                threads=threads,
                mosaic=mosaic,
                rot90=rot90,
            )
            result = train(cfg, progress=progress, log=lambda _m: None)
            row = result.history[-1]
            step_mem = _step_memory(cfg, b, num_classes)
            loss = row["loss_box"] + row["loss_obj"] + row["loss_cls"]
            rows.append(
                StudyRow(
                    batch=b,
                    steps=cfg.max_steps or 0,
                    images=(cfg.max_steps or 0) * b,
                    images_per_s=float(row["images_per_s"]),
                    step_memory=int(step_mem),
                    process_peak=int(row["peak_rss"]),
                    seconds=float(row.get("train_seconds", row["seconds"])),
                    val_ap=float(row["val_AP"] if row["val_AP"] is not None else math.nan),
                    val_ap50=float(row["val_AP50"] if row["val_AP50"] is not None else math.nan),
                    loss=float(loss),
                )
            )
            say(
                f"batch {b}: {rows[-1].images_per_s:.1f} img/s, step memory "
                f"{format_bytes(step_mem)}, val AP50 {rows[-1].val_ap50:.4f}"
            )
    return BatchStudy(rows, img_size, images, str(data), device)
