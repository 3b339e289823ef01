"""RESULTS.md's kernel-backend table is the rendering of the run kept beside it (issue 10)."""

from __future__ import annotations

import json

import pytest
from benchmarks.__main__ import RESULTS_PATH
from benchmarks.kernel_backends import JSON_PATH, backend_table, section


def _row(n: int, library: str, method: str, time_s: float, kept: int = 10) -> dict:
    return {
        "n": n, "library": library, "method": method, "status": "ok", "time_s": time_s,
        "peak_delta_mb": 1.0, "kept": kept,
    }  # fmt: skip


def test_table_gives_ratios_against_the_c_kernels_and_sahi() -> None:
    rows = [
        _row(1000, "tilewise", "nms", 0.001),
        _row(1000, "tilewise-numpy", "nms", 0.004),
        _row(1000, "sahi", "nms", 0.02),
        _row(1000, "tilewise", "wbf", 0.002),
        _row(1000, "tilewise-numpy", "wbf", 0.01, kept=9),
    ]
    lines = backend_table(rows).splitlines()
    nms = next(line for line in lines if "| nms" in line)
    cells = [cell.strip() for cell in nms.split("|")]
    assert cells[5:10] == ["4.00x", "1.0 MiB", "20.0 ms", "5.00x", "yes"]
    wbf = next(line for line in lines if "| wbf" in line)
    cells = [cell.strip() for cell in wbf.split("|")]
    assert cells[5:10] == ["5.00x", "1.0 MiB", "—", "—", "NO"]  # a kept mismatch is shown


def test_results_md_holds_the_kept_run() -> None:
    if not JSON_PATH.is_file():
        pytest.fail(f"{JSON_PATH.name} is missing: RESULTS.md's kernel table has no run behind it")
    run = json.loads(JSON_PATH.read_text())
    assert section(run) in RESULTS_PATH.read_text()
