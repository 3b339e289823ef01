"""``tilewise bench ...``: training benchmarks (needs the ``train`` extra).

Registered by the lead as a sub-app: ``Command("bench", bench_cmd.app)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tilewise.cli.console import echo

__all__ = ["app", "parse_sizes"]

app = typer.Typer(help="Benchmarks: the batch-size study.", no_args_is_help=True)


def parse_sizes(text: str) -> list[int]:
    """``"1,2,4,8"`` -> [1, 2, 4, 8].

    Example:
        >>> parse_sizes("1, 2,4")
        [1, 2, 4]
    """
    from tilewise.errors import TilewiseError

    try:
        sizes = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise TilewiseError(f"--sizes must be integers like 1,2,4,8,16, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise TilewiseError(f"--sizes must be integers >= 1, got {text!r}")
    return sizes


@app.command("batch")
def batch(
    data: Annotated[Path, typer.Argument(help="Dataset with train/val splits (usually tiled).")],
    sizes: Annotated[str, typer.Option(help="Batch sizes to compare.")] = "1,2,4,8,16",
    img_size: Annotated[int, typer.Option("--img-size", help="Model input size (px).")] = 320,
    images: Annotated[int, typer.Option(help="Training images per batch size.")] = 256,
    val_max_images: Annotated[int, typer.Option(help="Validation images per run.")] = 128,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("batch-study"),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="cpu or cuda[:N].")] = "cpu",
    amp: Annotated[bool, typer.Option("--amp", help="bfloat16 mixed precision.")] = False,
    threads: Annotated[
        int | None, typer.Option(help="torch CPU threads (default: torch's choice).")
    ] = None,
    mosaic: Annotated[
        float, typer.Option(metavar="P", help="Mosaic probability of the training runs.")
    ] = 0.0,
    rot90: Annotated[
        float, typer.Option(metavar="P", help="90-degree-turn probability of the runs.")
    ] = 0.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Per batch size: training throughput, peak memory, short-run validation AP."""
    from tilewise.training.study import batch_size_study

    study = batch_size_study(
        data,
        parse_sizes(sizes),
        img_size=img_size,
        images=images,
        val_max_images=val_max_images,
        seed=seed,
        device=device,
        amp=amp,
        threads=threads,
        mosaic=mosaic,
        rot90=rot90,
        progress=not quiet,
        log=echo,
    )
    files = study.save(out)
    echo(study.text())
    echo(f"wrote {files['json']}, {files['markdown']} and {files['plot']}")
