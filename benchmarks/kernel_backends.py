"""The kernel-backend table of RESULTS.md: the C kernels beside their numpy twin and SAHI.

Rendered from the rows of one merge run kept as ``kernel-backends.json`` beside RESULTS.md:

    python -m benchmarks --only merge --sizes 10k,20k,100k,1M \\
        --libs tilewise,tilewise-numpy,supervision,sahi --json benchmarks/kernel-backends.json
    python -m benchmarks.kernel_backends          # prints the section to paste

``tests/test_benchmark_results.py`` renders the table again from that JSON and requires
RESULTS.md to hold it, so the figures cannot drift from the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.__main__ import RESULTS_PATH, fmt_mb, fmt_ratio, fmt_time, md_table

__all__ = ["JSON_PATH", "backend_table", "section"]

JSON_PATH = RESULTS_PATH.with_name("kernel-backends.json")


def _row(rows: list[dict[str, Any]], n: int, library: str, method: str) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in rows
            if r["n"] == n
            and r["library"] == library
            and r["method"] == method
            and r["status"] == "ok"
        ),
        None,
    )


def backend_table(rows: list[dict[str, Any]]) -> str:
    """One line per (N, method): C kernels, numpy twin, SAHI's numpy backend, ratios."""
    headers = (
        "N", "method", "C kernels", "numpy twin", "twin / C", "twin peak Δ mem",
        "SAHI numpy", "SAHI / twin", "same kept",
    )  # fmt: skip
    body = []
    for n in sorted({r["n"] for r in rows}):
        for method in ("nms", "greedy_nmm", "nmm", "wbf"):
            c = _row(rows, n, "tilewise", method)
            tw = _row(rows, n, "tilewise-numpy", method)
            sahi = _row(rows, n, "sahi", method)
            if c is None and tw is None:
                continue
            body.append(
                (
                    f"{n:,}",
                    method,
                    fmt_time(c["time_s"]) if c else "—",
                    fmt_time(tw["time_s"]) if tw else "—",
                    fmt_ratio(tw["time_s"] / c["time_s"]) if c and tw else "—",
                    fmt_mb(tw["peak_delta_mb"]) if tw else "—",
                    fmt_time(sahi["time_s"]) if sahi else "—",
                    fmt_ratio(sahi["time_s"] / tw["time_s"]) if sahi and tw else "—",
                    ("yes" if c["kept"] == tw["kept"] else "NO") if c and tw else "—",
                )
            )
    return md_table(headers, body)


def section(run: dict[str, Any]) -> str:
    """The table with the run's date, machine and command."""
    header = run["header"]
    m = header["machine"]
    machine = f"{m['cpu']}, {m['cores']} cores, {m['ram_gb']:.1f} GiB, Python {m['python']}"
    return (
        f"_Run {header['date']} on {machine}; {header['mode']}; command: "
        f"`{header['command']}`._\n\n" + backend_table(run["results"]["merge"])
    )


if __name__ == "__main__":
    print(section(json.loads(Path(JSON_PATH).read_text())))
