"""``tilewise dataset synth OUT``: generate the synthetic small-object benchmark.

A single command function, registered by the lead under the ``dataset`` group, e.g.
``dataset_cmd.app.command("synth")(synth_cmd.synth)``. Needs the ``synth`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tilewise.cli.console import echo

__all__ = ["synth"]


def synth(
    out: Annotated[Path, typer.Argument(help="Output directory (empty, or use --overwrite).")],
    scenes: Annotated[int, typer.Option("--scenes", "-n", help="Number of scenes.")] = 20,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same benchmark).")] = 0,
    size: Annotated[int, typer.Option("--size", help="Scene width and height in pixels.")] = 2048,
    split: Annotated[
        str, typer.Option(help="Train, val and test fractions of the scenes.")
    ] = "0.7,0.15,0.15",
    workers: Annotated[int, typer.Option(help="Scenes rendered in parallel.")] = 2,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier benchmark in OUT.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Generate large scenes full of small labelled objects (6 classes), COCO, split by scene."""
    from tilewise.errors import TilewiseError
    from tilewise.synth import SynthConfig, generate_benchmark

    try:
        ratios = tuple(float(v) for v in split.split(","))
    except ValueError:
        raise TilewiseError(f"--split must be like 0.7,0.15,0.15, got {split!r}") from None
    if len(ratios) != 3:
        raise TilewiseError(f"--split must be three fractions like 0.7,0.15,0.15, got {split!r}")
    size_max = min(64.0, size / 4)
    config = SynthConfig(
        scene_size=size,
        split_ratios=ratios,  # type: ignore[arg-type]
        size_range=(4.0, size_max),
    )
    result = generate_benchmark(
        out, scenes, seed, config, workers=workers, progress=not quiet, overwrite=overwrite
    )
    echo(f"wrote {scenes} scene(s) of {size}x{size} px to {result.root} in {result.seconds:.1f} s")
    for name in ("train", "val", "test"):
        if name in result.images:
            echo(
                f"  {name:5s} {result.images[name]:4d} scene(s), "
                f"{result.objects[name]:6d} objects  {result.annotation_files[name]}"
            )
    counts = ", ".join(f"{k} {v}" for k, v in result.class_counts.items())
    echo(f"  classes: {counts}")
