"""``tilewise train DATA`` and ``tilewise export CHECKPOINT`` (need the ``train`` extra).

Registered by the lead as single commands: ``Command("train", train_cmd.train)`` and
``Command("export", train_cmd.export)``. torch is imported inside the commands only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tilewise.cli.console import echo

__all__ = ["export", "parse_anchors", "parse_batch", "train"]


def parse_batch(text: str) -> int | str:
    """``"auto"`` or a positive int.

    Example:
        >>> parse_batch("auto"), parse_batch("16")
        ('auto', 16)
    """
    from tilewise.errors import TilewiseError

    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise TilewiseError(f"--batch must be a positive integer or 'auto', got {text!r}") from None
    if value < 1:
        raise TilewiseError(f"--batch must be >= 1, got {value}")
    return value


def parse_anchors(text: str) -> str | list[list[float]]:
    """``"auto"``, ``"default"`` or ``"w,h,w,h,..."`` (an even count of sizes, pixels).

    Example:
        >>> parse_anchors("auto"), parse_anchors("6,7,10,12")
        ('auto', [[6.0, 7.0], [10.0, 12.0]])
    """
    from tilewise.errors import TilewiseError

    t = text.strip().lower()
    if t in ("auto", "default"):
        return t
    try:
        values = [float(v) for v in t.split(",")]
    except ValueError:
        values = []
    if not values or len(values) % 2:
        raise TilewiseError(
            f"--anchors must be 'auto', 'default' or w,h pairs like 6,7,10,12, got {text!r}"
        )
    return [[values[i], values[i + 1]] for i in range(0, len(values), 2)]


def train(
    data: Annotated[Path, typer.Argument(help="Dataset (COCO/YOLO/VOC), usually tiled.")],
    img_size: Annotated[int, typer.Option("--img-size", help="Model input size (px).")] = 640,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 30,
    batch: Annotated[
        str, typer.Option(help="Images per step, or 'auto' (largest that fits memory).")
    ] = "16",
    nominal_batch: Annotated[
        int, typer.Option("--nominal-batch", help="Accumulate gradients up to this many images.")
    ] = 64,
    anchors: Annotated[
        str, typer.Option(help="'auto' (fit to the labels), 'default' or w,h,w,h,...")
    ] = "auto",
    out: Annotated[Path, typer.Option(help="Run directory.")] = Path("runs/train"),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 0.002,
    optimizer: Annotated[str, typer.Option(help="adamw or sgd.")] = "adamw",
    resume: Annotated[
        Path | None, typer.Option(help="Continue from a last.pt of an earlier run.")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda[:N].")] = "cpu",
    amp: Annotated[bool, typer.Option("--amp", help="bfloat16 mixed precision.")] = False,
    threads: Annotated[
        int | None, typer.Option(help="torch CPU threads (1 is fastest on a busy machine).")
    ] = None,
    memory_budget: Annotated[
        float | None,
        typer.Option("--memory-budget", help="Memory budget in GB for --batch auto and checks."),
    ] = None,
    memory_fraction: Annotated[
        float, typer.Option(help="Else this fraction of the available memory.")
    ] = 0.6,
    val_max_images: Annotated[
        int | None, typer.Option(help="Validate on at most this many images.")
    ] = None,
    tile_size: Annotated[
        int | None, typer.Option(help="Training tile size to record in the model.")
    ] = None,
    mosaic: Annotated[
        float,
        typer.Option(
            metavar="P",
            help="Probability that a training sample is a 4-image mosaic (native "
            "resolution, no resizing); 0 disables.",
        ),
    ] = 0.0,
    rot90: Annotated[
        float,
        typer.Option(
            metavar="P",
            help="Probability of a random 90/180/270-degree turn of each training image "
            "(suits top-down imagery); 0 disables.",
        ),
    ] = 0.0,
    max_steps: Annotated[int | None, typer.Option(hidden=True)] = None,
    export_onnx: Annotated[
        bool, typer.Option("--export/--no-export", help="Write best.onnx at the end.")
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train the tilewise detector on tiles; validation AP each epoch; export ONNX."""
    from tilewise.training import TrainConfig
    from tilewise.training import train as run_training

    cfg = TrainConfig(
        data=str(data),
        out=str(out),
        img_size=img_size,
        epochs=epochs,
        batch=parse_batch(batch),
        nominal_batch=nominal_batch,
        anchors=parse_anchors(anchors),
        lr=lr,
        optimizer=optimizer,
        seed=seed,
        device=device,
        amp=amp,
        threads=threads,
        memory_budget_gb=memory_budget,
        memory_fraction=memory_fraction,
        val_max_images=val_max_images,
        max_steps=max_steps,
        export=export_onnx,
        tile_size=tile_size,
        mosaic=mosaic,
        rot90=rot90,
    )
    result = run_training(cfg, resume=resume, progress=not quiet, log=echo)
    last = result.history[-1] if result.history else {}
    echo(
        f"done in {result.seconds / 60:.1f} min: best {result.best}, last {result.last}"
        + (f", onnx {result.onnx}" if result.onnx else "")
    )
    if last:
        echo(
            f"final epoch {last['epoch']}: val AP {last.get('val_AP')}, AP50 "
            f"{last.get('val_AP50')}, AP_small {last.get('val_AP_small')}"
        )


def export(
    checkpoint: Annotated[Path, typer.Argument(help="A best.pt or last.pt of `tilewise train`.")],
    out: Annotated[
        Path | None, typer.Option(help="Output .onnx (default: next to the checkpoint).")
    ] = None,
) -> None:
    """Export a training checkpoint to ONNX (YOLOv8 layout, dynamic batch, metadata)."""
    from tilewise.training import export_checkpoint

    path = export_checkpoint(checkpoint, out)
    echo(f"wrote {path}")
