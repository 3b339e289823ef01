"""Slicer benchmarks: pure overhead with a zero-cost model, and a batch-size scan.

Overhead: a seeded 3840x2160 RGB image, 640 px slices, overlap 0.2, a fake model that
returns the same 50 detections (slice pixels, 10 classes) for every slice at zero cost,
and the same merge everywhere (NMS, IoU 0.5, per class). Each library's model counts the
slices it saw, so the table shows they all ran the same grid.

Batch scan: the fake model costs ``fixed_ms`` per call plus ``per_image_ms`` per image
(``time.sleep``), so wall time should fall as tilewise's batch size grows; the peers are
shown at their default batch size for reference.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks import peers
from benchmarks.data import DEFAULT_SEED, SliceModelOutput, fixed_slice_detections
from benchmarks.data import structured_image as make_image
from benchmarks.measure import Prepared, Unavailable, run_case

__all__ = [
    "BatchConfig",
    "OverheadConfig",
    "build_case",
    "run_batch_scan",
    "run_overhead",
    "tilewise_slicer_call",
]

OVERHEAD_TARGET_FRACTION = 1.0 / 3.0
TARGET_IMAGE_WH = (3840, 2160)  # the set-up; targets are judged only on it


@dataclass
class OverheadConfig:
    """Zero-cost model overhead comparison."""

    image_wh: tuple[int, int] = (3840, 2160)
    slice_wh: int = 640
    overlap: float = 0.2
    detections_per_slice: int = 50
    threshold: float = 0.5
    seed: int = DEFAULT_SEED
    tilewise_batches: Sequence[int] = (1, 8)
    # Informational: tilewise handing the model contiguous copies (SAHI always copies).
    tilewise_contiguous_batches: Sequence[int] = (1,)
    # (library, batch size); the peers at their default batch of 1, supervision also at 8.
    peers: Sequence[tuple[str, int]] = (("supervision", 1), ("supervision", 8), ("sahi", 1))
    repeats: int = 5
    timeout_s: float = 300.0
    isolate: bool = True
    profile: bool = False


@dataclass
class BatchConfig:
    """Batch-size scan with a model of fixed per-call plus per-image cost."""

    image_wh: tuple[int, int] = (3840, 2160)
    slice_wh: int = 640
    overlap: float = 0.2
    detections_per_slice: int = 50
    threshold: float = 0.5
    seed: int = DEFAULT_SEED
    fixed_ms: float = 20.0
    per_image_ms: float = 2.0
    tilewise_batches: Sequence[int] = (1, 2, 4, 8, 16)
    peers: Sequence[tuple[str, int]] = (("supervision", 1), ("supervision", 8), ("sahi", 1))
    repeats: int = 3
    timeout_s: float = 300.0
    isolate: bool = True


# ----------------------------------------------------------------------------- builders


def tilewise_slicer_call(
    image: Any,
    out: SliceModelOutput,
    *,
    slice_wh: int,
    overlap_ratio: float,
    threshold: float,
    batch_size: int,
    cost: peers.ModelCost,
    counter: peers.CallCounter,
    contiguous: bool = False,
) -> Callable[[], int]:
    """``tilewise.Slicer`` with a fake batch model returning ``out`` for every slice."""
    try:
        from tilewise import Detections, Slicer
    except ImportError as exc:
        raise Unavailable(f"tilewise.Slicer not importable: {exc}") from exc

    def model(images: list[Any]) -> list[Detections]:
        counter.add(images)
        cost.spend(len(images))
        return [Detections(out.xyxy, out.confidence, out.class_id) for _ in images]

    slicer = Slicer(
        model,
        slice_wh=slice_wh,
        overlap=overlap_ratio,
        batch_size=batch_size,
        workers=1,
        merge="nms",
        threshold=threshold,
        metric="iou",
        class_agnostic=False,
        progress=False,
        **({"contiguous": True} if contiguous else {}),
    )

    def call() -> int:
        counter.reset()
        return len(slicer(image))

    return call


_MAKERS: dict[str, Callable[..., Callable[[], int]]] = {
    "tilewise": tilewise_slicer_call,
    "supervision": peers.supervision_slicer_call,
    "sahi": peers.sahi_slicer_call,
}


def build_case(case: dict[str, Any]) -> Prepared:
    """Builder for :mod:`benchmarks.measure`: image, fake model, slicer; one warm-up run."""
    w, h = case["image_wh"]
    seed = int(case["seed"])
    image = make_image(int(w), int(h), seed=seed)
    out = fixed_slice_detections(
        int(case["detections_per_slice"]),
        slice_wh=(int(case["slice_wh"]), int(case["slice_wh"])),
        seed=seed,
        stride_x=int(case["slice_wh"]) - round(float(case["overlap"]) * int(case["slice_wh"])),
    )
    counter = peers.CallCounter()
    cost = peers.ModelCost(float(case["fixed_ms"]), float(case["per_image_ms"]))
    library = str(case["library"])
    if library not in _MAKERS:
        raise ValueError(f"unknown library {library!r}")
    extra = {"contiguous": True} if case.get("contiguous") else {}
    call = _MAKERS[library](
        image,
        out,
        slice_wh=int(case["slice_wh"]),
        overlap_ratio=float(case["overlap"]),
        threshold=float(case["threshold"]),
        batch_size=int(case["batch_size"]),
        cost=cost,
        counter=counter,
        **extra,
    )
    from benchmarks.data import checksum

    return Prepared(
        call=call,
        warmup=call,
        checksum=checksum(image, out.xyxy, out.confidence, out.class_id),
        info=counter.info,
    )


# ----------------------------------------------------------------------------- runners


def _case(
    cfg: OverheadConfig | BatchConfig,
    library: str,
    batch: int,
    fixed_ms: float,
    per_image_ms: float,
    profile: bool,
    contiguous: bool = False,
) -> dict[str, Any]:
    return {
        "contiguous": contiguous,
        "builder": "benchmarks.bench_slicer:build_case",
        "library": library,
        "batch_size": batch,
        "image_wh": list(cfg.image_wh),
        "slice_wh": cfg.slice_wh,
        "overlap": cfg.overlap,
        "detections_per_slice": cfg.detections_per_slice,
        "threshold": cfg.threshold,
        "seed": cfg.seed,
        "fixed_ms": fixed_ms,
        "per_image_ms": per_image_ms,
        "repeats": cfg.repeats,
        "slow_s": 30.0,
        "profile": profile,
    }


def _status_text(res: dict[str, Any]) -> str:
    status = str(res.get("status", "error"))
    if status == "timeout":
        return f"timeout (>{res.get('timeout_s', 0):.0f} s)"
    if status in ("unavailable", "error"):
        return f"{status}: {res.get('error', '')}"[:160]
    return status


def _row(
    section: str, library: str, batch: int, res: dict[str, Any], variant: str = ""
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "section": section,
        "library": library,
        "variant": variant,
        "batch_size": batch,
        "status": res.get("status", "error"),
        "status_text": _status_text(res),
        "time_s": res.get("time_s"),
        "repeats": res.get("repeats"),
        "slices": res.get("slices"),
        "model_calls": res.get("model_calls"),
        "slice_shapes": res.get("slice_shapes"),
        "kept": res.get("kept"),
        "peak_delta_mb": res.get("peak_delta_mb"),
        "peak_mb": res.get("peak_mb"),
        "checksum": res.get("checksum"),
    }
    if "profile" in res:
        row["profile"] = res["profile"]
    return row


def _log_row(log: Callable[[str], None], row: dict[str, Any]) -> None:
    if row["status"] == "ok":
        log(
            f"  {row['section']:<8} {row['library']:<12} batch {row['batch_size']:>2} "
            f"{row.get('variant', ''):<16} "
            f"{row['time_s']:8.4f} s  slices {row['slices']}  calls {row['model_calls']}  "
            f"kept {row['kept']}"
        )
    else:
        log(
            f"  {row['section']:<8} {row['library']:<12} batch {row['batch_size']:>2}  "
            f"{row['status_text']}"
        )


def _default_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_overhead(
    cfg: OverheadConfig | None = None, *, log: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Zero-cost model: total time per library; ratios peer / tilewise and the ⅓ target."""
    cfg = cfg or OverheadConfig()
    log = log or _default_log
    rows: list[dict[str, Any]] = []
    plan = (
        [("tilewise", b, False) for b in cfg.tilewise_batches]
        + [("tilewise", b, True) for b in cfg.tilewise_contiguous_batches]
        + [(lib, b, False) for lib, b in cfg.peers]
    )
    for library, batch, contiguous in plan:
        profile = cfg.profile and library == "tilewise" and not contiguous
        case = _case(cfg, library, batch, 0.0, 0.0, profile, contiguous)
        res = run_case(case, timeout=cfg.timeout_s, isolate=cfg.isolate)
        row = _row("slicer", library, batch, res, "contiguous=True" if contiguous else "")
        rows.append(row)
        _log_row(log, row)
    tw = {
        r["batch_size"]: float(r["time_s"])
        for r in rows
        if r["library"] == "tilewise" and not r["variant"] and r["status"] == "ok"
    }
    peer_times = [
        float(r["time_s"]) for r in rows if r["library"] != "tilewise" and r["status"] == "ok"
    ]
    for r in rows:
        r["ratio_vs_tw"] = {}
        if r["library"] != "tilewise" and r["status"] == "ok":
            r["ratio_vs_tw"] = {b: float(r["time_s"]) / t for b, t in tw.items() if t > 0}
        r["target"] = ""
        r["met"] = None
        on_target_setup = tuple(cfg.image_wh) == TARGET_IMAGE_WH and cfg.slice_wh == 640
        if r["library"] == "tilewise" and not r["variant"] and on_target_setup:
            r["target"] = "≤ ⅓ of each peer"
            if r["status"] == "ok" and peer_times:
                r["met"] = float(r["time_s"]) <= min(peer_times) * OVERHEAD_TARGET_FRACTION
    return rows


def run_batch_scan(
    cfg: BatchConfig | None = None, *, log: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Model with fixed + per-image cost: wall time and slices/s per batch size."""
    cfg = cfg or BatchConfig()
    log = log or _default_log
    rows: list[dict[str, Any]] = []
    plan = [("tilewise", b) for b in cfg.tilewise_batches] + list(cfg.peers)
    for library, batch in plan:
        case = _case(cfg, library, batch, cfg.fixed_ms, cfg.per_image_ms, False)
        res = run_case(case, timeout=cfg.timeout_s, isolate=cfg.isolate)
        row = _row("batch", library, batch, res)
        row["fixed_ms"] = cfg.fixed_ms
        row["per_image_ms"] = cfg.per_image_ms
        rows.append(row)
        _log_row(log, row)
    tw_rows = [r for r in rows if r["library"] == "tilewise"]
    base = next((r for r in tw_rows if r["status"] == "ok" and r["batch_size"] == 1), None)
    prev: float | None = None
    for r in rows:
        ok = r["status"] == "ok" and r["time_s"]
        r["slices_per_s"] = (
            (float(r["slices"]) / float(r["time_s"])) if ok and r["slices"] else None
        )
        r["model_s"] = (
            (float(r["model_calls"]) * cfg.fixed_ms + float(r["slices"]) * cfg.per_image_ms) / 1e3
            if ok and r["slices"] is not None
            else None
        )
        r["overhead_s"] = float(r["time_s"]) - r["model_s"] if r["model_s"] is not None else None
        r["speedup_vs_bs1"] = (
            float(base["time_s"]) / float(r["time_s"]) if ok and base is not None else None
        )
        r["target"] = ""
        r["met"] = None
        if r["library"] == "tilewise" and ok:
            # Falls with batch size: each step no slower than the previous (5 % noise slack).
            t = float(r["time_s"])
            r["target"] = "falls with batch size"
            r["met"] = prev is None or t <= prev * 1.05
            prev = t
    return rows
