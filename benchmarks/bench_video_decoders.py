"""PyAV decoder and RGB-conversion settings on one video: frames/s, CPU, frame hashes.

Each setting decodes the whole file with ``av.open`` + ``decode`` (``stream.thread_type``
and ``codec_context.thread_count`` set as named) and converts every frame with
``to_ndarray(format="rgb24", **kwargs)``; the SHA-256 of all RGB frames says whether a
setting changes pixels. Settings are interleaved round by round; OpenCV's ``VideoCapture``
(what ``supervision.get_video_frames_generator`` reads with) runs in the same rounds.

    python -m benchmarks.bench_video_decoders VIDEO [--repeat 3]

The bench video is the one ``python -m benchmarks.bench_video`` makes
(``$TMPDIR/tilewise-bench-video/synth_3840x2160_60.mp4``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
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
    "AUTO, decode only (no RGB)": ("AUTO", None, None),
}
"""name -> (thread_type, thread_count, to_ndarray kwargs; None: no conversion)."""


def decode(path: Path, setting: tuple[str | None, int | None, dict[str, Any] | None]) -> dict:
    """Decode ``path`` once with one setting: frames, frames/s, CPU ms/frame, hash."""
    import av

    thread_type, thread_count, convert = setting
    digest = hashlib.sha256()
    c0, t0, n = time.process_time(), time.perf_counter(), 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if thread_type is not None:
            stream.thread_type = thread_type
        if thread_count is not None:
            stream.codec_context.thread_count = thread_count
        for frame in container.decode(stream):
            if convert is not None:
                digest.update(frame.to_ndarray(format="rgb24", **convert).tobytes())
            n += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    sha = digest.hexdigest()[:16] if convert is not None else "-"
    return {"frames": n, "fps": n / wall, "cpu_ms": 1000 * cpu / max(n, 1), "sha256": sha}


def decode_opencv(path: Path) -> dict:
    """The same file through OpenCV (BGR frames, not hashed: other pixels)."""
    import cv2

    c0, t0, n = time.process_time(), time.perf_counter(), 0
    cap = cv2.VideoCapture(str(path))
    try:
        while cap.read()[0]:
            n += 1
    finally:
        cap.release()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"frames": n, "fps": n / wall, "cpu_ms": 1000 * cpu / max(n, 1), "sha256": "-"}


def run(path: Path, repeat: int = 3) -> dict[str, list[dict]]:
    """Every setting ``repeat`` times, interleaved round by round."""
    runs: dict[str, list[dict]] = {name: [] for name in [*SETTINGS, "OpenCV VideoCapture"]}
    for _ in range(repeat):
        for name, setting in SETTINGS.items():
            runs[name].append(decode(path, setting))
        runs["OpenCV VideoCapture"].append(decode_opencv(path))
    return runs


def render(runs: dict[str, list[dict]]) -> str:
    """Markdown table: best frames/s, every run, lowest CPU ms/frame, frame hashes."""
    lines = ["| setting | frames/s (best) | frames/s (runs) | CPU ms/frame (min) | RGB sha256 |",
             "| --- | ---: | --- | ---: | --- |"]  # fmt: skip
    for name, rs in runs.items():
        fps = ", ".join(f"{r['fps']:.1f}" for r in rs)
        hashes = ",".join(sorted({r["sha256"] for r in rs}))
        lines.append(f"| {name} | {max(r['fps'] for r in rs):.2f} | {fps} | "
                     f"{min(r['cpu_ms'] for r in rs):.0f} | {hashes} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, list[dict]]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_video_decoders")
    p.add_argument("video", type=Path)
    p.add_argument("--repeat", type=int, default=3, help="rounds (settings interleaved)")
    args = p.parse_args(argv)
    print(f"load before {os.getloadavg()}", flush=True)
    runs = run(args.video, args.repeat)
    print(render(runs))
    print(f"load after {os.getloadavg()}")
    return runs


if __name__ == "__main__":
    main()
