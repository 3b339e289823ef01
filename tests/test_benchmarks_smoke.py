"""Smoke test of the benchmark suite: the tiny ``--quick`` path runs and its rows are well formed.

Nothing here asserts on speed: timings are measured only by ``python -m benchmarks``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
STATUSES = {"ok", "skipped", "timeout", "unavailable", "error"}

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pytest.importorskip("supervision")
    pytest.importorskip("sahi")
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    results_md = out.with_name("RESULTS.md")
    results_md.write_text("# Results\n\nprose kept\n", encoding="utf-8")
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [
            sys.executable, "-m", "benchmarks", "--quick", "--only", "merge,slicer,batch",
            "--json", str(out), "--write-results", str(results_md),
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    payload: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    payload["stdout"] = proc.stdout
    payload["results_md"] = results_md.read_text(encoding="utf-8")
    return payload


def _check_measured(row: dict[str, Any]) -> None:
    assert isinstance(row["time_s"], float)
    assert row["time_s"] > 0
    assert isinstance(row["kept"], int)
    assert row["kept"] >= 0
    assert isinstance(row["repeats"], int)
    assert row["repeats"] >= 1
    assert row["peak_mb"] is not None
    assert row["peak_mb"] >= 0
    assert row["peak_delta_mb"] is not None
    assert row["peak_delta_mb"] >= 0


def test_header_names_machine_and_versions(quick_run: dict[str, Any]) -> None:
    header = quick_run["header"]
    assert header["command"].startswith("python -m benchmarks")
    assert "UTC" in header["date"]
    assert header["machine"]["cores"] >= 1
    assert {"tilewise", "supervision", "sahi", "numpy"} <= set(header["versions"])


def test_merge_rows_well_formed(quick_run: dict[str, Any]) -> None:
    rows = quick_run["results"]["merge"]
    assert rows
    for row in rows:
        assert row["status"] in STATUSES
        assert row["status"] != "error", row["status_text"]
        assert isinstance(row["n"], int)
        assert row["n"] > 0
        assert row["method"] in {"nms", "nmm", "greedy_nmm", "wbf"}
        if row["status"] == "ok":
            _check_measured(row)
            assert 0 < row["kept"] <= row["n"]
    peers_ok = {(r["library"], r["method"]) for r in rows if r["status"] == "ok"}
    assert {("supervision", "nms"), ("sahi", "nms"), ("sahi", "nmm")} <= peers_ok
    # Every library measured the same seeded input.
    assert len({r["checksum"] for r in rows if r["status"] == "ok"}) == 1
    # tilewise itself must have run every method (an import error would make it "unavailable")
    for method in ("nms", "nmm", "greedy_nmm", "wbf"):
        for library in ("tilewise", "tilewise-kernel"):
            row = next(r for r in rows if r["library"] == library and r["method"] == method)
            assert row["status"] == "ok", row["status_text"]
    ratios = [r["ratio"] for r in rows if r["library"] == "sahi" and r["status"] == "ok"]
    assert len(ratios) == 3
    assert all(isinstance(x, float) and x > 0 for x in ratios)


def test_slicer_rows_saw_the_same_grid(quick_run: dict[str, Any]) -> None:
    rows = quick_run["results"]["slicer"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert {r["library"] for r in ok} >= {"supervision", "sahi"}
    for row in rows:
        assert row["status"] in STATUSES, row["status_text"]
        assert row["status"] != "error", row["status_text"]
    for row in ok:
        _check_measured(row)
        assert row["model_calls"] >= 1
    assert len({r["slices"] for r in ok}) == 1, [(r["library"], r["slices"]) for r in ok]
    peer_kept = {r["kept"] for r in ok if r["library"] != "tilewise"}
    assert len(peer_kept) == 1, [(r["library"], r["kept"]) for r in ok]
    assert {r["batch_size"] for r in ok if r["library"] == "tilewise"} == {1, 8}
    assert len({r["kept"] for r in ok}) == 1, [(r["library"], r["kept"]) for r in ok]


def test_batch_rows_well_formed(quick_run: dict[str, Any]) -> None:
    rows = quick_run["results"]["batch"]
    for row in rows:
        assert row["status"] in STATUSES, row["status_text"]
        assert row["status"] != "error", row["status_text"]
        if row["status"] == "ok":
            assert row["slices_per_s"] > 0
            assert row["model_s"] >= 0
            # A batch of b slices means ceil(slices / b) model calls.
            assert row["model_calls"] == -(-row["slices"] // row["batch_size"])


def test_report_printed_and_written(quick_run: dict[str, Any]) -> None:
    for text in (quick_run["stdout"], quick_run["results_md"]):
        assert "## Latest run" in text
        assert "#### Merge, N = 1,000" in text
        assert "### Slicer overhead" in text
    md = quick_run["results_md"]
    assert md.startswith("# Results\n\nprose kept\n")
    assert md.count("latest-run:begin") == 1
    assert md.count("latest-run:end") == 1


def test_write_results_replaces_only_the_latest_section(tmp_path: Path) -> None:
    from benchmarks.__main__ import write_results

    path = tmp_path / "R.md"
    path.write_text("# T\n\nintro\n", encoding="utf-8")
    write_results(path, "## Latest run\n\nfirst\n")
    path.write_text(path.read_text(encoding="utf-8") + "\n## Notes\n\nkept\n", encoding="utf-8")
    write_results(path, "## Latest run\n\nsecond\n")
    text = path.read_text(encoding="utf-8")
    assert "second" in text
    assert "first" not in text
    assert text.startswith("# T\n\nintro\n")
    assert text.rstrip().endswith("kept")


def test_isolated_case_reports_time_and_memory() -> None:
    pytest.importorskip("sahi")
    from benchmarks.measure import run_isolated

    case = {
        "builder": "benchmarks.bench_merge:build_case",
        "library": "sahi",
        "method": "nms",
        "n": 300,
        "seed": 1,
        "threshold": 0.5,
        "repeats": 1,
    }
    res = run_isolated(case, timeout=300)
    assert res["status"] == "ok", res
    assert res["time_s"] > 0
    assert res["kept"] > 0
    assert res["peak_mb"] > 0
    assert res["peak_delta_mb"] >= 0
    assert res["ru_maxrss_after_kb"] >= res["ru_maxrss_before_kb"] > 0


def test_parse_size_and_generator() -> None:
    from benchmarks.__main__ import parse_size
    from benchmarks.data import clustered_boxes

    assert [parse_size(s) for s in ("10k", "1M", "2500", "0.5k")] == [10_000, 1_000_000, 2500, 500]
    a, b = clustered_boxes(997, seed=3), clustered_boxes(997, seed=3)
    assert len(a) == 997
    assert a.checksum() == b.checksum()
    assert a.checksum() != clustered_boxes(997, seed=4).checksum()
    assert (a.xyxy[:, 2] >= a.xyxy[:, 0]).all()
    assert (a.xyxy[:, 3] >= a.xyxy[:, 1]).all()
    assert 997 / 6 <= a.n_objects <= 997 / 2 + 1


def test_onnx_section_quick_rows_are_well_formed() -> None:
    pytest.importorskip("supervision")
    pytest.importorskip("skimage")
    from benchmarks import bench_onnx

    rows = bench_onnx.run(quick=True)
    onnx = [r for r in rows if r["group"] == "onnx"]
    libs = ["tilewise", "tilewise (pipelined)", "supervision", "model alone (bound)"]
    assert [r["library"] for r in onnx] == libs
    assert len({r["kept"] for r in onnx[:3]}) == 1  # same model, same slices, same merge
    assert onnx[3]["kept"] >= onnx[0]["kept"]  # raw detections, before merging
    assert {r["group"] for r in rows} <= {"onnx", "torch-cuda"}
    assert all(r["time_s"] > 0 and r["slices_per_s"] > 0 for r in rows)
    (line,) = bench_onnx.targets(rows)
    assert line[2] in {"yes", "NO"}
