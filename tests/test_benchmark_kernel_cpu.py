"""The twin-vs-SAHI CPU-time comparison (``benchmarks/kernel_cpu.py``) on a tiny input."""

from __future__ import annotations

import pytest
from benchmarks import kernel_cpu
from benchmarks.kernel_cpu import CpuRow, best_cpu, cpu_rows, table

pytest.importorskip("tilewise.kernels._native")


def test_best_cpu_warms_up_then_keeps_the_best_of_the_repeats():
    calls = []

    def call() -> int:
        calls.append(1)
        return 7

    seconds, kept = best_cpu(call, 3)
    assert len(calls) == 4  # one warm-up, three timed
    assert kept == 7
    assert seconds >= 0.0


def test_rows_run_both_backends_on_the_same_input_and_agree():
    rows = cpu_rows(300, ("nms", "wbf"), repeats=1)
    assert [(r.n, r.method) for r in rows] == [(300, "nms"), (300, "wbf")]
    for r in rows:
        assert r.twin_kept == r.native_kept
        assert r.native_s > 0.0
        assert r.twin_s > 0.0
    assert rows[1].sahi_s is None  # SAHI has no WBF


def test_table_gives_the_ratios():
    rows = [
        CpuRow(1000, "nms", 0.01, 0.04, 0.2, 5, 5, 5),
        CpuRow(1000, "wbf", 0.01, 0.05, None, 4, 3, None),
    ]
    lines = table(rows).splitlines()
    nms = [c.strip() for c in lines[2].split("|")]
    assert nms[1:9] == ["1,000", "nms", "0.010 s", "0.040 s", "4.0x", "0.200 s", "5.00x", "yes"]
    wbf = [c.strip() for c in lines[3].split("|")]
    assert wbf[6:9] == ["—", "—", "NO"]


def test_main_parses_sizes_and_methods(capsys):
    out = kernel_cpu.main(["--sizes", "200", "--methods", "nms", "--repeats", "1"])
    assert "| 200 " in out
    assert out in capsys.readouterr().out
