"""Timing and peak-memory measurement, each case in a fresh Python process.

A *case* is a JSON-able dict naming a builder (``"module:function"``) and its
parameters. The builder runs inside the measuring process, builds the input (seeded),
converts it to the library's own format — all outside the timed region — and returns a
:class:`Prepared` whose ``call`` is the operation to time.

Memory: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is read before and after the
timed calls. On Linux a child's ``ru_maxrss`` also counts the parent's resident size at
fork time, so the process's own high-water mark (``VmHWM`` in ``/proc/self/status``)
is read as well and, where ``/proc/self/clear_refs`` is writable, reset just before the
timed calls; then "peak delta" is exactly how far resident memory rose above its level
at the start of the call. Without ``/proc`` the ``ru_maxrss`` difference is used.

Run as ``python -m benchmarks.measure '<case json>'``; the result is one JSON line on
stdout, prefixed by ``RESULT_PREFIX``.
"""

from __future__ import annotations

import cProfile
import gc
import importlib
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Prepared",
    "RESULT_PREFIX",
    "Unavailable",
    "measure_prepared",
    "run_case",
    "run_inline",
    "run_isolated",
]

RESULT_PREFIX = "@@tilewise-bench-result@@ "
REPO_ROOT = Path(__file__).resolve().parent.parent


class Unavailable(Exception):  # noqa: N818 - reads better in results ("unavailable: ...")
    """Raised by a builder when the library or API under test is not installed/importable."""


@dataclass
class Prepared:
    """A ready-to-time operation.

    Attributes:
        call: runs the measured operation once and returns the number of detections kept.
        warmup: run once, untimed, before the timed calls (e.g. on a small input, so the
            first call of a compiled extension or a lazy import is not timed).
        checksum: fingerprint of the input, so the runner can check that every library
            got the same one.
        info: called after the timed calls; returns extra facts for the result row
            (e.g. how many images the fake model saw in the last call).
    """

    call: Callable[[], int]
    warmup: Callable[[], object] | None = None
    checksum: str = ""
    info: Callable[[], dict[str, Any]] | None = None


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_high_water_mark() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False when unsupported."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _maxrss_kb() -> int:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(value // 1024) if sys.platform == "darwin" else int(value)


def _profile_once(call: Callable[[], int], top: int = 25) -> str:
    prof = cProfile.Profile()
    prof.enable()
    call()
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(top)
    buf.write("\n--- by internal time ---\n")
    stats.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def measure_prepared(
    prep: Prepared,
    *,
    repeats: int = 3,
    slow_s: float = 2.0,
    profile: bool = False,
) -> dict[str, Any]:
    """Warm up, then time ``prep.call`` best-of-``repeats`` and record peak memory.

    Repeats stop early once one call took longer than ``slow_s`` (best of 1 for slow
    cases). Returns a dict with ``time_s`` (best), ``times_s``, ``kept``, memory fields
    in MiB and whatever ``prep.info`` adds.
    """
    if prep.warmup is not None:
        prep.warmup()
    gc.collect()
    reset = _reset_high_water_mark()
    rss_now_kb = _proc_status_kb("VmRSS")
    hwm_before = _proc_status_kb("VmHWM")
    maxrss_before = _maxrss_kb()
    times: list[float] = []
    kept = -1
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        kept = prep.call()
        times.append(time.perf_counter() - t0)
        if times[-1] > slow_s:
            break
        gc.collect()
    maxrss_after = _maxrss_kb()
    hwm_after = _proc_status_kb("VmHWM")
    if reset and hwm_before is not None and hwm_after is not None and rss_now_kb is not None:
        delta_kb = hwm_after - rss_now_kb
        peak_kb = hwm_after
        how = "VmHWM reset"
    elif hwm_before is not None and hwm_after is not None:
        delta_kb = hwm_after - hwm_before
        peak_kb = hwm_after
        how = "VmHWM"
    else:
        delta_kb = maxrss_after - maxrss_before
        peak_kb = maxrss_after
        how = "ru_maxrss"
    result: dict[str, Any] = {
        "status": "ok",
        "time_s": min(times),
        "times_s": times,
        "repeats": len(times),
        "kept": int(kept),
        "peak_delta_mb": max(delta_kb, 0) / 1024.0,
        "peak_mb": peak_kb / 1024.0,
        "ru_maxrss_before_kb": maxrss_before,
        "ru_maxrss_after_kb": maxrss_after,
        "memory_method": how,
        "checksum": prep.checksum,
    }
    if prep.info is not None:
        result.update(prep.info())
    if profile:
        result["profile"] = _profile_once(prep.call)
    return result


def _build(case: dict[str, Any]) -> Prepared:
    module_name, _, func_name = str(case["builder"]).partition(":")
    builder = getattr(importlib.import_module(module_name), func_name)
    prepared: Prepared = builder(case)
    return prepared


def run_inline(case: dict[str, Any]) -> dict[str, Any]:
    """Measure a case in this process (memory figures then include earlier work)."""
    try:
        prep = _build(case)
        return measure_prepared(
            prep,
            repeats=int(case.get("repeats", 3)),
            slow_s=float(case.get("slow_s", 2.0)),
            profile=bool(case.get("profile", False)),
        )
    except Unavailable as exc:
        return {"status": "unavailable", "error": str(exc)}
    except Exception as exc:
        return {
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
        }


def run_isolated(case: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """Measure a case in a fresh ``python -m benchmarks.measure`` subprocess.

    Returns ``{"status": "timeout", ...}`` when it runs past ``timeout`` seconds (the
    child is killed), ``{"status": "error", ...}`` when it crashes.
    """
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONHASHSEED", "0")
    cmd = [sys.executable, "-m", "benchmarks.measure", json.dumps(case)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(REPO_ROOT),
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "timeout_s": timeout}
    wall = time.perf_counter() - t0
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            result["process_wall_s"] = wall
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
    return {
        "status": "error",
        "error": f"exit code {proc.returncode}: " + " | ".join(tail),
    }


def run_case(case: dict[str, Any], *, timeout: float, isolate: bool = True) -> dict[str, Any]:
    """Measure ``case`` in a subprocess (default) or in this process."""
    return run_isolated(case, timeout=timeout) if isolate else run_inline(case)


def _child_main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m benchmarks.measure '<case json>'", file=sys.stderr)
        return 2
    case = json.loads(argv[1])
    # Run through the importable module (not __main__) so builders' exception classes match.
    from benchmarks import measure

    result = measure.run_inline(case)
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv))
