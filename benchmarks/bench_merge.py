"""Merge benchmark: NMS / NMM / greedy NMM / WBF on clustered duplicate boxes.

Input: :func:`benchmarks.data.clustered_boxes` — clusters of 2-6 overlapping duplicates
per object over a 10k x 10k canvas, 10 classes, shuffled — at each N. All libraries in a
run get the same seeded input (checked by checksum), class-aware, IoU 0.5.

tilewise runs with its C kernels (``tilewise``, ``tilewise-kernel``) and with their pure-numpy
twin (``tilewise-numpy``: the same Detections-level merge with ``TILEWISE_KERNELS=python``,
what a user without a compiler gets).

Peers: supervision ``with_nms`` / ``with_nmm``, SAHI's numpy-backend ``batched_nms`` /
``batched_greedy_nmm`` / ``batched_nmm``, ensemble-boxes ``weighted_boxes_fusion``.
Infeasible peer sizes are skipped (supervision's N x N matrix) or time-limited (SAHI).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.data import DEFAULT_SEED, MergeInput, clustered_boxes
from benchmarks.measure import Prepared, Unavailable, run_case

__all__ = [
    "FULL_SIZES",
    "METHODS",
    "MergeConfig",
    "QUICK_SIZES",
    "build_case",
    "evaluate_targets",
    "input_mismatches",
    "run",
    "tilewise_merge_call",
]

FULL_SIZES = (10_000, 20_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000,)
METHODS = ("nms", "nmm", "greedy_nmm", "wbf")
LIBRARIES = (
    "tilewise",
    "tilewise-kernel",
    "tilewise-numpy",
    "supervision",
    "sahi",
    "ensemble-boxes",
)
PEER_METHODS: dict[str, tuple[str, ...]] = {
    "supervision": ("nms", "nmm"),
    "sahi": ("nms", "greedy_nmm", "nmm"),
    "ensemble-boxes": ("wbf",),
}
# What each peer method is compared with (tilewise's method of the same meaning).
# supervision's with_nmm is a greedy grouping; the target pairs it with NMM, and
# the ratio against tilewise's greedy_nmm is given in the note.
PEER_LABEL = {
    ("supervision", "nms"): "with_nms",
    ("supervision", "nmm"): "with_nmm (greedy)",
    ("sahi", "nms"): "batched_nms",
    ("sahi", "greedy_nmm"): "batched_greedy_nmm",
    ("sahi", "nmm"): "batched_nmm",
    ("ensemble-boxes", "wbf"): "weighted_boxes_fusion",
}

# Targets from the issue ("Speed and memory").
TARGET_SV_N, TARGET_SV_RATIO = 10_000, 50.0
TARGET_SAHI_N, TARGET_SAHI_RATIO = 20_000, 2.0
TARGET_BIG_N, TARGET_BIG_S, TARGET_BIG_MB = 1_000_000, 5.0, 1024.0
# The numpy fallback (issue 10): faster than SAHI's numpy backend at 20k.
TARGET_NUMPY_N = 20_000


@dataclass
class MergeConfig:
    """What to run and the limits for peers."""

    sizes: Sequence[int] = FULL_SIZES
    methods: Sequence[str] = METHODS
    libraries: Sequence[str] = LIBRARIES
    threshold: float = 0.5
    seed: int = DEFAULT_SEED
    peer_timeout_s: float = 120.0
    supervision_timeout_s: float = 300.0
    tilewise_timeout_s: float = 300.0
    sahi_max_n: int | None = None
    ensemble_max_n: int | None = None
    memory_budget_gb: float = 12.0
    repeats: int = 3
    slow_s: float = 2.0
    tilewise_slow_s: float = 10.0
    isolate: bool = True
    profile: bool = False


# ----------------------------------------------------------------------------- builders


def _count_keep(keep: Any) -> int:
    arr = np.asarray(keep)
    return int(np.count_nonzero(arr)) if arr.dtype == bool else int(arr.size)


def tilewise_merge_call(
    method: str,
    inp: MergeInput,
    *,
    threshold: float = 0.5,
    kernel: bool = False,
    backend: str | None = None,
) -> Callable[[], int]:
    """tilewise's Detections-level merge (or its array kernel) on ``inp``.

    ``backend`` (``"native"`` or ``"python"``) runs the call with that kernel backend.
    """
    try:
        from tilewise import Detections
        from tilewise import merge as tw_merge
        from tilewise.kernels import use_backend
    except ImportError as exc:
        raise Unavailable(f"tilewise.merge not importable: {exc}") from exc
    if backend is not None:
        call = tilewise_merge_call(method, inp, threshold=threshold, kernel=kernel)

        def with_backend() -> int:
            with use_backend(backend):
                return call()

        return with_backend
    name = f"{method}_kernel" if kernel else method
    fn = getattr(tw_merge, name, None)
    if fn is None:
        raise Unavailable(f"tilewise.merge has no {name}")
    if kernel:
        xyxy, conf, cls = inp.xyxy.copy(), inp.confidence.copy(), inp.class_id.copy()
        return lambda: _count_keep(
            fn(xyxy, conf, cls, threshold=threshold, metric="iou", class_agnostic=False).keep
        )
    det = Detections(inp.xyxy.copy(), inp.confidence.copy(), inp.class_id.copy())
    return lambda: len(fn(det, threshold=threshold, metric="iou", class_agnostic=False))


def _maker(library: str) -> Callable[..., Callable[[], int]]:
    if library == "tilewise":
        return tilewise_merge_call
    if library == "tilewise-kernel":
        return lambda method, inp, threshold: tilewise_merge_call(
            method, inp, threshold=threshold, kernel=True
        )
    if library == "tilewise-numpy":
        return lambda method, inp, threshold: tilewise_merge_call(
            method, inp, threshold=threshold, backend="python"
        )
    if library == "supervision":
        return peers.supervision_merge_call
    if library == "sahi":
        return peers.sahi_merge_call
    if library == "ensemble-boxes":
        return peers.ensemble_wbf_call
    raise ValueError(f"unknown library {library!r}")


def build_case(case: dict[str, Any]) -> Prepared:
    """Builder for :mod:`benchmarks.measure`: input, conversion and warm-up, untimed."""
    inp = clustered_boxes(int(case["n"]), seed=int(case["seed"]))
    make = _maker(str(case["library"]))
    method, thr = str(case["method"]), float(case["threshold"])
    call = make(method, inp, threshold=thr)
    warm = make(method, inp.head(min(500, len(inp))), threshold=thr)
    return Prepared(call=call, warmup=warm, checksum=inp.checksum())


# ----------------------------------------------------------------------------- runner


# How a peer's time grows with N, to skip runs that would surely pass the timeout.
GROWTH_EXPONENT = {"supervision": 2.0, "ensemble-boxes": 2.0, "sahi": 1.0}


def _skip_reason(
    cfg: MergeConfig,
    library: str,
    method: str,
    n: int,
    history: dict[tuple[str, str], tuple[int, float]],
) -> str | None:
    if library == "supervision" and method == "nms":
        # with_nms computes the full N x N IoU matrix (and temporaries of the same size).
        est_gb = peers.SV_BYTES_PER_PAIR * n * n / 1e9
        if est_gb > cfg.memory_budget_gb:
            matrix_gb = 8.0 * n * n / 1e9
            return (
                f"skipped (O(N²) memory: NxN float64 alone {matrix_gb:,.1f} GB, "
                f"~{est_gb:,.0f} GB peak est.)"
            )
    if library == "sahi" and cfg.sahi_max_n is not None and n > cfg.sahi_max_n:
        return f"skipped (N > {cfg.sahi_max_n:,}: not run at this size)"
    if library == "ensemble-boxes" and cfg.ensemble_max_n is not None and n > cfg.ensemble_max_n:
        return f"skipped (N > {cfg.ensemble_max_n:,}: not run at this size)"
    prev = history.get((library, method))
    if prev is not None and library in GROWTH_EXPONENT:
        n_prev, t_prev = prev
        est = t_prev * (n / n_prev) ** GROWTH_EXPONENT[library]
        limit = _timeout(cfg, library)
        if est > limit:
            return (
                f"skipped (est. ~{est:,.0f} s from {t_prev:.1f} s at N={n_prev:,}: "
                f"over the {limit:.0f} s limit)"
            )
    return None


def _timeout(cfg: MergeConfig, library: str) -> float:
    if library.startswith("tilewise"):
        return cfg.tilewise_timeout_s
    if library == "supervision":
        return max(cfg.supervision_timeout_s, cfg.peer_timeout_s)
    return cfg.peer_timeout_s


def _label(library: str, method: str) -> str:
    if library == "tilewise-kernel":
        return f"{method}_kernel"
    if library == "tilewise-numpy":
        return f"{method} (numpy kernels)"
    return PEER_LABEL.get((library, method), method)


def _status_text(res: dict[str, Any]) -> str:
    status = str(res.get("status", "error"))
    if status == "timeout":
        return f"timeout (>{res.get('timeout_s', 0):.0f} s)"
    if status == "skipped":
        return str(res.get("reason", "skipped"))
    if status in ("unavailable", "error"):
        return f"{status}: {res.get('error', '')}"[:160]
    return status


def run(
    cfg: MergeConfig | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the merge benchmark; returns one row per (N, library, method)."""
    cfg = cfg or MergeConfig()
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    rows: list[dict[str, Any]] = []
    timed_out: set[str] = set()
    history: dict[tuple[str, str], tuple[int, float]] = {}
    for n in cfg.sizes:
        for method in cfg.methods:
            for library in cfg.libraries:
                if library in PEER_METHODS and method not in PEER_METHODS[library]:
                    continue
                timed_out_key = f"{library}:{method}"
                reason = _skip_reason(cfg, library, method, n, history)
                if reason is None and timed_out_key in timed_out:
                    reason = "skipped (timed out at a smaller N)"
                if reason is not None:
                    res: dict[str, Any] = {"status": "skipped", "reason": reason}
                else:
                    case = {
                        "builder": "benchmarks.bench_merge:build_case",
                        "library": library,
                        "method": method,
                        "n": n,
                        "seed": cfg.seed,
                        "threshold": cfg.threshold,
                        "repeats": cfg.repeats,
                        "slow_s": (
                            cfg.tilewise_slow_s if library.startswith("tilewise") else cfg.slow_s
                        ),
                        "profile": cfg.profile and library.startswith("tilewise"),
                    }
                    res = run_case(case, timeout=_timeout(cfg, library), isolate=cfg.isolate)
                    if res.get("status") == "timeout":
                        timed_out.add(timed_out_key)
                    elif res.get("status") == "ok":
                        history[(library, method)] = (n, float(res["time_s"]))
                row = {
                    "section": "merge",
                    "n": n,
                    "library": library,
                    "method": method,
                    "function": _label(library, method),
                    "status": res.get("status", "error"),
                    "status_text": _status_text(res),
                    "time_s": res.get("time_s"),
                    "repeats": res.get("repeats"),
                    "times_s": res.get("times_s"),
                    "peak_delta_mb": res.get("peak_delta_mb"),
                    "peak_mb": res.get("peak_mb"),
                    "kept": res.get("kept"),
                    "checksum": res.get("checksum"),
                    "ratio": None,
                    "target": "",
                    "met": None,
                    "note": "",
                }
                if "profile" in res:
                    row["profile"] = res["profile"]
                rows.append(row)
                log(_progress_line(row))
    evaluate_targets(rows)
    for n, sums in input_mismatches(rows).items():
        log(f"  merge N={n:,}: INPUT MISMATCH across libraries {sums}; no ratios at this N")
    _check_checksums(rows)
    return rows


def _progress_line(row: dict[str, Any]) -> str:
    if row["status"] == "ok":
        return (
            f"  merge N={row['n']:>9,} {row['library']:<15} {row['method']:<10} "
            f"{row['time_s']:9.4f} s  Δmem {row['peak_delta_mb']:8.1f} MiB  kept {row['kept']}"
        )
    return f"  merge N={row['n']:>9,} {row['library']:<15} {row['method']:<10} {row['status_text']}"


def _find(rows: list[dict[str, Any]], n: int, library: str, method: str) -> dict[str, Any] | None:
    for r in rows:
        if r["n"] == n and r["library"] == library and r["method"] == method:
            return r
    return None


def _ok_time(row: dict[str, Any] | None) -> float | None:
    if row is None or row["status"] != "ok" or not row["time_s"]:
        return None
    return float(row["time_s"])


def evaluate_targets(rows: list[dict[str, Any]]) -> None:
    """Fill ``ratio``, ``target`` and ``met`` in place."""
    for row in rows:
        lib, n, method = row["library"], row["n"], row["method"]
        if lib in PEER_METHODS:
            tw = _ok_time(_find(rows, n, "tilewise", method))
            peer = _ok_time(row)
            if tw and peer:
                row["ratio"] = peer / tw
            if lib == "supervision" and method == "nmm":
                greedy = _ok_time(_find(rows, n, "tilewise", "greedy_nmm"))
                if greedy and peer:
                    row["note"] = f"vs tilewise greedy_nmm: {peer / greedy:,.0f}x"
            if lib == "supervision" and n == TARGET_SV_N:
                row["target"] = f"≥ {TARGET_SV_RATIO:.0f}x"
                row["met"] = None if row["ratio"] is None else row["ratio"] >= TARGET_SV_RATIO
            if lib == "sahi" and n == TARGET_SAHI_N:
                row["target"] = f"≥ {TARGET_SAHI_RATIO:.0f}x"
                row["met"] = None if row["ratio"] is None else row["ratio"] >= TARGET_SAHI_RATIO
        elif lib == "tilewise-numpy":
            _numpy_row(rows, row)
        elif lib == "tilewise" and n == TARGET_BIG_N and method in ("nms", "nmm"):
            row["target"] = f"< {TARGET_BIG_S:.0f} s, < {TARGET_BIG_MB / 1024:.0f} GB"
            if row["status"] == "ok":
                row["met"] = (
                    float(row["time_s"]) < TARGET_BIG_S and float(row["peak_mb"]) < TARGET_BIG_MB
                )


def _numpy_row(rows: list[dict[str, Any]], row: dict[str, Any]) -> None:
    """Note the numpy kernels' cost against the C kernels and SAHI; the 20k target."""
    n, method = row["n"], row["method"]
    mine = _ok_time(row)
    native = _ok_time(_find(rows, n, "tilewise", method))
    sahi = _ok_time(_find(rows, n, "sahi", method))
    notes = []
    if mine and native:
        notes.append(f"{mine / native:,.1f}x the C kernels' time")
    if mine and sahi:
        notes.append(f"SAHI {sahi / mine:,.1f}x slower")
    row["note"] = "; ".join(notes)
    if n == TARGET_NUMPY_N and method in PEER_METHODS["sahi"]:
        row["target"] = "faster than SAHI"
        row["met"] = None if not (mine and sahi) else sahi > mine


def input_mismatches(rows: list[dict[str, Any]]) -> dict[int, list[str]]:
    """The sizes N at which the measured libraries did not all see the same input.

    Returns N -> the distinct input checksums of its measured rows (only where more than one).
    """
    by_n: dict[int, set[str]] = {}
    for r in rows:
        if r["status"] == "ok":
            by_n.setdefault(r["n"], set()).add(str(r.get("checksum") or "missing"))
    return {n: sorted(sums) for n, sums in by_n.items() if len(sums) > 1}


def _check_checksums(rows: list[dict[str, Any]]) -> None:
    """Refuse every ratio and verdict at a size whose libraries saw different inputs.

    A ratio between two libraries only means something if both merged the same boxes; a
    mismatch (a non-deterministic generator, a library that changed its input) clears
    ``ratio`` and ``met`` for every row of that N and says so in ``note``.
    """
    bad = input_mismatches(rows)
    for r in rows:
        sums = bad.get(r["n"])
        if sums is None:
            continue
        r["ratio"] = None
        r["met"] = None
        r["input_mismatch"] = True
        r["note"] = (
            f"INPUT MISMATCH across libraries ({len(sums)} different input checksums at "
            f"N={r['n']:,}): no ratio or verdict"
        )
