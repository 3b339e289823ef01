"""PyAV decoder and RGB-conversion settings on one video: frames/s, CPU, frame hashes.

Each setting decodes the whole file with ``av.open`` + ``decode`` (``stream.thread_type``
and ``codec_context.thread_count`` set as named) and converts every frame with
``to_ndarray(format="rgb24", **kwargs)``, or with tilewise's own conversion
(``tilewise.sources.video_rgb.RgbConverter``'s ``"opencv"``: the yuv420p planes through
``cv2.cvtColor``'s BT.601 kernel, ``VideoFileSource``'s default);
the SHA-256 of all RGB frames, from one more untimed pass per setting (hashing 4K frames
costs as much CPU as decoding them), says whether a setting changes pixels (every PyAV
setting gives the same frames; the OpenCV kernel differs by rounding). Settings are interleaved
round by round; OpenCV's ``VideoCapture`` (what ``supervision.get_video_frames_generator``
reads with) runs in the same rounds. ``CPU ms/frame`` is the process's CPU time over all
threads; ``page faults/frame`` the minor faults (fresh memory touched).

    python -m benchmarks.bench_video_decoders VIDEO [--repeat 3] [--settings 'A;B']

The bench video is the one ``python -m benchmarks.bench_video`` makes
(``$TMPDIR/tilewise-bench-video/synth_3840x2160_60.mp4``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import time
from pathlib import Path
from typing import Any

SETTINGS: dict[str, tuple[str | None, int | None, dict[str, Any] | None]] = {
    "PyAV default": (None, None, {}),
    "AUTO": ("AUTO", None, {}),
    "FRAME": ("FRAME", None, {}),
    "SLICE": ("SLICE", None, {}),
    "AUTO, thread_count 2": ("AUTO", 2, {}),
    "FRAME, thread_count 2": ("FRAME", 2, {}),
    "FRAME, thread_count 4": ("FRAME", 4, {}),
    "SLICE, thread_count 2": ("SLICE", 2, {}),
    "AUTO, rgb24 threads=2": ("AUTO", None, {"threads": 2}),
    "AUTO, rgb24 threads=0": ("AUTO", None, {"threads": 0}),
    "AUTO, rgb24 FAST_BILINEAR": ("AUTO", None, {"interpolation": "FAST_BILINEAR"}),
    "AUTO, rgb24 threads=1": ("AUTO", None, {"threads": 1}),
    "AUTO, tilewise opencv (yuv420p + cvtColor BT.601)": ("AUTO", None, "opencv"),
    "AUTO, decode only (no RGB)": ("AUTO", None, None),
}
"""name -> (thread_type, thread_count, conversion): ``to_ndarray(format="rgb24")`` kwargs,
a ``RgbConverter`` conversion name, or None (no conversion)."""

Setting = tuple[str | None, int | None, dict[str, Any] | str | None]


def decode(path: Path, setting: Setting, hashed: bool = False) -> dict:
    """Decode ``path`` once with one setting: frames, frames/s, CPU ms/frame[, hash].

    With ``hashed`` the RGB frames are hashed (SHA-256 costs ~25 ms of CPU per 4K frame
    here, as much as decoding: a hashed pass is never a timed one).
    """
    import av

    from tilewise.sources.video_rgb import RgbConverter

    thread_type, thread_count, convert = setting
    digest = hashlib.sha256()
    to_rgb: Any = None
    if isinstance(convert, str):
        to_rgb = RgbConverter(convert, {})  # type: ignore[arg-type]
    elif convert is not None:
        to_rgb = lambda frame: frame.to_ndarray(format="rgb24", **convert)  # noqa: E731
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    c0, t0, n = time.process_time(), time.perf_counter(), 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if thread_type is not None:
            stream.thread_type = thread_type
        if thread_count is not None:
            stream.codec_context.thread_count = thread_count
        for frame in container.decode(stream):
            if to_rgb is not None:
                rgb = to_rgb(frame)
                if hashed:
                    digest.update(rgb.tobytes())
            n += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    sha = digest.hexdigest()[:16] if hashed and convert is not None else "-"
    return {"frames": n, "fps": n / wall, "cpu_ms": 1000 * cpu / max(n, 1), "sha256": sha,
            "faults": faults / max(n, 1)}  # fmt: skip


def decode_opencv(path: Path) -> dict:
    """The same file through OpenCV (BGR frames, not hashed: other pixels)."""
    import cv2

    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    c0, t0, n = time.process_time(), time.perf_counter(), 0
    cap = cv2.VideoCapture(str(path))
    try:
        while cap.read()[0]:
            n += 1
    finally:
        cap.release()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {"frames": n, "fps": n / wall, "cpu_ms": 1000 * cpu / max(n, 1), "sha256": "-",
            "faults": faults / max(n, 1)}  # fmt: skip


def run(path: Path, repeat: int = 3, names: list[str] | None = None) -> dict[str, list[dict]]:
    """Every setting (or those ``names``) ``repeat`` times, interleaved round by round.

    Timed runs do not hash; each setting's frame hash comes from one more, untimed, pass
    (``"sha256"`` of every run is that pass's).
    """
    chosen = {name: SETTINGS[name] for name in (names or SETTINGS)}
    runs: dict[str, list[dict]] = {name: [] for name in [*chosen, "OpenCV VideoCapture"]}
    for _ in range(repeat):
        for name, setting in chosen.items():
            runs[name].append(decode(path, setting))
        runs["OpenCV VideoCapture"].append(decode_opencv(path))
    for name, setting in chosen.items():
        sha = decode(path, setting, hashed=True)["sha256"]
        for r in runs[name]:
            r["sha256"] = sha
    return runs


def render(runs: dict[str, list[dict]]) -> str:
    """Markdown table: best frames/s, every run, lowest CPU ms/frame, frame hashes."""
    lines = ["| setting | frames/s (best) | frames/s (runs) | CPU ms/frame (min) "
             "| CPU ms/frame (runs) | page faults/frame (min) | RGB sha256 |",
             "| --- | ---: | --- | ---: | --- | ---: | --- |"]  # fmt: skip
    for name, rs in runs.items():
        fps = ", ".join(f"{r['fps']:.1f}" for r in rs)
        cpu = ", ".join(f"{r['cpu_ms']:.1f}" for r in rs)
        hashes = ",".join(sorted({r["sha256"] for r in rs}))
        lines.append(f"| {name} | {max(r['fps'] for r in rs):.2f} | {fps} | "
                     f"{min(r['cpu_ms'] for r in rs):.1f} | {cpu} | "
                     f"{min(r['faults'] for r in rs):.0f} | {hashes} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, list[dict]]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_video_decoders")
    p.add_argument("video", type=Path)
    p.add_argument("--repeat", type=int, default=3, help="rounds (settings interleaved)")
    p.add_argument("--settings", help="setting names separated by ';' (default: all)")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.settings.split(";")] if args.settings else None
    for name in names or []:
        if name not in SETTINGS:
            p.error(f"unknown setting {name!r}; expected some of: {'; '.join(SETTINGS)}")
    print(f"load before {os.getloadavg()}", flush=True)
    runs = run(args.video, args.repeat, names)
    print(render(runs))
    print(f"load after {os.getloadavg()}")
    return runs


if __name__ == "__main__":
    main()
