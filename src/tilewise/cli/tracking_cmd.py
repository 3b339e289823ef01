"""``tilewise eval-tracks GT PRED``: HOTA, IDF1, MOTA and ID switches of MOT track files.

A single command function, registered in ``tilewise.cli.app.COMMANDS``. The metrics are
``tilewise.tracking.evaluate_tracks`` (numpy only, equal to TrackEval's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tilewise.cli.console import echo

__all__ = ["eval_tracks"]


def eval_tracks(
    ground_truth: Annotated[
        Path, typer.Argument(help="Ground truth, MOTChallenge text (frame,id,x,y,w,h,...).")
    ],
    predictions: Annotated[Path, typer.Argument(help="Tracker output, MOTChallenge text.")],
    threshold: Annotated[
        float, typer.Option("--threshold", help="IoU of a match for MOTA and IDF1.")
    ] = 0.5,
    tiny: Annotated[
        bool,
        typer.Option("--tiny/--no-tiny", help="Add the tiny size buckets 2-8, 8-16, 16-32 px."),
    ] = True,
    area_range: Annotated[
        list[str] | None,
        typer.Option(
            "--area-range",
            help="Extra bucket 'name:min_px:max_px' (median object side; max may be inf). "
            "Repeatable.",
        ),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the results as JSON here.")
    ] = None,
) -> None:
    """Evaluate tracks: HOTA, IDF1, MOTA, ID switches, overall and per object-size bucket."""
    from tilewise.evaluation.buckets import build_area_ranges
    from tilewise.fileio import atomic_write_json
    from tilewise.tracking.metrics import evaluate_tracks
    from tilewise.tracking.mot import read_mot

    ranges = build_area_ranges(coco=False, tiny=tiny, custom=area_range or ())
    result = evaluate_tracks(
        read_mot(ground_truth), read_mot(predictions), area_ranges=ranges, threshold=threshold
    )
    echo(f"{result.frames} frame(s), match at IoU >= {result.threshold:g}")
    echo(result.table())
    if json_out is not None:
        atomic_write_json(json_out, result.to_dict())
        echo(f"wrote {json_out}")
