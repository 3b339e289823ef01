"""Where the time of a zoomed setting goes, and what graph runs of fewer pixels save (issue 15).

    python -m benchmarks.bench_zoom_cost [--work DIR] [--repeats R] [--scenes N]
                                         [--setting JSON] [--json PATH]

On one test scene of the synthetic benchmark (``bench_tune``'s, under ``--work``), with
the dynamic-input copy of the bundled graph, the default setting (320 px slices, overlap
0.2) and a tuned one (default: 400 px slices at zoom 1.75, bench_tune's choice) are run:

1. **Profile**: per slice, the process CPU time of the model's three stages (``prepare``:
   resize and letterbox; ``forward``: ONNX Runtime; ``finish``: decoding), best of
   ``--repeats``, once with every batch of 8 in one graph run (``max_batch_pixels=None``,
   the behaviour before) and once in runs of at most ``CPU_RUN_PIXELS`` (the default).
2. **Whole setting**: ``Slicer(...)(scene)`` for both settings and both run sizes, in
   turn (each first in some rounds), best of ``--repeats``, wall and process CPU time, and
   the tuned / default ratios under each run size. Detections are checked equal across
   run sizes. ``--scenes N`` also times the two settings (default run sizes only) on the
   first N test scenes the same way, scene by scene, with the default also on the bundled
   fixed-size graph (what a user runs without the dynamic-input copy).

Timings come from one run on one machine; on a busy shared machine the CPU time of the
process is steadier than wall time, and ``uptime``'s load is printed beside the figures.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

TUNED = {
    "slice_wh": 400,
    "overlap": 0.1,
    "zoom": 1.75,
    "merge": "nms",
    "metric": "ios",
    "threshold": 0.5,
    "edge_margin": 2.0,
}
DEFAULT = {"slice_wh": 320, "overlap": 0.2}
BATCH = 8


def _load() -> str:
    return "load " + " ".join(f"{v:.1f}" for v in os.getloadavg())


def profile(model: Any, image: Any, settings: dict[str, Any], repeats: int) -> dict[str, float]:
    """CPU ms per slice of each model stage for one setting, best of ``repeats``."""
    from tilewise import Slicer
    from tilewise.slicing.zoom import zoomed

    grid = Slicer(model, batch_size=BATCH, **settings).grid_for((image.shape[1], image.shape[0]))
    m = zoomed(model, float(settings.get("zoom", 1.0)))
    slices = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in grid]
    best = {"prepare": float("inf"), "forward": float("inf"), "finish": float("inf")}
    for _ in range(repeats):
        spent = dict.fromkeys(best, 0.0)
        for i in range(0, len(slices), BATCH):
            c0 = time.process_time()
            prepared = m.prepare(slices[i : i + BATCH])
            c1 = time.process_time()
            raw = m.forward(prepared)
            c2 = time.process_time()
            m.finish(prepared, raw)
            c3 = time.process_time()
            spent["prepare"] += c1 - c0
            spent["forward"] += c2 - c1
            spent["finish"] += c3 - c2
        for k, v in spent.items():
            best[k] = min(best[k], v)
    out = {k: round(v / len(slices) * 1e3, 2) for k, v in best.items()}
    out["slices"] = len(slices)
    out["input_hw"] = list(m.input_hw)
    out["run_size"] = m.run_size(BATCH)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.bench_tune import ensure_benchmark, split
    from tilewise import Slicer
    from tilewise.models import OnnxDetector, default_detector, with_dynamic_input

    work = Path(args.work)
    root = ensure_benchmark(work)
    base = default_detector(conf=0.01, max_det=300)
    path = with_dynamic_input(base.path, work / "default_detector_dynamic.onnx")
    auto = OnnxDetector(path, conf=0.01, max_det=300, imgsz=base.imgsz)
    whole = copy.copy(auto)
    whole.max_batch_pixels = None
    models = {"whole batch": whole, "runs <= CPU_RUN_PIXELS": auto}
    tuned = json.loads(args.setting) if args.setting else TUNED
    settings = {"default": DEFAULT, "tuned": tuned}
    test, _ = split(root, "test")
    image = test.loader(test.ground_truth.image_ids[0])
    out: dict[str, Any] = {"tuned": tuned, "repeats": args.repeats, "load_before": _load()}
    out["profile"] = {
        f"{s} / {m}": profile(models[m], image, settings[s], args.repeats)
        for m in models
        for s in settings
    }
    cases = [(s, m) for m in models for s in settings]
    wall = dict.fromkeys(cases, float("inf"))
    cpu = dict(wall)
    results: dict[str, Any] = {}
    for r in range(args.repeats):
        k = r % len(cases)
        for s, m in cases[k:] + cases[:k]:
            slicer = Slicer(models[m], batch_size=BATCH, **settings[s])
            t0, c0 = time.perf_counter(), time.process_time()
            det = slicer(image)
            wall[(s, m)] = min(wall[(s, m)], time.perf_counter() - t0)
            cpu[(s, m)] = min(cpu[(s, m)], time.process_time() - c0)
            results.setdefault(s, det)
            if det != results[s]:
                raise SystemExit(f"{s}: detections differ with {m}")
    out["load_after"] = _load()
    out["seconds"] = {
        f"{s} / {m}": [round(wall[(s, m)], 3), round(cpu[(s, m)], 3)] for s, m in cases
    }
    out["tuned_x_default"] = {
        m: {
            "wall": round(wall[("tuned", m)] / wall[("default", m)], 2),
            "cpu": round(cpu[("tuned", m)] / cpu[("default", m)], 2),
        }
        for m in models
    }
    out["same_detections_whatever_the_runs"] = True
    out["scenes"] = []
    for image_id in test.ground_truth.image_ids[: args.scenes]:
        scene = test.loader(image_id)
        runs = {"default": (auto, DEFAULT), "tuned": (auto, tuned), "bundled": (base, DEFAULT)}
        best = {s: [float("inf"), float("inf")] for s in runs}
        for r in range(args.repeats):
            names = list(runs)[r % 3 :] + list(runs)[: r % 3]
            for s in names:
                slicer = Slicer(runs[s][0], batch_size=BATCH, **runs[s][1])
                t0, c0 = time.perf_counter(), time.process_time()
                slicer(scene)
                best[s][0] = min(best[s][0], time.perf_counter() - t0)
                best[s][1] = min(best[s][1], time.process_time() - c0)
        out["scenes"].append(
            {
                "image_id": image_id,
                "wall_x": round(best["tuned"][0] / best["default"][0], 2),
                "cpu_x": round(best["tuned"][1] / best["default"][1], 2),
                "wall_x_bundled": round(best["tuned"][0] / best["bundled"][0], 2),
                "cpu_x_bundled": round(best["tuned"][1] / best["bundled"][1], 2),
                "load": _load(),
            }
        )
    return out


def report(out: dict[str, Any]) -> str:
    lines = [
        f"tuned setting: {out['tuned']}; best of {out['repeats']}; {out['load_before']} -> "
        f"{out['load_after']}",
        "",
        "| setting / graph runs | slices | input | images per run | prepare | forward | "
        "finish (CPU ms per slice) |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for name, p in out["profile"].items():
        lines.append(
            f"| {name} | {p['slices']} | {p['input_hw'][0]}x{p['input_hw'][1]} | "
            f"{p['run_size']} | {p['prepare']:.2f} | {p['forward']:.2f} | {p['finish']:.2f} |"
        )
    lines += ["", "| setting / graph runs | wall s | CPU s |", "|---|--:|--:|"]
    for name, (w, c) in out["seconds"].items():
        lines.append(f"| {name} | {w:.3f} | {c:.3f} |")
    lines.append("")
    for m, r in out["tuned_x_default"].items():
        lines.append(f"tuned / default with {m}: {r['wall']:.2f}x wall, {r['cpu']:.2f}x CPU")
    lines.append(
        "detections equal whatever the runs: " + str(out["same_detections_whatever_the_runs"])
    )
    for sc in out["scenes"]:
        lines.append(
            f"test scene {sc['image_id']}: tuned / default {sc['wall_x']:.2f}x wall, "
            f"{sc['cpu_x']:.2f}x CPU; / default on the bundled graph "
            f"{sc['wall_x_bundled']:.2f}x wall, {sc['cpu_x_bundled']:.2f}x CPU ({sc['load']})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/bench-tune", help="bench_tune's folder")
    parser.add_argument("--repeats", type=int, default=5, help="best of (default 5)")
    parser.add_argument("--setting", default=None, help="the tuned setting as JSON")
    parser.add_argument(
        "--scenes", type=int, default=0, help="also time both settings on N test scenes"
    )
    parser.add_argument("--json", default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    out = run(args)
    print(report(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
