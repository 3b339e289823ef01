"""Smoke test of benchmarks/bench_video.py (issue 12): the quick run gives every row."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("av")
pytest.importorskip("supervision")


@pytest.mark.peers
def test_bench_video_quick(tmp_path: Path) -> None:
    from benchmarks import bench_video

    rows = bench_video.main(["--quick", "--cache", str(tmp_path), "--json", str(tmp_path / "r")])
    assert set(rows["supervision"]) == {"workers=1", "workers=2"}
    assert all(r["frames"] == 4 for r in rows["tilewise"].values())
    assert all(r["frames"] == 4 for r in rows["supervision"].values())
    assert rows["writing"]["with_video"]["frames"] == 4
    assert [r["frames"] for r in rows["memory"]] == [4, 8]
    assert "Speed-up" in bench_video.render(rows)
