"""Batched ONNX sliced inference on a 4K scene: tilewise ``Slicer`` vs supervision's
``InferenceSlicer``, the same bundled ``OnnxDetector`` (one ONNX Runtime session) on the
same slices, batch 8, NMS 0.5 (issue 6 target: tilewise >= 1.2x supervision's slices/s).
On a GPU machine the comparison is repeated with the model as a torch module on CUDA.

Run: ``python -m benchmarks --only onnx`` or ``python -m benchmarks.bench_onnx``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET = 1.2
OVERLAP_PX = 64
BATCH = 8


def _checkpoint() -> Path | None:
    """The bundled model's training checkpoint, for the torch-on-CUDA rows (optional)."""
    env = os.environ.get("TILEWISE_BENCH_CHECKPOINT")
    candidates = [Path(env)] if env else []
    candidates.append(Path("runs/default-model/run/best.pt"))
    return next((p for p in candidates if p.is_file()), None)


def _time_interleaved(
    slicers: dict[str, Callable[[Any], Any]], image: Any, repeats: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Best-of-``repeats`` seconds per slicer, the slicers interleaved in each round."""
    for slicer in slicers.values():
        slicer(image)  # warm-up: sessions, allocations, CUDA context
    times: dict[str, list[float]] = {k: [] for k in slicers}
    kept: dict[str, int] = {}
    for _ in range(repeats):
        for name, slicer in slicers.items():
            t0 = time.perf_counter()
            out = slicer(image)
            times[name].append(time.perf_counter() - t0)
            kept[name] = len(out)
    return {k: min(v) for k, v in times.items()}, kept


def _model_alone(model: Any, slicer: Any, image: Any) -> Callable[[Any], Any]:
    """The model on the same batches of slice views, nothing else: no slicer can beat it.

    ``supervision time / this time`` bounds the speedup any slicer can reach with this
    model on this machine.
    """
    from tilewise import Detections
    from tilewise.slicing.batches import iter_batches

    boxes = slicer.grid_for((image.shape[1], image.shape[0])).boxes

    def run(img: Any) -> Detections:
        out: list[Detections] = []
        for batch in iter_batches(img, boxes, BATCH):
            out.extend(model(batch.images))
        return Detections.concatenate(out)

    return run


def _rows(
    group: str, case: str, slices: int, best: dict[str, float], kept: dict[str, int], target: bool
) -> list[dict[str, Any]]:
    ratio = {k: best["supervision"] / v for k, v in best.items()}
    return [
        {
            "group": group,
            "case": case,
            "library": name,
            "time_s": round(best[name], 4),
            "slices_per_s": round(slices / best[name], 1),
            "kept": kept[name],
            "speedup": round(ratio[name], 3),
            "target": f"≥ {TARGET}x" if target and name == "tilewise" else "",
            "met": (ratio[name] >= TARGET) if target and name == "tilewise" else None,
        }
        for name in best
    ]


def run(quick: bool = False, repeats: int = 3) -> list[dict[str, Any]]:
    """Time the slicers, interleaved, best of ``repeats``; one row per slicer.

    Rows: ``tilewise`` (the default Slicer, one worker: a CPU model is called whole, a
    GPU one pipelined), ``tilewise (pipelined)`` (stages overlapped, forced),
    ``supervision``, all with the bundled ``OnnxDetector``, and ``model alone (bound)``:
    the model on the same batches with no slicing, shifting or merging (its "kept" is
    the raw count), whose speedup bounds what any slicer can reach here. Where torch sees
    a GPU and the bundled model's checkpoint is found (``TILEWISE_BENCH_CHECKPOINT`` or the path
    ``scripts/train_default_model.sh`` writes), the same comparison is repeated with the
    checkpoint as a ``TorchModuleDetector`` on CUDA.
    """
    import onnxruntime as ort
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
    rounds = 1 if quick else repeats

    def pair(detector: Any) -> dict[str, Callable[[Any], Any]]:
        def callback(images: Any) -> list[Any]:
            return [to_supervision(d) for d in detector(list(images))]

        common = {"slice_wh": slice_wh, "overlap": OVERLAP_PX, "batch_size": BATCH}
        return {
            "tilewise": Slicer(detector, threshold=0.5, **common),
            "tilewise (pipelined)": Slicer(detector, threshold=0.5, pipeline=True, **common),
            "supervision": sv.InferenceSlicer(
                callback=callback,
                slice_wh=slice_wh,
                overlap_wh=(OVERLAP_PX, OVERLAP_PX),
                overlap_filter="non_max_suppression",
                iou_threshold=0.5,
                batch_size=BATCH,
            ),
        }

    slices = len(Slicer(model, slice_wh=slice_wh, overlap=OVERLAP_PX).grid_for(size))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    base = f"{size[0]}x{size[1]}, {slices} slices of {slice_wh[0]}, batch {BATCH}"
    case = f"{base}, ONNX Runtime {ort.__version__} CPU, {cores} cores"
    slicers = pair(model)
    slicers["model alone (bound)"] = _model_alone(model, slicers["tilewise"], image)
    best, kept = _time_interleaved(slicers, image, rounds)
    rows = _rows("onnx", case, slices, best, kept, target=True)
    ckpt = _checkpoint()
    try:
        import torch
    except ImportError:  # pragma: no cover - the train extra is optional
        torch = None  # type: ignore[assignment]
    if torch is not None and torch.cuda.is_available() and ckpt is not None:
        from tilewise.models import TorchModuleDetector
        from tilewise.training import load_checkpoint, model_from_checkpoint

        module = model_from_checkpoint(load_checkpoint(ckpt))
        gpu = TorchModuleDetector(module, model.imgsz, names=model.names, conf=0.25, device="cuda")
        case = f"{base}, torch {torch.__version__} on {torch.cuda.get_device_name()}"
        best, kept = _time_interleaved(pair(gpu), image, rounds)
        rows += _rows("torch-cuda", case, slices, best, kept, target=False)
    return rows


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(target, measured, met) line for the runner's target table."""
    onnx = [r for r in rows if r.get("group", "onnx") == "onnx"]
    ours = next(r for r in onnx if r["library"] == "tilewise")
    theirs = next(r for r in onnx if r["library"] == "supervision")
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
