"""Smoke test of the tracking benchmark: the quick path runs and its rows are well formed.

Nothing here asserts on scores or speed; those are recorded by ``python -m benchmarks``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.peers


def test_quick_tracking_benchmark_rows() -> None:
    pytest.importorskip("trackers")
    pytest.importorskip("skimage")
    from benchmarks import bench_tracking

    rows = bench_tracking.run(quick=True, log=lambda _line: None)
    libraries = [r["library"] for r in rows]
    assert libraries == ["tilewise", "trackers bytetrack", "trackers ocsort", "trackers sort"]
    for r in rows:
        assert r["status"] == "ok"
        for key in ("HOTA", "IDF1", "MOTA", "AssA", "DetA"):
            assert isinstance(r[key], float)
            assert r[key] <= 1.0
        assert r["frames_per_s"] > 0
    assert isinstance(rows[0]["met"], bool)
    assert "IDF1" in bench_tracking.table(rows)
    assert len(bench_tracking.targets(rows)) == 1


def test_quick_real_detector_tracking_rows() -> None:
    pytest.importorskip("trackers")
    pytest.importorskip("onnxruntime")
    from benchmarks import bench_tracking

    from tilewise.synth.video import FRAME_KEY

    gt, dets = bench_tracking.make_real_case(101, quick=True, frames=3)
    assert len(dets) == 3  # one Detections per rendered frame, from the bundled model
    assert set(np.asarray(gt.data[FRAME_KEY]).tolist()) <= {0, 1, 2}
    rows = bench_tracking.run_real(quick=True, log=lambda _line: None, frames=3)
    assert [r["library"] for r in rows] == [
        "tilewise",
        "trackers bytetrack",
        "trackers ocsort",
        "trackers sort",
    ]
    assert all(r["detector"] == "bundled ONNX, sliced" and r["frames"] == 3 for r in rows)
    assert rows[0]["detections"] == sum(len(d) for d in dets)  # the same detections for all
