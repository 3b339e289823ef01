"""The raster benchmark's cases on a tiny generated GeoTIFF: outcomes and equal detections.

Nothing here asserts on speed: timings are measured only by ``python -m benchmarks``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rasterio")
pytest.importorskip("onnxruntime")
pytest.importorskip("supervision")

from benchmarks import bench_raster


def test_windowed_run_equals_the_in_memory_run_and_peers_are_recorded(tmp_path):
    rows = bench_raster.run(
        sides=[1024],
        cases=("tilewise", "tilewise-memory", "supervision-none"),
        workdir=tmp_path,
        log=lambda line: None,
    )
    by_case = {r["case"]: r for r in rows}
    ours, memory, peer = (by_case[c] for c in ("tilewise", "tilewise-memory", "supervision-none"))
    assert ours["outcome"] == memory["outcome"] == peer["outcome"] == "ok"
    assert ours["windows_skipped"] > 0  # the nodata third
    assert peer["windows_skipped"] == 0
    assert ours["detections"] == memory["detections"]
    assert ours["ap50"] == memory["ap50"]
    assert ours["ap50_equal_in_memory"] is True
    a = np.load(tmp_path / "det-1024-tilewise.npz")
    b = np.load(tmp_path / "det-1024-tilewise-memory.npz")
    np.testing.assert_array_equal(a["xyxy"], b["xyxy"])
    assert ours["peak_rss_mb"] > 0
    assert "| 1024² | tilewise |" in bench_raster.table(rows)


def test_a_capped_case_records_its_failure(tmp_path):
    path = tmp_path / "r.tif"
    bench_raster.generate(path, 512)
    row = bench_raster._isolated("tilewise", path, tmp_path / "d.npz", cap_gb=0.05, timeout=120)
    assert row["outcome"] != "ok"  # 50 MB of address space: cannot even import numpy


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        # (outcome, time, detections, rss) per run -> (outcome, median, min, rss)
        ([("ok", 3.0, 7, 10.0)], ("ok", 3.0, None, 10.0)),
        ([("ok", 3.0, 7, 10.0), ("ok", 1.0, 7, 12.0)], ("ok", 2.0, 1.0, 12.0)),
        ([("ok", 3.0, 7, 10.0), ("ok", 1.0, 7, 12.0), ("ok", 5.0, 7, 9.0)], ("ok", 3.0, 1.0, 12.0)),
        ([("ok", 3.0, 7, 10.0), ("boom", 1.0, None, 12.0)], ("boom", 1.0, None, 12.0)),
        ([("ok", 3.0, 7, 10.0), ("ok", 1.0, 8, 12.0)], ("detections differ", 2.0, 1.0, 12.0)),
    ],
)
def test_repeated_runs_combine_into_median_and_min(runs, expected):
    rows = [
        {"outcome": o, "time_s": t, "detections": d, "peak_rss_mb": m, "load": [0.0, 0.0]}
        for o, t, d, m in runs
    ]
    row = bench_raster._combine(rows)
    outcome, median, minimum, rss = expected
    assert row["outcome"].startswith(outcome)
    assert (row["time_s"], row.get("time_min_s"), row["peak_rss_mb"]) == (median, minimum, rss)
