"""``tilewise dataset synth-video OUT``: a synthetic tiny-mover video with MOT ground truth.

A single command function, registered under the ``dataset`` group. Writes the sequence in
the MOTChallenge layout (``img1/``, ``gt/gt.txt``, ``seqinfo.ini``), optionally simulated
detections (``det/det.txt``) and an MP4 (PyAV). Needs the ``synth`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tilewise.cli.console import echo

__all__ = ["synth_video"]


def _parse_wh(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> (1280, 720).

    Example:
        >>> _parse_wh("1280x720")
        (1280, 720)
    """
    from tilewise.errors import TilewiseError

    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise TilewiseError(f"--size must be like 1280x720, got {text!r}") from None
    return w, h


def synth_video(
    out: Annotated[Path, typer.Argument(help="Sequence directory to create (must be empty).")],
    frames: Annotated[int, typer.Option("--frames", "-n", help="Number of frames.")] = 150,
    size: Annotated[str, typer.Option("--size", help="Frame size WxH in pixels.")] = "1280x720",
    movers: Annotated[int, typer.Option("--movers", help="Objects over the video.")] = 40,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same video).")] = 0,
    fps: Annotated[float, typer.Option(help="Frame rate.")] = 30.0,
    detections: Annotated[
        bool,
        typer.Option(
            "--detections/--no-detections",
            help="Also write simulated detector output to det/det.txt.",
        ),
    ] = True,
    mp4: Annotated[
        bool, typer.Option("--mp4", help="Also write video.mp4 (H.264 through PyAV).")
    ] = False,
) -> None:
    """Render a seeded video of tiny movers (6-12 px) on real textures, with MOT ground truth."""
    from tilewise.synth.video import VideoConfig, simulate_detections, synth_video
    from tilewise.tracking.mot import frames_to_table, write_mot, write_mot_sequence

    wh = _parse_wh(size)
    video = synth_video(VideoConfig(frame_size=wh, frames=frames, movers=movers, fps=fps), seed)
    root = write_mot_sequence(out, video.frames(), video.ground_truth, fps=fps)
    gt = video.ground_truth
    echo(
        f"wrote {len(video)} frame(s) of {video.config.wh[0]}x{video.config.wh[1]} px to "
        f"{root / 'img1'}; {len(set(gt.data['tracker_id'].tolist()))} objects, "
        f"{len(gt)} boxes in {root / 'gt' / 'gt.txt'}"
    )
    if detections:
        dets = frames_to_table(simulate_detections(video, seed=seed), unassigned=True)
        path = write_mot(root / "det" / "det.txt", dets, unassigned=True)
        echo(f"wrote {len(dets)} simulated detections to {path}")
    if mp4:
        from tilewise.video import write_video

        write_video(root / "video.mp4", video.frames(), fps)
        echo(f"wrote {root / 'video.mp4'}")
