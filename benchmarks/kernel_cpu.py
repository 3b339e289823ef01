"""Process CPU time of the numpy twin beside SAHI's numpy backend (and the C kernels).

On a shared machine wall-clock times swing with the other jobs; the CPU time a process
spends (``time.process_time()``) swings far less. This runs the merge benchmark's own calls
(``bench_merge.tilewise_merge_call`` with ``backend="python"`` / ``"native"``,
``peers.sahi_merge_call``) back to back in one process on the same seeded input and keeps
the best of ``--repeats`` runs per call (after one warm-up call)::

    python -m benchmarks.kernel_cpu --sizes 100k,1M --repeats 3

Rows print as a Markdown table; ``same kept`` compares the twin's kept count with the C
kernels' (SAHI's NMM groups differently, so its count is shown, not compared).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks import peers
from benchmarks.__main__ import md_table, parse_size
from benchmarks.bench_merge import tilewise_merge_call
from benchmarks.data import clustered_boxes
from benchmarks.measure import Unavailable

__all__ = ["CpuRow", "best_cpu", "cpu_rows", "main", "table"]

METHODS = ("nms", "greedy_nmm", "nmm", "wbf")


@dataclass(frozen=True)
class CpuRow:
    """Best process CPU seconds of each library for one (N, method); None: not run."""

    n: int
    method: str
    native_s: float
    twin_s: float
    sahi_s: float | None
    native_kept: int
    twin_kept: int
    sahi_kept: int | None


def best_cpu(call: Callable[[], int], repeats: int) -> tuple[float, int]:
    """Best ``time.process_time()`` of ``repeats`` calls after a warm-up, and the kept count."""
    kept = call()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        kept = call()
        best = min(best, time.process_time() - start)
    return best, kept


def cpu_rows(n: int, methods: Sequence[str] = METHODS, repeats: int = 3) -> list[CpuRow]:
    """C kernels, numpy twin and SAHI, back to back on the clustered input of ``n`` boxes."""
    inp = clustered_boxes(n)
    rows = []
    for method in methods:
        native_s, native_kept = best_cpu(
            tilewise_merge_call(method, inp, backend="native"), repeats
        )
        twin_s, twin_kept = best_cpu(tilewise_merge_call(method, inp, backend="python"), repeats)
        try:
            sahi = peers.sahi_merge_call(method, inp)
        except Unavailable:
            sahi_s, sahi_kept = None, None
        else:
            sahi_s, sahi_kept = best_cpu(sahi, repeats)
        rows.append(CpuRow(n, method, native_s, twin_s, sahi_s, native_kept, twin_kept, sahi_kept))
    return rows


def table(rows: Sequence[CpuRow]) -> str:
    """Markdown table: CPU seconds, twin / C and SAHI / twin."""
    headers = ("N", "method", "C kernels", "numpy twin", "twin / C", "SAHI numpy", "SAHI / twin",
               "same kept")  # fmt: skip
    body = [
        (
            f"{r.n:,}",
            r.method,
            f"{r.native_s:.3f} s",
            f"{r.twin_s:.3f} s",
            f"{r.twin_s / r.native_s:.1f}x",
            "—" if r.sahi_s is None else f"{r.sahi_s:.3f} s",
            "—" if r.sahi_s is None else f"{r.sahi_s / r.twin_s:.2f}x",
            "yes" if r.twin_kept == r.native_kept else "NO",
        )
        for r in rows
    ]
    return md_table(headers, body)


def main(argv: Sequence[str] | None = None) -> str:
    """Parse the command line, measure, print and return the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kernel_cpu", description=__doc__)
    parser.add_argument("--sizes", default="100k,1M", help="e.g. 100k,1M")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = []
    for size in args.sizes.split(","):
        rows += cpu_rows(parse_size(size), args.methods.split(","), args.repeats)
    out = table(rows)
    print(out)
    return out


if __name__ == "__main__":
    main()
