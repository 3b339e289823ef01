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


def test_quick_real_detector_tracking_rows(tmp_path) -> None:
    pytest.importorskip("trackers")
    pytest.importorskip("onnxruntime")
    from benchmarks import bench_tracking

    from tilewise.synth.video import FRAME_KEY

    gt, dets = bench_tracking.make_real_case(101, quick=True, frames=3, cache=tmp_path)
    assert len(dets) == 3  # one Detections per rendered frame, from the bundled model
    assert set(np.asarray(gt.data[FRAME_KEY]).tolist()) <= {0, 1, 2}
    _, again = bench_tracking.make_real_case(101, quick=True, frames=3, cache=tmp_path)
    for a, b in zip(dets, again, strict=True):  # the cache gives the same detections back
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.confidence, b.confidence)
    rows = bench_tracking.run_real(quick=True, log=lambda _line: None, frames=3, cache=tmp_path)
    libraries = ["tilewise", "trackers bytetrack", "trackers ocsort", "trackers sort"]
    assert [r["library"] for r in rows] == libraries
    assert all(r["detector"] == "bundled ONNX, sliced" and r["frames"] == 3 for r in rows)
    assert rows[0]["detections"] == sum(len(d) for d in dets)  # the same detections for all


def test_dev_sweep_gives_every_tracker_a_dev_chosen_row(tmp_path) -> None:
    pytest.importorskip("trackers")
    pytest.importorskip("onnxruntime")
    from benchmarks import bench_tracking

    log: list[str] = []
    rows = bench_tracking.run_real(quick=True, log=log.append, frames=3, cache=tmp_path,
                                   dev_sweep=True, peer_filter=True)  # fmt: skip
    libraries = ["tilewise", "trackers bytetrack", "trackers ocsort", "trackers sort"]
    # every tracker: defaults, dev-chosen, and a third row: tilewise without min_travel,
    # each peer with the static filter applied offline
    assert [r["library"] for r in rows] == [lib for lib in libraries for _ in "abc"]
    still = rows[2]
    assert still["variant"] == "chosen on dev, min_travel off (6 of 12 settings)"
    assert "min_travel=0.0" in still["params"]
    filtered = rows[5::3]
    assert {r["variant"] for r in filtered} == {
        "chosen on dev, + offline static filter (12 settings)"
    }
    rows = [r for k, r in enumerate(rows) if k % 3 != 2]
    grids = [bench_tracking.REAL_SWEEP, *bench_tracking.REAL_PEER_SWEEP.values()]
    for defaults, chosen, grid in zip(rows[::2], rows[1::2], grids, strict=True):
        assert defaults["variant"] == "defaults"
        assert chosen["variant"] == "chosen on dev (12 settings)"
        settings = bench_tracking._settings(grid)
        assert len(settings) == 12  # the same sweep size for everyone
        params = dict(kv.split("=") for kv in chosen["params"].split(", "))
        assert any(set(params) == set(s) for s in settings)
    sweeps = [line for line in log if "dev sweep" in line]
    assert len(sweeps) == 7 * 12  # every setting of every tracker (+ 3 filtered) on dev, once
    verdicts = [r for r in rows if "met" in r]
    assert verdicts == [rows[1]]  # the target compares the dev-chosen rows only
    assert rows[1]["best_peer"].endswith("(chosen on dev (12 settings))")


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        ({"a": (1, 2)}, [{"a": 1}, {"a": 2}]),
        ({"a": (1,), "b": ({}, {"c": 3, "d": 4})}, [{"a": 1}, {"a": 1, "c": 3, "d": 4}]),
    ],
)
def test_sweep_settings_merge_dict_values(grid: dict, expected: list[dict]) -> None:
    from benchmarks import bench_tracking

    assert bench_tracking._settings(grid) == expected


def test_best_setting_first_on_a_tie_and_filtered() -> None:
    from benchmarks import bench_tracking

    scores = [({"m": 0}, 0.5), ({"m": 1}, 0.7), ({"m": 2}, 0.7), ({"m": 0, "x": 1}, 0.6)]
    assert bench_tracking.best_setting(scores) == {"m": 1}
    assert bench_tracking.best_setting(scores, lambda p: not p["m"]) == {"m": 0, "x": 1}


def test_static_filter_drops_the_tracks_that_never_move() -> None:
    from benchmarks import bench_tracking

    from tilewise import Detections

    # track 1 sits still (1 px of jitter on a 10 px box), track 2 moves 3 px per frame,
    # track 3 moves 4 px once: 0.5 sizes of 10 px = 5 px is never reached
    rows = [(1, t, 20 + (t % 2), 20) for t in range(4)] + [(2, t, 50 + 3 * t, 20) for t in range(4)]
    rows += [(3, 0, 80, 20), (3, 1, 84, 20)]
    ids, frames, x, y = (np.array(c) for c in zip(*rows, strict=True))
    boxes = np.stack([x - 5, y - 5, x + 5, y + 5], axis=1).astype(np.float32)
    table = Detections(boxes, np.full(len(rows), 0.9), data={"tracker_id": ids, "frame": frames})
    kept = bench_tracking.static_filter(table, min_travel=0.5)
    assert kept.data["tracker_id"].tolist() == [2, 2, 2, 2]
    assert kept.data["frame"].tolist() == [0, 1, 2, 3]
    assert bench_tracking.static_filter(table, min_travel=0.3).data["tracker_id"].tolist() == [
        2, 2, 2, 2, 3, 3
    ]  # fmt: skip
