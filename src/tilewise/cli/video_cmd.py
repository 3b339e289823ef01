"""``tilewise predict VIDEO``: sliced detection on videos, image sequences and streams.

``with_video(predict)`` adds the video options to the image ``predict`` command and sends
frame inputs (video files, folders and globs of images, stream URLs, camera numbers) to
``predict_video_cli``; other inputs go to the image command unchanged. ``predict_cmd``
applies it to its command (one line), so ``tilewise predict`` takes both.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from tilewise.cli.console import echo
from tilewise.cli.option_group import option_defaults, with_option_group
from tilewise.cli.slice_option import parse_slice, refuse_replaced
from tilewise.errors import TilewiseError

__all__ = ["VIDEO_DEFAULTS", "predict_video_cli", "restore_url", "with_video"]

_COLLAPSED_URL = re.compile(r"^(rtsps?|rtmp|https?|udp|tcp|srt):/(?!/)", re.IGNORECASE)


def restore_url(text: str) -> str:
    """Undo the ``//`` -> ``/`` that ``pathlib.Path`` makes of a stream URL.

    Example:
        >>> from pathlib import Path
        >>> restore_url(str(Path("rtsp://camera.local/live")))
        'rtsp://camera.local/live'
    """
    return _COLLAPSED_URL.sub(lambda m: m.group(0) + "/", text)


def _video_options(
    *,
    track: Annotated[
        bool, typer.Option("--track", help="Video: track objects (IDs in the outputs, MOT file).")
    ] = False,
    tracker_config: Annotated[
        Path | None,
        typer.Option(
            "--tracker-config",
            help="Video: track with these tracker settings (implies --track): a JSON of "
            'TrackerConfig fields, e.g. {"min_travel": 0.5} to give IDs only to objects '
            "that move, or the <stem>.report.json of an earlier tracked run.",
        ),
    ] = None,
    save_video: Annotated[
        bool,
        typer.Option(
            "--save-video/--no-save-video", help="Video: write the annotated DIR/<stem>.mp4."
        ),
    ] = True,
    trail: Annotated[
        int, typer.Option(help="Video: frames of trail drawn behind each track (0: none).")
    ] = 0,
    stride: Annotated[
        int, typer.Option(help="Video: process every N-th frame (the others are not converted).")
    ] = 1,
    start: Annotated[
        float | None,
        typer.Option(help="Video: start time in seconds (files seek to the keyframe before it)."),
    ] = None,
    end: Annotated[
        float | None, typer.Option(help="Video: end time in seconds (exclusive).")
    ] = None,
    max_frames: Annotated[
        int | None, typer.Option("--max-frames", help="Video: stop after this many frames.")
    ] = None,
    fps: Annotated[
        float | None, typer.Option(help="Image sequences: frame rate of their times (30).")
    ] = None,
    retries: Annotated[
        int, typer.Option(help="Streams: reconnect attempts in a row when a stream drops.")
    ] = 5,
) -> None:
    """The video options (their signature is merged into ``predict``'s)."""


VIDEO_DEFAULTS = option_defaults(_video_options)
"""The video options and their defaults."""

VIDEO_HELP = """

    Video (a video file, a folder or glob of images, a stream URL, a camera number):
    slices of consecutive frames share model batches; writes DIR/<stem>.jsonl (one line
    per frame), DIR/<stem>.mp4 annotated (--no-save-video to skip), with --track
    DIR/<stem>.mot.txt, DIR/<stem>.counts.csv and .png (detections per class over time)
    and DIR/<stem>.report.json. Ctrl-C finishes the files with the frames done.
    """


def with_video(image_predict: Callable[..., None]) -> Callable[..., None]:
    """``image_predict`` with the video options; frame inputs go to ``predict_video_cli``.

    Example:
        >>> import inspect
        >>> def predict(image: Path | None = None, out: Path = Path("o")) -> None:
        ...     print("image", image)
        >>> both = with_video(predict)
        >>> list(inspect.signature(both).parameters)[:4]
        ['image', 'out', 'track', 'tracker_config']
        >>> both(image=Path("a.jpg"), out=Path("o"), **VIDEO_DEFAULTS)
        image a.jpg
    """

    def route(kwargs: dict[str, Any], video: dict[str, Any]) -> bool:
        from tilewise.sources import is_frame_input

        image = kwargs.get("image")
        if image is None:
            return False
        target = restore_url(str(image))
        if not is_frame_input(target):
            return False
        kwargs.pop("image")
        if kwargs.get("config") is not None:
            refuse_replaced(kwargs)
        predict_video_cli(target, **kwargs, **video)
        return True

    return with_option_group(
        image_predict,
        _video_options,
        route=route,
        help_text=VIDEO_HELP,
        misuse=(
            "apply to video input (a video file, a folder or glob of images, a stream URL "
            "or a camera number)"
        ),
    )


def predict_video_cli(
    target: str,
    *,
    model: str | None = None,
    slice_size: str = "auto",
    overlap: float = 0.2,
    merge: str = "nms",
    merge_threshold: float = 0.5,
    merge_metric: str = "iou",
    class_agnostic: bool = False,
    full_frame: bool = False,
    out: Path = Path("tilewise-predict"),
    conf: float = 0.25,
    iou: float = 0.7,
    batch: int = 8,
    labels: bool = False,
    progress: bool = True,
    track: bool = False,
    tracker_config: Path | None = None,
    save_video: bool = True,
    trail: int = 0,
    stride: int = 1,
    start: float | None = None,
    end: float | None = None,
    max_frames: int | None = None,
    fps: float | None = None,
    retries: int = 5,
    exif: str = "follow",
    allow_truncated: bool = False,
    scale: str = "full",
    value_range: str | None = None,
    background: str = "0,0,0",
    max_pixels: str | None = None,
    zoom: float = 1.0,
    config: Path | None = None,
    **ignored: Any,
) -> None:
    """Sliced detection on every frame of ``target``; writes ``out/<stem>.*``.

    Exits with status 130 after finishing the files when interrupted (Ctrl-C).
    """
    from tilewise.cli.image_options import read_options, warnings_to_console
    from tilewise.cli.merge_options import merge_settings
    from tilewise.cli.model_option import describe_model, load_model
    from tilewise.slicing import Slicer
    from tilewise.sources import FrameSelection, open_frames
    from tilewise.tracking import TrackerConfig
    from tilewise.video import run_video

    unsupported = [f"--{k.rstrip('_')}" for k, v in ignored.items() if v not in (None, 0.0, "auto")]
    if unsupported:
        raise TilewiseError(f"{', '.join(unsupported)} do not apply to video input")
    size = parse_slice(slice_size)
    merging = merge_settings(merge, merge_threshold, merge_metric, class_agnostic)
    tracker: bool | TrackerConfig = track
    if tracker_config is not None:  # read before the video is opened: a bad file fails first
        tracker = TrackerConfig.from_file(tracker_config)
    read = read_options(exif, allow_truncated, scale, value_range, background, max_pixels)
    selection = FrameSelection(stride=stride, start=start, end=end, max_frames=max_frames)
    source = open_frames(target, selection, fps=fps, read=read, retries=retries)
    if model is None:
        from tilewise.models import default_detector

        detector = default_detector(conf=conf, iou=iou)
    else:
        detector = load_model(model, conf=conf, iou=iou)
    slice_wh = (size, size) if size else tuple(getattr(detector, "slice_wh", (640, 640)))
    if config is not None:
        slicer = Slicer.from_config(detector, config, batch_size=batch)
    else:
        slicer = Slicer(
            detector, slice_wh=slice_wh, overlap=overlap, batch_size=batch,
            full_frame=full_frame, zoom=zoom, **merging,
        )  # fmt: skip
    stem = _stem(target)
    with warnings_to_console():
        result = run_video(
            source,
            slicer,
            out,
            stem=stem,
            class_names=list(getattr(detector, "names", ()) or ()),
            tracker=tracker,
            save_video=save_video,
            trail=trail,
            labels=labels,
            progress=progress,
            extra={"model": describe_model(detector, model), "conf": conf},
        )
    rep = result.report
    frames = rep["source"].get("frames", {})
    lost = frames.get("lost_frames")
    echo(
        f"{rep['frames_processed']} frame(s) processed at {rep['frames_per_second']:.2f} frames/s; "
        f"{rep['detections']} detection(s)"
        + (f", {rep['tracks']} track(s)" if rep["tracks"] is not None else "")
    )
    dropped = frames.get("dropped") or {}
    if dropped or frames.get("damaged") or frames.get("reconnects"):
        echo(
            f"frames dropped: {dropped or 0}; reconnects: {frames.get('reconnects', 0)}"
            + (f"; damaged: {frames['damaged']}" if frames.get("damaged") else "")
            + (f"; {lost} frame(s) lost" if lost else "")
        )
    if frames.get("seek_fallback"):
        echo(f"--start: decoded from the beginning, no exact seek ({frames['seek_fallback']})")
    if frames.get("rgb_fallback"):
        pyav = (frames.get("rgb") or {}).get("pyav", 0)
        echo(f"RGB conversion: PyAV's for {pyav} frame(s), not OpenCV's ({frames['rgb_fallback']})")
    echo("wrote " + ", ".join(str(p) for p in result.outputs.values()))
    if result.interrupted:
        echo("interrupted: the files hold the frames processed before Ctrl-C")
        raise typer.Exit(130)


def _stem(target: str) -> str:
    """The output file stem of a frame input.

    Example:
        >>> _stem("clips/a.mp4"), _stem("0"), _stem("rtsp://cam.local/live"), _stem("seq/*.png")
        ('a', 'camera0', 'live', 'seq')
    """
    if target.isdigit():
        return f"camera{target}"
    text = target.rstrip("/")
    if "*" in text or "?" in text or "[" in text:
        text = text.split("*")[0].split("?")[0].split("[")[0].rstrip("/") or "frames"
        return Path(text).name or "frames"
    name = Path(text.split("://", 1)[-1]).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "video"
