"""Video throughput and memory: ``Slicer.stream`` over a PyAV source vs supervision 0.31.

The peer is what supervision users write by hand: ``sv.InferenceSlicer`` over
``sv.get_video_frames_generator`` (OpenCV decoding), frame by frame. tilewise reads the
same file through ``VideoFileSource`` (PyAV, decoding on its own thread) and
``Slicer.stream`` (slices of consecutive frames share model batches). Both call the same
detector callback on the same 640 px slices with 128 px overlap: a fixed amount of work per
slice (a 4x INTER_AREA downscale, a threshold and connected components), standing in for a
model so the measure is the pipeline's. No video is written in the throughput rows; the
cost of writing (annotated H.264 MP4, JSON Lines, counts, on the writer thread) is a
separate row (``run_video``). The video is a seeded 4K synthetic tiny-mover video
(``tilewise.synth.video``) encoded to H.264 by PyAV.

Memory: peak RSS (VmHWM) of a fresh process running ``Slicer.stream`` (256 px slices, 6 per
frame) over the first 300 and 3000 frames of a 640x360 video: flat means the same peak.

Issue 12 targets: frames/s at least 1.5x the peer's; memory flat (300 vs 3000 frames).

Run: ``python -m benchmarks.bench_video`` (``--quick`` for a smoke run, ``--frames N``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

TARGET_SPEEDUP = 1.5
SLICE = 640
OVERLAP_PX = 128


def _boxes(image: np.ndarray) -> np.ndarray:
    """The stand-in detector's work on one slice: downscale, threshold, components."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    mask = (small.max(axis=2) > 230).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    st = stats[1:n].astype(np.float32) * 4
    return np.stack([st[:, 0], st[:, 1], st[:, 0] + st[:, 2], st[:, 1] + st[:, 3]], axis=1)


def tilewise_model(images: list[np.ndarray]) -> list[Any]:
    """Batch callback for tilewise."""
    from tilewise import Detections

    out = []
    for im in images:
        xyxy = _boxes(im)
        out.append(Detections(xyxy, np.full(len(xyxy), 0.9, np.float32)))
    return out


def sv_callback(image: np.ndarray) -> Any:
    """The same work, as a supervision per-slice callback."""
    import supervision as sv

    xyxy = _boxes(image)
    return sv.Detections(
        xyxy=xyxy.reshape(-1, 4),
        confidence=np.full(len(xyxy), 0.9, np.float32),
        class_id=np.zeros(len(xyxy), int),
    )


def make_video(path: Path, wh: tuple[int, int], frames: int, seed: int = 7) -> Path:
    """A seeded synthetic tiny-mover video, H.264 through PyAV."""
    from tilewise.synth.video import VideoConfig, synth_video
    from tilewise.video import write_video

    if path.is_file():
        return path
    cfg = VideoConfig(frame_size=wh, frames=frames, movers=120, fps=30.0, noise_std=2.0)
    return write_video(path, synth_video(cfg, seed=seed).frames(), 30.0)


def run_tilewise(path: Path, batch: int, workers: int) -> dict[str, Any]:
    from tilewise import Slicer
    from tilewise.sources import VideoFileSource

    slicer = Slicer(
        tilewise_model, slice_wh=SLICE, overlap=OVERLAP_PX, batch_size=batch, workers=workers
    )
    t0 = time.perf_counter()
    n = dets = 0
    for _, _, det in slicer.stream(VideoFileSource(path)):
        n += 1
        dets += len(det)
    seconds = time.perf_counter() - t0
    slices = slicer.last_report.slices if slicer.last_report else 0
    return {"frames": n, "seconds": seconds, "fps": n / seconds, "detections": dets,
            "slices_per_frame": slices}  # fmt: skip


def run_supervision(path: Path, workers: int) -> dict[str, Any]:
    import supervision as sv

    slicer = sv.InferenceSlicer(
        callback=sv_callback, slice_wh=SLICE, overlap_wh=OVERLAP_PX, thread_workers=workers
    )
    t0 = time.perf_counter()
    n = dets = 0
    for frame in sv.get_video_frames_generator(str(path)):
        dets += len(slicer(frame))
        n += 1
    seconds = time.perf_counter() - t0
    return {"frames": n, "seconds": seconds, "fps": n / seconds, "detections": dets}


def run_writing(path: Path, out: Path, batch: int) -> dict[str, Any]:
    from tilewise import Slicer
    from tilewise.sources import VideoFileSource
    from tilewise.video import run_video

    res: dict[str, Any] = {}
    for save in (False, True):
        slicer = Slicer(tilewise_model, slice_wh=SLICE, overlap=OVERLAP_PX, batch_size=batch)
        t0 = time.perf_counter()
        result = run_video(VideoFileSource(path), slicer, out, stem=f"w{int(save)}",
                           tracker=True, save_video=save, plot=False)  # fmt: skip
        seconds = time.perf_counter() - t0
        n = result.report["frames_processed"]
        res["with_video" if save else "files_only"] = {
            "frames": n, "seconds": seconds, "fps": n / seconds,
            "encoder_thread_seconds": result.report["seconds"]["video_encoding"],
        }  # fmt: skip
    return res


_MEMORY_CODE = """
import sys, json
from pathlib import Path
from benchmarks.bench_video import tilewise_model
from tilewise import Slicer
from tilewise.sources import VideoFileSource, FrameSelection
src = VideoFileSource(sys.argv[1], FrameSelection(max_frames=int(sys.argv[2])))
slicer = Slicer(tilewise_model, slice_wh=256, overlap=32, batch_size=8)
n = sum(1 for _ in slicer.stream(src))
# VmHWM: this process's peak RSS (ru_maxrss would carry the parent's peak over fork+exec)
hwm = [l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM")]
print(json.dumps({"frames": n, "peak_rss_mb": int(hwm[0].split()[1]) / 1024}))
"""


def run_memory(path: Path, counts: tuple[int, ...]) -> list[dict[str, Any]]:
    rows = []
    for n in counts:
        proc = subprocess.run(
            [sys.executable, "-c", _MEMORY_CODE, str(path), str(n)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_video")
    p.add_argument("--quick", action="store_true", help="a tiny run (smoke test)")
    p.add_argument("--frames", type=int, default=60, help="4K frames for throughput")
    p.add_argument("--memory-frames", default="300,3000", help="frame counts of the memory rows")
    p.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "tilewise-bench-video"
    )
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)
    cache = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    if args.quick:
        wh, frames, mem = (1280, 720), 4, (4, 8)
    else:
        wh, frames = (3840, 2160), args.frames
        mem = tuple(int(v) for v in args.memory_frames.split(","))
    t0 = time.perf_counter()
    video = make_video(cache / f"synth_{wh[0]}x{wh[1]}_{frames}.mp4", wh, frames)
    small = make_video(cache / f"synth_640x360_{max(mem)}.mp4", (640, 360), max(mem))
    print(f"videos ready in {time.perf_counter() - t0:.0f} s: {video}, {small}", flush=True)
    rows: dict[str, Any] = {"video": str(video), "frame_wh": list(wh), "frames": frames}
    rows["supervision"] = {f"workers={w}": run_supervision(video, w) for w in (1, 2)}
    rows["tilewise"] = {f"batch=8 workers={w}": run_tilewise(video, 8, w) for w in (1, 2)}
    rows["writing"] = run_writing(video, cache / "out", 8)
    rows["memory"] = run_memory(small, mem)
    best_sv = max(r["fps"] for r in rows["supervision"].values())
    best_tw = max(r["fps"] for r in rows["tilewise"].values())
    rows["speedup"] = best_tw / best_sv
    rows["target_met"] = rows["speedup"] >= TARGET_SPEEDUP
    print(render(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


def render(rows: dict[str, Any]) -> str:
    """Markdown tables of a run."""
    w, h = rows["frame_wh"]
    lines = [
        f"Throughput, {rows['frames']} frames of {w}x{h} H.264, {SLICE} px slices, "
        f"{OVERLAP_PX} px overlap, no video written:",
        "",
        "| pipeline | setting | frames/s | seconds | detections |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    labels = {
        "supervision": "supervision 0.31 InferenceSlicer + get_video_frames_generator",
        "tilewise": "tilewise VideoFileSource + Slicer.stream",
    }
    for name, label in labels.items():
        for setting, r in rows[name].items():
            lines.append(
                f"| {label} | {setting} | {r['fps']:.2f} | {r['seconds']:.1f} | {r['detections']} |"
            )
    lines += [
        "",
        f"Speed-up, best tilewise / best supervision: **{rows['speedup']:.2f}x** "
        f"(target {TARGET_SPEEDUP}x: {'met' if rows['target_met'] else 'NOT met'}).",
        "",
        "Writing cost (run_video with tracking, batch 8, workers 1):",
        "",
        "| outputs | frames/s | seconds | encoder-thread seconds |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in (("files_only", "JSONL + MOT + counts CSV"),
                       ("with_video", "the same + annotated H.264 MP4")):  # fmt: skip
        r = rows["writing"][key]
        enc = r["encoder_thread_seconds"]
        enc_text = "-" if enc is None else f"{enc:.1f}"
        lines.append(f"| {label} | {r['fps']:.2f} | {r['seconds']:.1f} | {enc_text} |")
    lines += ["", "Memory (fresh process, 640x360 video, 256 px slices, Slicer.stream):", "",
              "| frames | peak RSS (MB) |", "| ---: | ---: |"]  # fmt: skip
    for r in rows["memory"]:
        lines.append(f"| {r['frames']} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
