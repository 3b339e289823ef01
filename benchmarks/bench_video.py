"""Video throughput and memory: ``Slicer.stream`` over a PyAV source vs supervision 0.31.

The peer is what supervision users write by hand: ``sv.InferenceSlicer`` over
``sv.get_video_frames_generator`` (OpenCV decoding), frame by frame. tilewise reads the
same file through ``VideoFileSource`` (PyAV, decoding on its own thread) and
``Slicer.stream`` (slices of consecutive frames share model batches). Both cut the same
640 px slices with 128 px overlap (32 per 4K frame) and give the same detector callback the
same slices; supervision calls it once per slice (its callback takes one image), tilewise
once per batch. No video is written in the throughput rows; the cost of writing (annotated
H.264 MP4, JSON Lines, counts, on the writer thread) is a separate row (``run_video``). The
video is a seeded 4K synthetic tiny-mover video (``tilewise.synth.video``) encoded to H.264
by PyAV.

Five callbacks, each a row group (``--callbacks``; ``cuda`` only where asked):

* ``cpu``: a fixed amount of CPU work per slice (4x INTER_AREA downscale, threshold,
  connected components), standing in for a CPU model: the callback dominates and both
  pipelines run it on the same cores.
* ``gpu``: a simulated accelerator (``Detector("gpu")``): each call stacks its slices into one
  contiguous batch array (the host-side staging a GPU wrapper does before the upload), then
  holds a device lock while it sleeps ``GPU_CALL_MS + GPU_IMAGE_MS * len(images)``, then
  finds the blobs of bright green on a 4x subsample of each slice (cheap host
  post-processing, about 0.5 ms per slice). The sleep
  releases the GIL as a CUDA call does; the lock makes it one device (calls from several
  threads queue, they do not run on two GPUs at once). The constants are not tuned here:
  they are the straight line through YOLOv5s' published V100 latencies at 640 px
  (ultralytics/yolov5 README, v7.0 checkpoints table: 6.4 ms per image at batch 1, 0.9 ms
  per image at batch 32, i.e. 28.8 ms per 32-image call): ``t(B) = 5.7 + 0.72 * B`` ms.
* ``cheap``: the same blob finding without the simulated device: the callback costs almost
  nothing, so decoding, slicing, merging and per-frame overhead are what is measured.
* ``onnx``: a real CPU model, tilewise's bundled ONNX detector (``default_detector``,
  ONNX Runtime with its default intra-op threads, no spinning; each 640 px slice is
  letterboxed to the model's 320 px input), ~15 ms of CPU per slice: about 0.5 s of CPU
  per 4K frame, so run it on a short video (``--frames 12 --callbacks onnx``). The
  supervision callback flips its BGR slice to RGB first, as a supervision user must.
  ``--onnx-threads N`` sets ORT's intra-op threads for both libraries.
* ``cuda``: a real GPU model (``cuda_detector``): the bundled detector's architecture with
  random weights, in torch on a CUDA device, called as ``onnx`` is. What ``gpu``
  simulates, measured; only on a GPU machine (``scripts/device_check.sh``).

Each throughput row runs ``--repeat`` times (default 3), rows interleaved round by round,
and keeps its fastest run (all runs are listed): on a shared machine the fastest run is
the least disturbed. ``CPU ms/frame`` is the process's CPU time (all threads) per frame,
which other load disturbs less than wall time (it leaves out the simulated device's sleep).

Memory: peak RSS (VmHWM) of a fresh process running ``Slicer.stream`` (256 px slices, 6 per
frame) over the first 300 and 3000 frames of a 640x360 video: flat means the same peak.

Issue 12 targets: frames/s at least 1.5x the peer's; memory flat (300 vs 3000 frames).

Run: ``python -m benchmarks.bench_video`` (``--quick`` for a smoke run, ``--frames N``,
``--repeat N``, ``--callbacks gpu,cheap``, ``--no-writing``, ``--no-memory``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

TARGET_SPEEDUP = 1.5
SLICE = 640
OVERLAP_PX = 128
GPU_CALL_MS = 5.7
"""Simulated accelerator: fixed cost of a call (ms); see the module docstring."""
GPU_IMAGE_MS = 0.72
"""Simulated accelerator: cost per 640 px image (ms); see the module docstring."""
CALLBACKS = ("cpu", "gpu", "cheap", "onnx", "cuda")
DEFAULT_CALLBACKS = ("cpu", "gpu", "cheap", "onnx")
"""The row groups of a run without ``--callbacks``: all but ``cuda`` (it needs a GPU)."""
ONNX_THREADS: int | None = None
"""ONNX Runtime intra-op threads of the ``onnx`` callback, both libraries (None: ORT's
default, one per core); ``--onnx-threads``."""


def _boxes(image: np.ndarray) -> np.ndarray:
    """The CPU stand-in detector's work on one slice: downscale, threshold, components."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    mask = (small.max(axis=2) > 230).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    st = stats[1:n].astype(np.float32) * 4
    return np.stack([st[:, 0], st[:, 1], st[:, 0] + st[:, 2], st[:, 1] + st[:, 3]], axis=1)


def _light_boxes(image: np.ndarray) -> np.ndarray:
    """Cheap host-side detection: blobs of bright green on a 4x subsample (no resampling).

    About 0.5 ms per 640 px slice (one channel, no reduction over a strided view). Green
    is the middle channel of RGB (tilewise's frames) and BGR (OpenCV's), so both
    pipelines' frames give the same boxes.
    """
    mask = (image[::4, ::4, 1] > 230).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    st = stats[1:n].astype(np.float32) * 4
    return np.stack([st[:, 0], st[:, 1], st[:, 0] + st[:, 2], st[:, 1] + st[:, 3]], axis=1)


class Detector:
    """A callback's work on a list of slices, counting calls and slices.

    ``cpu`` and ``cheap`` run ``_boxes`` / ``_light_boxes`` on each slice. ``gpu`` is one
    simulated accelerator: per call it stages the batch (one contiguous ``(B, H, W, 3)``
    array), holds the device lock while it sleeps ``call_ms + image_ms * B`` (one device:
    calls from several threads queue; ``time.sleep`` releases the GIL as a CUDA call
    does), then finds blobs as ``cheap`` does (host post-processing).
    """

    def __init__(
        self,
        kind: str,
        call_ms: float = GPU_CALL_MS,
        image_ms: float = GPU_IMAGE_MS,
        bgr: bool = False,
    ) -> None:
        if kind not in CALLBACKS:
            raise ValueError(f"unknown callback {kind!r}; expected one of {CALLBACKS}")
        self.kind = kind
        self.bgr = bgr  # onnx: the slices are BGR (supervision's frames), flip them first
        self.model: Any = None
        if kind == "onnx":
            from tilewise.models.bundled import default_detector

            self.model = default_detector(conf=0.25, threads=ONNX_THREADS)
        if kind == "cuda":
            self.model = cuda_detector()
        self.call_ms = call_ms
        self.image_ms = image_ms
        self.device = threading.Lock()
        self._count = threading.Lock()
        self.calls = 0
        self.images = 0

    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        with self._count:
            self.calls += 1
            self.images += len(images)
        if self.kind == "cpu":
            return [_boxes(im) for im in images]
        if self.kind in ("onnx", "cuda"):
            rgb = [im[..., ::-1] for im in images] if self.bgr else images
            return [det.xyxy for det in self.model(rgb)]
        if self.kind == "gpu":
            staged = np.stack(images)
            with self.device:
                time.sleep((self.call_ms + self.image_ms * len(images)) / 1000.0)
            return [_light_boxes(im) for im in staged]
        return [_light_boxes(im) for im in images]


def cuda_detector() -> Any:
    """The ``cuda`` callback's model: the bundled detector's architecture on a real GPU.

    ``TileDetector`` (``tilewise.training``, the architecture the bundled ONNX model was
    trained as) with seeded random weights, through ``TorchModuleDetector`` on ``cuda`` at
    the bundled model's 320 px input: host letterboxing, the copy to the device, the
    network, decoding. Its confidence cut is 0.99, so that random weights give (almost)
    no boxes and the cost is the model's, not a flood of boxes. Needs torch with CUDA
    (a GPU machine: ``scripts/device_check.sh``).
    """
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("the cuda callback needs torch with a CUDA device")
    from tilewise.models import TorchModuleDetector
    from tilewise.training import DetectorConfig, TileDetector

    torch.manual_seed(0)
    module = TileDetector(DetectorConfig(num_classes=2))
    return TorchModuleDetector(module, 320, names=["a", "b"], conf=0.99, device="cuda")


def tilewise_model(images: list[np.ndarray], detect: Callable[..., Any] | None = None) -> list:
    """Batch callback for tilewise (the CPU stand-in unless ``detect`` is given)."""
    from tilewise import Detections

    boxes = [_boxes(im) for im in images] if detect is None else detect(images)
    return [Detections(xyxy, np.full(len(xyxy), 0.9, np.float32)) for xyxy in boxes]


def sv_callback(image: np.ndarray, detect: Callable[..., Any] | None = None) -> Any:
    """The same work, as a supervision per-slice callback."""
    import supervision as sv

    xyxy = _boxes(image) if detect is None else detect([image])[0]
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


def _calls(detect: Detector) -> dict[str, Any]:
    return {"model_calls": detect.calls, "slices_per_call": detect.images / max(detect.calls, 1)}


def run_tilewise(
    path: Path, batch: int, workers: int, callback: str = "cpu", rgb: str = "opencv"
) -> dict[str, Any]:
    from tilewise import Slicer
    from tilewise.sources import VideoFileSource

    detect = Detector(callback)
    slicer = Slicer(
        lambda images: tilewise_model(images, detect),
        slice_wh=SLICE, overlap=OVERLAP_PX, batch_size=batch, workers=workers,
    )  # fmt: skip
    t0, c0 = time.perf_counter(), time.process_time()
    n = dets = 0
    for _, _, det in slicer.stream(VideoFileSource(path, rgb=rgb)):  # type: ignore[arg-type]
        n += 1
        dets += len(det)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    slices = slicer.last_report.slices if slicer.last_report else 0
    return {"frames": n, "seconds": seconds, "fps": n / seconds, "detections": dets,
            "cpu_ms_per_frame": 1000 * cpu / max(n, 1), "slices_per_frame": slices,
            **_calls(detect)}  # fmt: skip


def run_supervision(path: Path, workers: int, callback: str = "cpu") -> dict[str, Any]:
    import supervision as sv

    detect = Detector(callback, bgr=True)
    slicer = sv.InferenceSlicer(
        callback=lambda image: sv_callback(image, detect),
        slice_wh=SLICE, overlap_wh=OVERLAP_PX, thread_workers=workers,
    )  # fmt: skip
    t0, c0 = time.perf_counter(), time.process_time()
    n = dets = 0
    for frame in sv.get_video_frames_generator(str(path)):
        dets += len(slicer(frame))
        n += 1
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"frames": n, "seconds": seconds, "fps": n / seconds, "detections": dets,
            "cpu_ms_per_frame": 1000 * cpu / max(n, 1), **_calls(detect)}  # fmt: skip


TILEWISE_SETTINGS: dict[str, list[tuple[int, int, str]]] = {
    "cpu": [(8, 1, "opencv"), (8, 2, "opencv"), (8, 2, "pyav")],
    "gpu": [(8, 1, "opencv"), (32, 1, "opencv"), (32, 2, "opencv")],
    "cheap": [(8, 1, "opencv"), (32, 1, "opencv"), (32, 1, "pyav")],
    "onnx": [(8, 1, "opencv"), (8, 2, "opencv"), (8, 1, "pyav")],
    "cuda": [(8, 1, "opencv"), (32, 1, "opencv"), (32, 2, "opencv")],
}
"""(batch, workers, RGB conversion) rows of tilewise per callback; supervision runs
thread_workers 1 and 2. ``"opencv"`` is ``VideoFileSource``'s default conversion;
``"pyav"`` rows are its PyAV conversion (the source before 2026-12-06 14:00), beside."""


def tilewise_label(batch: int, workers: int, rgb: str) -> str:
    """A tilewise row's setting label (the default conversion is not named)."""
    return f"batch={batch} workers={workers}" + ("" if rgb == "opencv" else f" rgb={rgb}")


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of repeated runs (the least disturbed by other load), with the spread."""
    best = dict(max(runs, key=lambda r: r["fps"]))
    best["fps_all"] = [round(r["fps"], 3) for r in runs]
    return best


def run_throughput(path: Path, callback: str, repeat: int = 1) -> dict[str, Any]:
    """One callback's rows: supervision at 1 and 2 threads, tilewise at its settings.

    Every row runs ``repeat`` times, the rows interleaved round by round (so a change of
    load on a shared machine falls on both libraries alike); the fastest run is kept.
    """
    cases: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {}
    for w in (1, 2):
        cases["supervision", f"workers={w}"] = partial(run_supervision, path, w, callback)
    for b, w, rgb in TILEWISE_SETTINGS[callback]:
        run = partial(run_tilewise, path, b, w, callback, rgb)
        cases["tilewise", tilewise_label(b, w, rgb)] = run
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in cases}
    for _ in range(repeat):
        for key, case in cases.items():
            runs[key].append(case())
    rows: dict[str, Any] = {"supervision": {}, "tilewise": {}, "repeat": repeat}
    for (library, setting), done in runs.items():
        rows[library][setting] = _best(done)
    best_sv = max(r["fps"] for r in rows["supervision"].values())
    # the target is the default conversion's; the PyAV-conversion rows are the before
    best_tw = max(r["fps"] for k, r in rows["tilewise"].items() if "rgb=" not in k)
    rows["speedup"] = best_tw / best_sv
    rows["target_met"] = rows["speedup"] >= TARGET_SPEEDUP
    before = [r["fps"] for k, r in rows["tilewise"].items() if "rgb=pyav" in k]
    rows["speedup_rgb_pyav"] = max(before) / best_sv if before else None
    return rows


def run_decode(path: Path) -> dict[str, Any]:
    """Decoding alone (no slicing, no callback): the floor of both pipelines."""
    import supervision as sv

    from tilewise.sources import VideoFileSource

    out = {}
    for name, frames in (("tilewise VideoFileSource (PyAV; OpenCV BT.601 RGB, the default)",
                          lambda: VideoFileSource(path)),
                         ("tilewise VideoFileSource (PyAV; rgb=pyav)",
                          lambda: VideoFileSource(path, rgb="pyav")),
                         ("supervision get_video_frames_generator (OpenCV)",
                          lambda: sv.get_video_frames_generator(str(path)))):  # fmt: skip
        t0, c0 = time.perf_counter(), time.process_time()
        n = sum(1 for _ in frames())
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        out[name] = {"frames": n, "seconds": seconds, "fps": n / seconds,
                     "cpu_ms_per_frame": 1000 * cpu / max(n, 1)}  # fmt: skip
    return out


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


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:  # pragma: no cover - not Linux
        return "?"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_video")
    p.add_argument("--quick", action="store_true", help="a tiny run (smoke test)")
    p.add_argument("--frames", type=int, default=60, help="4K frames for throughput")
    p.add_argument(
        "--callbacks", default=",".join(DEFAULT_CALLBACKS), help="row groups (cuda: on a GPU)"
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per row (fastest kept)")
    p.add_argument("--memory-frames", default="300,3000", help="frame counts of the memory rows")
    p.add_argument("--onnx-threads", type=int, help="ORT intra-op threads (onnx callback)")
    p.add_argument("--no-writing", action="store_true", help="skip the writing-cost rows")
    p.add_argument("--no-memory", action="store_true", help="skip the memory rows")
    p.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "tilewise-bench-video"
    )
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)
    global ONNX_THREADS
    ONNX_THREADS = args.onnx_threads
    callbacks = [c.strip() for c in args.callbacks.split(",") if c.strip()]
    for c in callbacks:
        if c not in CALLBACKS:
            p.error(f"unknown callback {c!r}; expected some of {','.join(CALLBACKS)}")
    cache = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    if args.quick:
        wh, frames, mem = (1280, 720), 4, (4, 8)
    else:
        wh, frames = (3840, 2160), args.frames
        mem = tuple(int(v) for v in args.memory_frames.split(","))
    t0 = time.perf_counter()
    video = make_video(cache / f"synth_{wh[0]}x{wh[1]}_{frames}.mp4", wh, frames)
    print(f"video ready in {time.perf_counter() - t0:.0f} s: {video}", flush=True)
    rows: dict[str, Any] = {"video": str(video), "frame_wh": list(wh), "frames": frames,
                            "load_before": _load(), "onnx_threads": ONNX_THREADS}  # fmt: skip
    rows["decode"] = run_decode(video)
    rows["throughput"] = {}
    for c in callbacks:
        rows["throughput"][c] = run_throughput(video, c, 1 if args.quick else args.repeat)
        print(f"{c}: {rows['throughput'][c]['speedup']:.2f}x (load {_load()})", flush=True)
    if not args.no_writing:
        rows["writing"] = run_writing(video, cache / "out", 8)
    if not args.no_memory:
        small = make_video(cache / f"synth_640x360_{max(mem)}.mp4", (640, 360), max(mem))
        rows["memory"] = run_memory(small, mem)
    rows["load_after"] = _load()
    print(render(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


CALLBACK_LABELS = {
    "cpu": "CPU callback (fixed CPU work per slice: downscale, threshold, components)",
    "gpu": f"GPU-like callback (simulated device: {GPU_CALL_MS} ms per call + {GPU_IMAGE_MS} ms "
    "per slice, one device lock; cheap host post-processing)",
    "cheap": "cheap callback (green blobs on a 4x subsample, ~0.5 ms per slice: the pipeline "
    "is the cost)",
    "onnx": "ONNX callback (the bundled detector on CPU, ~15 ms CPU per slice)",
    "cuda": "CUDA callback (the bundled detector's architecture, random weights, torch on a GPU)",
}


def render(rows: dict[str, Any]) -> str:
    """Markdown tables of a run."""
    w, h = rows["frame_wh"]
    lines = [
        f"Throughput, {rows['frames']} frames of {w}x{h} H.264, {SLICE} px slices, "
        f"{OVERLAP_PX} px overlap, no video written"
        + (f", ORT intra-op threads {rows['onnx_threads']}" if rows.get("onnx_threads") else "")
        + " (load average before "
        f"{rows['load_before']}, after {rows.get('load_after', '?')}):",
        "",
        "| callback | pipeline | setting | frames/s (best) | frames/s (all runs) | CPU ms/frame "
        "| detections | model calls |",
        "| --- | --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    labels = {
        "supervision": "supervision 0.31 InferenceSlicer + get_video_frames_generator",
        "tilewise": "tilewise VideoFileSource + Slicer.stream",
    }
    for callback, group in rows["throughput"].items():
        for name, label in labels.items():
            for setting, r in group[name].items():
                runs = ", ".join(f"{v:.2f}" for v in r["fps_all"])
                lines.append(
                    f"| {callback} | {label} | {setting} | {r['fps']:.2f} | {runs} "
                    f"| {r['cpu_ms_per_frame']:.0f} | {r['detections']} | {r['model_calls']} |"
                )
    lines += ["", "Speed-up, best tilewise / best supervision, per callback:", ""]
    for callback, group in rows["throughput"].items():
        met = "met" if group["target_met"] else "NOT met"
        before = group.get("speedup_rgb_pyav")
        lines.append(
            f"- {CALLBACK_LABELS[callback]}: **{group['speedup']:.2f}x** "
            f"(target {TARGET_SPEEDUP}x: {met})"
            + ("" if before is None else f"; with rgb=pyav {before:.2f}x")
        )
    lines += ["", "Decoding alone (the floor of both pipelines):", "",
              "| decoder | frames/s | seconds | CPU ms/frame |",
              "| --- | ---: | ---: | ---: |"]  # fmt: skip
    for name, r in rows["decode"].items():
        lines.append(
            f"| {name} | {r['fps']:.2f} | {r['seconds']:.1f} | {r['cpu_ms_per_frame']:.0f} |"
        )
    if "writing" in rows:
        lines += [
            "",
            "Writing cost (run_video with tracking, CPU callback, batch 8, workers 1):",
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
    if "memory" in rows:
        lines += ["", "Memory (fresh process, 640x360 video, 256 px slices, Slicer.stream):", "",
                  "| frames | peak RSS (MB) |", "| ---: | ---: |"]  # fmt: skip
        for r in rows["memory"]:
            lines.append(f"| {r['frames']} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
