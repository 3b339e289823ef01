"""Huge rasters window by window (issue 11): tilewise ``RasterSource`` + ``Slicer`` vs
supervision 0.31's rasterio window path, the same bundled ``OnnxDetector``, batch 8.

The input is generated here (never stored in git): a square 3-band uint8 GeoTIFF, tiled
512, DEFLATE, its right third nodata (value 0), dense small objects (synthetic scenes of
the bundled model's domain, repeated in 2048-px cells). Each case runs in its own
process under ``RLIMIT_AS`` (``CAP_GB``), so a run that would exhaust memory fails with
``MemoryError`` instead of waking the OOM killer on a shared machine; the outcome is
recorded either way. Cases:

* ``tilewise``: ``Slicer(...).run(RasterSource(path))``: windows read one batch ahead,
  nodata windows skipped, detections centred on nodata dropped;
* ``tilewise in memory``: the same pixels read whole into an array with their valid mask
  (``ArraySource``): its detections (and AP50) must equal the windowed run's;
* ``supervision (nms)``: ``InferenceSlicer(callback, overlap_filter=NMS)(dataset)`` on the
  open rasterio dataset (its documented window path);
* ``supervision (none)``: the same with ``overlap_filter=NONE`` (no duplicate removal).

AP50 is scored against the generated boxes, in 2048-px cells (one COCO image per cell,
objects assigned by centre) so the evaluator never builds one N x N IoU matrix.

Every row records per-stage seconds (``stages_s``: tilewise's read-ahead thread, model
calls, post-processing, merge; supervision's time inside model calls), ONNX Runtime's
intra-op thread setting and the machine's load. Both sides build the same
``OnnxDetector`` with the same spinning setting (off, its default; ``--spin`` turns it on
for every case).

Run: ``python -m benchmarks --only raster`` or ``python -m benchmarks.bench_raster
[--sides 16384,32768] [--cases tilewise,supervision-none] [--repeat 2] [--spin]``; on a
shared machine use ``--repeat``: the cases then run in turn and rows give the median and
minimum.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CAP_GB = 6.0
BATCH = 8
OVERLAP_PX = 64
CELL = 2048
SCENES = 4
SEED = 11
SIDES = (16384, 32768)
QUICK_SIDES = (2048,)
RSS_TARGET_MB = 600.0
TIME_TARGET = 0.8
CASES = ("tilewise", "tilewise-memory", "supervision-none", "supervision-nms")
LABELS = {
    "tilewise": "tilewise",
    "tilewise-memory": "tilewise in memory",
    "supervision-none": "supervision (none)",
    "supervision-nms": "supervision (nms)",
}
FILTERS = {"supervision-none": "none", "supervision-nms": "non_max_suppression"}
RESULT = "@@raster-bench@@ "
REPO_ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- input


def generate(path: Path, side: int, seed: int = SEED) -> Path:
    """Write the benchmark raster and its ground truth (``<path>.gt.npz``); returns the GT.

    Written strip by strip (2048 rows): the whole raster is never in memory.
    """
    import rasterio
    from affine import Affine

    from tilewise.synth import SynthConfig, load_materials, render_scene

    gt_path = path.with_suffix(".gt.npz")
    if path.is_file() and gt_path.is_file():
        return gt_path
    cell = min(CELL, side)
    materials = load_materials()
    cfg = SynthConfig(scene_size=cell, size_range=(4, 32), size_median=12.0)
    scenes = [render_scene(k, seed, materials, cfg) for k in range(SCENES)]
    nodata_x = side - side // 3
    profile = {
        "driver": "GTiff",
        "width": side,
        "height": side,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": Affine(0.3, 0, 500000, 0, -0.3, 4000000),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }
    boxes, classes = [], []
    n = side // cell
    tmp = path.with_name(f".{path.name}.tmp")
    with rasterio.open(tmp, "w", **profile) as ds:
        for r in range(n):
            strip = np.zeros((cell, side, 3), np.uint8)
            for c in range(n):
                scene = scenes[(r * n + c) % SCENES]
                strip[:, c * cell : (c + 1) * cell] = scene.image
                shift = np.array([c, r, c, r], np.float64) * cell
                b = np.asarray(scene.boxes, np.float64) + shift
                keep = b[:, 2] <= nodata_x
                boxes.append(b[keep])
                classes.append(np.asarray(scene.class_id)[keep])
            valid = strip[:, :nodata_x]
            valid[(valid == 0).all(axis=2)] = 1  # no valid pixel reads as nodata
            strip[:, nodata_x:] = 0
            ds.write(strip.transpose(2, 0, 1), window=((r * cell, (r + 1) * cell), (0, side)))
    os.replace(tmp, path)
    np.savez(gt_path, boxes=np.concatenate(boxes), class_id=np.concatenate(classes))
    return gt_path


# ----------------------------------------------------------------------------- cases


def _peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def _case_tilewise(path: Path, in_memory: bool, spin: bool) -> tuple[Any, dict[str, Any]]:
    from tilewise import Slicer
    from tilewise.models import default_detector
    from tilewise.sources import ArraySource
    from tilewise.sources.raster import RasterSource

    model = default_detector(conf=0.25, spin=spin)
    slicer = Slicer(model, slice_wh=model.slice_wh, overlap=OVERLAP_PX, batch_size=BATCH)
    with RasterSource(path) as src:
        if in_memory:
            from tilewise.sources import Window

            whole = Window.full(src.image_wh)
            src.max_window_pixels = whole.w * whole.h
            image = ArraySource(src.read(whole), valid=src.valid_mask(whole), georef=src.georef)
            src._cached = None  # the array source holds the pixels now
            run = slicer.run(image)
        else:
            run = slicer.run(src)
    w = run.report.windows
    t = run.report.timings
    extra = {
        "windows_read": w.read,
        "windows_skipped": w.skipped,
        "raw": run.report.raw,
        # read: on the read-ahead thread (overlaps the model); model: inside model calls
        "stages_s": {
            "read": round(t.slicing, 2),
            "model": round(t.inference, 2),
            "postprocess": round(t.postprocess, 2),
            "merge": round(t.merge, 2),
            "run": round(t.total, 2),
        },
        "intra_op_threads": _intra_op_threads(model),
    }
    return run.detections, extra


def _intra_op_threads(model: Any) -> int:
    """ONNX Runtime's intra-op thread setting of the model's session (0: its default)."""
    return int(model.session.get_session_options().intra_op_num_threads)


def _case_supervision(path: Path, overlap_filter: str, spin: bool) -> tuple[Any, dict[str, Any]]:
    import rasterio
    import supervision as sv

    from tilewise.detections import from_supervision, to_supervision
    from tilewise.models import default_detector

    model = default_detector(conf=0.25, spin=spin)
    calls = {"windows": 0, "model": 0.0}

    def callback(tiles: list[np.ndarray]) -> list[Any]:
        calls["windows"] += len(tiles)
        t0 = time.perf_counter()
        out = model(list(tiles))
        calls["model"] += time.perf_counter() - t0
        return [to_supervision(d) for d in out]

    slicer = sv.InferenceSlicer(
        callback=callback,
        slice_wh=model.slice_wh,
        overlap_wh=(OVERLAP_PX, OVERLAP_PX),
        overlap_filter=overlap_filter,
        iou_threshold=0.5,
        batch_size=BATCH,
        thread_workers=1,
    )
    t0 = time.perf_counter()
    with rasterio.open(path) as ds:
        det = slicer(ds)
    run_s = time.perf_counter() - t0
    extra = {
        "windows_read": calls["windows"],
        "windows_skipped": 0,
        # model: inside model calls; the rest (reading, slicing, merging) runs in between
        "stages_s": {"model": round(calls["model"], 2), "run": round(run_s, 2)},
        "intra_op_threads": _intra_op_threads(model),
    }
    return from_supervision(det), extra


def run_case(case: str, path: Path, out: Path, spin: bool = False) -> dict[str, Any]:
    """Run one case in this process (under the caller's limits); detections go to ``out``.

    ``spin``: ONNX Runtime's intra-op spin-waiting (``OnnxDetector(spin=)``), the same for
    every case.
    """
    t0 = time.perf_counter()
    if case in ("tilewise", "tilewise-memory"):
        det, extra = _case_tilewise(path, case == "tilewise-memory", spin)
    else:
        det, extra = _case_supervision(path, FILTERS[case], spin)
    seconds = time.perf_counter() - t0
    np.savez(out, xyxy=det.xyxy, confidence=det.confidence, class_id=det.class_id)
    return {"outcome": "ok", "time_s": round(seconds, 2), "detections": len(det), **extra}


def _child(case: str, path: str, out: str, cap_gb: float, spin: bool = False) -> int:
    cap = int(cap_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    t0 = time.perf_counter()
    try:
        row = run_case(case, Path(path), Path(out), spin)
    except MemoryError:
        row = {
            "outcome": f"MemoryError at the {cap_gb:g} GB cap",
            "time_s": round(time.perf_counter() - t0, 2),
        }
    except Exception as exc:  # recorded, not raised: a peer failing is a result
        row = {
            "outcome": f"{type(exc).__name__}: {str(exc)[:160]}",
            "time_s": round(time.perf_counter() - t0, 2),
        }
    row["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    print(RESULT + json.dumps(row), flush=True)
    return 0


def _isolated(
    case: str, path: Path, out: Path, cap_gb: float, timeout: float, spin: bool = False
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.bench_raster", "--child", case, str(path), str(out)]
    cmd += ["--cap-gb", str(cap_gb)] + (["--spin"] if spin else [])
    try:
        proc = subprocess.run(
            cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"outcome": f"timeout after {timeout:.0f} s", "time_s": None}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"outcome": f"exit {proc.returncode}: {tail[0][:160]}", "time_s": None}


# ----------------------------------------------------------------------------- scoring


def ap50(gt_path: Path, det_path: Path, side: int) -> float:
    """AP50 of saved detections against the generated boxes, one COCO image per cell."""
    from tilewise import Detections
    from tilewise.evaluation import evaluate

    gt = np.load(gt_path)
    saved = np.load(det_path)
    cell = min(CELL, side)
    n = side // cell

    def cell_of(xyxy: np.ndarray) -> np.ndarray:
        cx = np.clip(((xyxy[:, 0] + xyxy[:, 2]) / 2 // cell).astype(int), 0, n - 1)
        cy = np.clip(((xyxy[:, 1] + xyxy[:, 3]) / 2 // cell).astype(int), 0, n - 1)
        return cy * n + cx

    classes = sorted({int(c) for c in gt["class_id"].tolist()} | set(range(5)))
    gt_cells = cell_of(gt["boxes"])
    annotations = []
    for k, (box, cls, im) in enumerate(
        zip(gt["boxes"].tolist(), gt["class_id"].tolist(), gt_cells.tolist(), strict=True)
    ):
        x1, y1, x2, y2 = box
        annotations.append(
            {
                "id": k + 1,
                "image_id": im + 1,
                "category_id": int(cls) + 1,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1),
                "iscrowd": 0,
            }
        )
    coco = {
        "images": [{"id": i + 1, "width": side, "height": side} for i in range(n * n)],
        "categories": [{"id": c + 1, "name": str(c)} for c in classes],
        "annotations": annotations,
    }
    det = Detections(saved["xyxy"], saved["confidence"], saved["class_id"])
    det_cells = cell_of(det.xyxy)
    preds = {i + 1: det[det_cells == i] for i in range(n * n)}
    result = evaluate(coco, preds, max_dets=10_000, class_to_category={c: c + 1 for c in classes})
    return round(float(result.get("AP50")), 4)


# ----------------------------------------------------------------------------- runner


def run(
    quick: bool = False,
    log: Callable[[str], None] = print,
    sides: Sequence[int] | None = None,
    cases: Sequence[str] = CASES,
    cap_gb: float = CAP_GB,
    timeout: float = 1800.0,
    workdir: Path | None = None,
    repeat: int = 1,
    spin: bool = False,
) -> list[dict[str, Any]]:
    """Generate each raster, run every case isolated and capped; one row per (side, case).

    Every case runs at the first side; larger sides run tilewise only, to show its
    memory staying flat. With ``repeat`` > 1 the cases run in turn (A B C A B C ...) so
    that load from other work on a shared machine falls on every case alike; a row's
    ``time_s`` is then the median, ``time_min_s`` the minimum and ``times_s`` every run,
    and ``load`` the 1-minute load average before and after each run. ``spin`` turns
    ONNX Runtime's intra-op spin-waiting on for every case (default off, as in
    ``OnnxDetector``).
    """
    import supervision

    chosen = list(sides or (QUICK_SIDES if quick else SIDES))
    root = workdir or Path(tempfile.gettempdir()) / "tilewise-bench-raster"
    root.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for k, side in enumerate(chosen):
        path = root / f"raster-{side}.tif"
        t0 = time.perf_counter()
        gt_path = generate(path, side)
        log(f"raster {side}²: generated in {time.perf_counter() - t0:.0f} s ({path})")
        here = [c for c in cases if k == 0 or c == "tilewise"]
        runs: dict[str, list[dict[str, Any]]] = {case: [] for case in here}
        for rep in range(max(1, repeat)):
            for case in here:
                out = root / f"det-{side}-{case}.npz"
                out.unlink(missing_ok=True)
                before = os.getloadavg()[0]
                row = _isolated(case, path, out, cap_gb, timeout, spin)
                row["load"] = [round(before, 2), round(os.getloadavg()[0], 2)]
                row["ort_spin"] = spin
                if row["outcome"] == "ok" and rep == 0:
                    row["ap50"] = ap50(gt_path, out, side)
                log(f"raster {side}² run {rep + 1}/{max(1, repeat)}: {LABELS[case]}: {row}")
                runs[case].append(row)
        for case in here:
            row = _combine(runs[case])
            row.update(side=side, case=case, library=LABELS[case])
            if row["outcome"] == "ok" and case.startswith("supervision"):
                row["library"] += f" {supervision.__version__}"
            rows.append(row)
    _judge(rows)
    return rows


def _combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from a case's repeated runs: the first run's fields, median and min time.

    A run that failed makes the row that failure. Repeated runs must agree on the
    detections (the pipeline is deterministic); a disagreement is recorded as the outcome.
    """
    first = dict(runs[0])
    if len(runs) == 1:
        return first
    failed = next((r for r in runs if r["outcome"] != "ok"), None)
    if failed is not None:
        return dict(failed)
    times = [r["time_s"] for r in runs]
    first.update(
        time_s=round(float(np.median(times)), 2),
        time_min_s=min(times),
        times_s=times,
        peak_rss_mb=max(r["peak_rss_mb"] for r in runs),
        load=[r["load"] for r in runs],
        stages_s=[r.get("stages_s") for r in runs],
    )
    if len({r["detections"] for r in runs}) != 1:
        first["outcome"] = f"detections differ between runs: {[r['detections'] for r in runs]}"
    return first


def _judge(rows: list[dict[str, Any]]) -> None:
    """Ratios to supervision's finished run and the targets, on tilewise's rows."""
    for side in sorted({r["side"] for r in rows}):
        same = {r["case"]: r for r in rows if r["side"] == side}
        peer = next(
            (same[c] for c in ("supervision-nms", "supervision-none") if same.get(c, {}).get(
                "outcome"
            ) == "ok"),
            None,
        )  # fmt: skip
        ours = same.get("tilewise")
        for r in same.values():
            if peer is not None and r.get("time_s") and r["outcome"] == "ok":
                r["ratio"] = round(r["time_s"] / peer["time_s"], 3)
                r["vs"] = peer["library"]
                if r.get("time_min_s") and peer.get("time_min_s"):
                    r["ratio_min"] = round(r["time_min_s"] / peer["time_min_s"], 3)
        if ours is None or ours["outcome"] != "ok":
            continue
        ours["target"] = f"RSS ≤ {RSS_TARGET_MB:.0f} MB, time ≤ {TIME_TARGET}x peer"
        ours["met"] = bool(
            ours["peak_rss_mb"] <= RSS_TARGET_MB
            and (ours.get("ratio") is None or ours["ratio"] <= TIME_TARGET)
        )
        memory = same.get("tilewise-memory")
        if memory is not None and memory.get("ap50") is not None:
            ours["ap50_equal_in_memory"] = ours["ap50"] == memory["ap50"]


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the rows."""
    headers = (
        "raster", "library", "outcome", "time", "peak RSS", "windows read/skipped",
        "detections", "AP50", "time / peer", "target met",
    )  # fmt: skip
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        windows = f"{r.get('windows_read', '—')}/{r.get('windows_skipped', '—')}"
        ratio = f"{r['ratio']:.2f}x {r['vs']}" if r.get("ratio") is not None else "—"
        if r.get("ratio_min") is not None:
            ratio += f" (min/min {r['ratio_min']:.2f}x)"
        met = "—" if "met" not in r else ("**yes**" if r["met"] else "**NO**")
        time_s = "—" if r.get("time_s") is None else f"{r['time_s']:.1f} s"
        if r.get("times_s"):
            time_s += f" (median of {len(r['times_s'])}, min {r['time_min_s']:.1f} s)"
        cells = (
            f"{r['side']}²", r["library"], r["outcome"], time_s, f"{r['peak_rss_mb']:.0f} MB"
            if r.get("peak_rss_mb") else "—", windows, r.get("detections", "—"),
            r.get("ap50", "—"), ratio, met,
        )  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(target, measured, met) lines for the runner's target table."""
    out = []
    for r in rows:
        if r["case"] != "tilewise" or "met" not in r:
            continue
        measured = f"{r['peak_rss_mb']:.0f} MB, {r['time_s']:.1f} s" + (
            f" = {r['ratio']:.2f}x {r['vs']}" if r.get("ratio") is not None else ""
        )
        out.append(
            (
                f"raster {r['side']}², bundled model: RSS ≤ {RSS_TARGET_MB:.0f} MB, "
                f"time ≤ {TIME_TARGET}x supervision",
                measured,
                "yes" if r["met"] else "NO",
            )
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (also the capped child of every case)."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_raster")
    p.add_argument("--child", nargs=3, metavar=("CASE", "RASTER", "OUT"))
    p.add_argument("--cap-gb", type=float, default=CAP_GB)
    p.add_argument("--sides", default=None, help="e.g. 16384,32768")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=1, help="runs of every case, in turn")
    p.add_argument("--spin", action="store_true", help="ORT intra-op spinning on (every case)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if args.child:
        return _child(*args.child, args.cap_gb, args.spin)
    sides = [int(s) for s in args.sides.split(",")] if args.sides else None
    rows = run(
        quick=args.quick,
        sides=sides,
        cases=args.cases.split(","),
        cap_gb=args.cap_gb,
        repeat=args.repeat,
        spin=args.spin,
    )
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
