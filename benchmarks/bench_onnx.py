"""Batched ONNX sliced inference on a 4K scene: tilewise ``Slicer`` vs supervision's
``InferenceSlicer``, the same bundled ``OnnxDetector`` (one ONNX Runtime session) on the
same slices, batch 8, NMS 0.5 (issue 6 target: tilewise >= 1.2x supervision's slices/s).

Run: ``python -m benchmarks --only onnx`` or ``python -m benchmarks.bench_onnx``.
"""

from __future__ import annotations

import time
from typing import Any

TARGET = 1.2
OVERLAP_PX = 64
BATCH = 8


def run(quick: bool = False, repeats: int = 3) -> list[dict[str, Any]]:
    """Time both slicers, interleaved, best of ``repeats``; return one row per library."""
    import supervision as sv

    from tilewise import Slicer
    from tilewise.detections import to_supervision
    from tilewise.models import default_detector
    from tilewise.synth import SynthConfig, load_materials, render_scene

    model = default_detector(conf=0.25)
    size = (1280, 720) if quick else (3840, 2160)
    scene = render_scene(0, 123, load_materials(), SynthConfig(scene_size=size, size_range=(4, 64)))
    image = scene.image
    slice_wh = model.slice_wh
    ours = Slicer(model, slice_wh=slice_wh, overlap=OVERLAP_PX, batch_size=BATCH, threshold=0.5)

    def callback(images: Any) -> list[Any]:
        return [to_supervision(d) for d in model(list(images))]

    theirs = sv.InferenceSlicer(
        callback=callback,
        slice_wh=slice_wh,
        overlap_wh=(OVERLAP_PX, OVERLAP_PX),
        overlap_filter="non_max_suppression",
        iou_threshold=0.5,
        batch_size=BATCH,
    )
    slices = len(ours.grid_for((image.shape[1], image.shape[0])))
    ours(image)  # warm-up: ORT session, allocations
    theirs(image)
    times: dict[str, list[float]] = {"tilewise": [], "supervision": []}
    kept: dict[str, int] = {}
    for _ in range(1 if quick else repeats):
        for name, slicer in (("tilewise", ours), ("supervision", theirs)):
            t0 = time.perf_counter()
            out = slicer(image)
            times[name].append(time.perf_counter() - t0)
            kept[name] = len(out)
    best = {k: min(v) for k, v in times.items()}
    ratio = best["supervision"] / best["tilewise"]
    case = f"{size[0]}x{size[1]}, {slices} slices of {slice_wh[0]}, batch {BATCH}"
    return [
        {
            "case": case,
            "library": name,
            "time_s": round(best[name], 4),
            "slices_per_s": round(slices / best[name], 1),
            "kept": kept[name],
            "speedup": round(ratio, 3) if name == "tilewise" else 1.0,
            "target": f"≥ {TARGET}x" if name == "tilewise" else "",
            "met": (ratio >= TARGET) if name == "tilewise" else None,
        }
        for name in ("tilewise", "supervision")
    ]


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(target, measured, met) line for the runner's target table."""
    ours = next(r for r in rows if r["library"] == "tilewise")
    theirs = next(r for r in rows if r["library"] == "supervision")
    measured = (
        f"{ours['slices_per_s']} vs {theirs['slices_per_s']} slices/s = {ours['speedup']}x "
        f"({ours['case']})"
    )
    return [
        (
            f"ONNX through the Slicer, batch 8: ≥ {TARGET}x supervision InferenceSlicer",
            measured,
            "yes" if ours["met"] else "NO",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
