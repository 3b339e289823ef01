"""Smoke test of the masks benchmark: the quick case runs, rows are sane, results verified.

Nothing here asserts on speed: timings are measured only by ``python -m benchmarks``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    pytest.importorskip("supervision")
    pytest.importorskip("sahi")
    from benchmarks import bench_masks

    return bench_masks.run(quick=True)


def test_rows_are_measured_on_the_same_input(rows: list[dict[str, Any]]) -> None:
    assert {(r["method"], r["library"]) for r in rows} >= {
        ("nms", "tilewise"),
        ("nmm", "tilewise"),
        ("nms", "supervision"),
        ("nms", "sahi"),
    }
    for r in rows:
        assert r["status"] == "ok", r["status_text"]
        assert r["time_s"] > 0
        assert r["kept"] > 0
        assert r["slices"] == 9
    assert len({r["checksum"] for r in rows}) == 1
    for method in ("nms", "nmm"):
        tw = [r for r in rows if r["method"] == method and r["library"] == "tilewise"]
        assert all(r["pixel_identical"] for r in tw)
        sv = next(r for r in rows if r["method"] == method and r["library"] == "supervision")
        assert {r["kept"] for r in tw} == {sv["kept"]}


def test_tables_render(rows: list[dict[str, Any]]) -> None:
    from benchmarks import bench_masks

    text = bench_masks.table(rows)
    assert "| nms " in text
    assert "pixel-identical" in text
    assert len(bench_masks.targets(rows)) == 2


def test_scene_and_coordinate_image() -> None:
    from benchmarks.bench_masks import PER_SLICE, coordinate_image, make_scene, slice_origin

    image = coordinate_image(1400, 1400)
    assert slice_origin(image[512:, 760:]) == (760, 512)
    grid, outputs = make_scene((1400, 1400))
    assert len(outputs) == len(grid) == 9
    for out in outputs.values():
        assert len(out.crops) == PER_SLICE
        dense = out.dense(640, 640)
        np.testing.assert_array_equal(dense.sum(axis=(1, 2)), [c.sum() for c in out.crops])
        assert (out.xyxy[:, 2:] <= 640).all()
