"""``tilewise check IMAGES...``: a fast scan of image files before a long job.

Registered as a single command: ``Command("check", check_cmd.check)``. Prints a table of
the files with findings and the counts; ``--json`` writes (or prints, with ``-``) the full
report. Exits with code 1 when anything is wrong (unreadable, truncated, over the pixel
limit, duplicate content; with ``--strict`` also EXIF-rotated and high-bit-depth files).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tilewise.cli.console import ExitCode, echo
from tilewise.cli.image_options import MaxPixelsOption, read_options

__all__ = ["check"]


def check(
    images: Annotated[
        list[Path], typer.Argument(help="Image files and directories (scanned recursively).")
    ],
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the JSON report here ('-' prints it to stdout)."),
    ] = None,
    decode: Annotated[
        bool,
        typer.Option(
            "--decode/--headers-only",
            help="Decode every file to find truncation (default), or read headers only.",
        ),
    ] = True,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="EXIF-rotated and 16-bit/float files count as problems too."),
    ] = False,
    max_pixels: MaxPixelsOption = None,
    workers: Annotated[int | None, typer.Option(help="Threads (default: up to 8).")] = None,
) -> None:
    """Check image files: unreadable, truncated, EXIF-rotated, 16-bit, over-limit, duplicates."""
    from tilewise.fileio import atomic_write_json
    from tilewise.images import check_images

    report = check_images(
        images,
        read_options(max_pixels=max_pixels),
        decode=decode,
        strict=strict,
        workers=workers,
    )
    if json_out is not None and str(json_out) == "-":
        echo(json.dumps(report.to_dict(), indent=2))
    else:
        echo(report.table())
        if json_out is not None:
            atomic_write_json(json_out, report.to_dict())
            echo(f"wrote {json_out}")
    if not report.ok:
        raise typer.Exit(code=int(ExitCode.FAILURE))
