"""A raster cut into strips of slice rows, run apart and merged once, equals the whole run."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import blob_model, make_scene
from tests.geo_rasters import scene_with_nodata
from tilewise import SliceGrid, Slicer
from tilewise.errors import TilewiseError
from tilewise.slicing.strips import (
    merge_strips,
    plan_strips,
    run_strip,
    slicer_settings,
    strips_for,
)
from tilewise.sources import ArraySource, Window


def _assert_equal_runs(slicer: Slicer, source: ArraySource, plan) -> None:
    """Strips merged (given in shuffled order) == the whole run: rows, order, every count."""
    whole = slicer.run(source)
    wrep = slicer.last_report
    results = [run_strip(slicer, source, s) for s in plan]
    random.Random(len(plan)).shuffle(results)
    merged = merge_strips(slicer, source, results)
    mrep = merged.report
    assert merged.detections == whole.detections
    np.testing.assert_array_equal(merged.detections.xyxy, whole.detections.xyxy)
    np.testing.assert_array_equal(merged.detections.confidence, whole.detections.confidence)
    np.testing.assert_array_equal(merged.detections.class_id, whole.detections.class_id)
    assert merged.raw == whole.raw
    np.testing.assert_array_equal(merged.raw_slice_index, whole.raw_slice_index)
    assert mrep.windows == wrep.windows
    for name in ("model_detections", "dropped_nodata", "dropped_edge", "dropped_nonfinite",
                 "raw", "output", "merged_away", "slices"):  # fmt: skip
        assert getattr(mrep, name) == getattr(wrep, name), name
    assert sum(r.windows_done for r in results) == len(whole.report.grid)


def test_plan_strips_exact_rows_windows_and_halo() -> None:
    grid = SliceGrid((50, 300), slice_wh=100, overlap=0.2)  # rows start 0, 80, 160, 200
    plan = plan_strips(grid, strips=3)
    assert [(s.rows, s.slices, tuple(s.window), s.halo) for s in plan] == [
        ((0, 2), (0, 2), (0, 0, 50, 180), 20),
        ((2, 3), (2, 3), (0, 160, 50, 100), 60),  # the last row is shifted back: more halo
        ((3, 4), (3, 4), (0, 200, 50, 100), 0),
    ]
    assert [s.rows for s in plan_strips(grid, strips=9)] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert [s.rows for s in plan_strips(grid, rows_per_strip=3)] == [(0, 3), (3, 4)]
    assert strips_for(grid, workers=2) == 4


@pytest.mark.parametrize(
    "kwargs", [{}, {"strips": 2, "rows_per_strip": 2}, {"strips": 0}, {"rows_per_strip": True}]
)
def test_plan_strips_refuses_bad_counts(kwargs) -> None:
    with pytest.raises(TilewiseError, match="strip"):
        plan_strips(SliceGrid((64, 64), 32, 0), **kwargs)


# Strip heights (rows per strip) over a 320x256 scene with nodata, 64 px slices at 25 %
# overlap (5 rows of 6): one row each, uneven, even, one strip for all.
@pytest.mark.parametrize("rows_per_strip", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("min_valid", [0.0, 0.5])
def test_strips_of_every_height_equal_the_whole_run(rows_per_strip: int, min_valid) -> None:
    image, valid = scene_with_nodata()
    valid[40:140, 150:240] = False  # nodata over blobs: detections centred there are dropped
    slicer = Slicer(blob_model, slice_wh=64, overlap=0.25, batch_size=3, min_valid=min_valid)
    source = ArraySource(image, valid=valid)
    plan = plan_strips(slicer.grid_for(source.image_wh), rows_per_strip=rows_per_strip)
    _assert_equal_runs(slicer, source, plan)
    assert slicer.last_report.dropped_nodata > 0
    assert slicer.last_report.windows.skipped > 0


@pytest.mark.parametrize("merge", ["nms", "nmm", "wbf", "none"])
def test_objects_cut_by_a_strip_boundary_are_merged_as_in_the_whole_run(merge: str) -> None:
    image = np.zeros((200, 120, 3), np.uint8)
    slicer = Slicer(blob_model, slice_wh=60, overlap=0.25, batch_size=4, merge=merge)
    plan = plan_strips(slicer.grid_for((120, 200)), strips=2)
    seam = plan[1].window.y  # the second strip starts here; the first ends at seam + halo
    end = plan[0].window.y + plan[0].window.h
    image[seam - 10 : seam + 6, 20:40] = (255, 200, 1)  # cut by the second strip's top
    image[end - 6 : end + 12, 70:90] = (255, 150, 2)  # cut by the first strip's bottom
    image[seam + 2 : end - 2, 100:110] = (255, 120, 0)  # inside the halo, seen by both
    source = ArraySource(image)
    _assert_equal_runs(slicer, source, plan)
    det = slicer.run(source).detections
    crossing = [(y1 < seam < y2) or (y1 < end < y2) for _, y1, _, y2 in det.xyxy.tolist()]
    assert sum(crossing) >= 2


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    wh=st.tuples(st.integers(40, 200), st.integers(40, 260)),
    slice_px=st.integers(24, 96),
    overlap=st.sampled_from([0.0, 0.1, 0.25, 0.5]),
    strips=st.integers(1, 12),
    edge_margin=st.sampled_from([None, 2.0]),
    merge=st.sampled_from(["nms", "greedy_nmm", "wbf"]),
)
def test_any_strip_count_equals_the_whole_run(
    seed, wh, slice_px, overlap, strips, edge_margin, merge
) -> None:
    image, _ = make_scene(wh, 12, seed=seed, size=(3, 30))
    valid = np.ones(image.shape[:2], bool)
    valid[:, : wh[0] // 5] = False
    slicer = Slicer(
        blob_model, slice_wh=slice_px, overlap=overlap, batch_size=3, merge=merge,
        edge_margin=edge_margin,
    )  # fmt: skip
    source = ArraySource(image, valid=valid)
    _assert_equal_runs(slicer, source, plan_strips(slicer.grid_for(wh), strips=strips))


def test_missing_or_repeated_strips_and_unsplittable_slicers_are_refused() -> None:
    image, _ = make_scene((96, 160), 5, seed=1)
    slicer = Slicer(blob_model, slice_wh=32, overlap=0)
    source = ArraySource(image)
    plan = plan_strips(slicer.grid_for((96, 160)), strips=3)
    results = [run_strip(slicer, source, s) for s in plan]
    with pytest.raises(TilewiseError, match="missing"):
        merge_strips(slicer, source, results[:1] + results[2:])
    with pytest.raises(TilewiseError, match="missing"):
        merge_strips(slicer, source, results[:2])
    with pytest.raises(TilewiseError, match="given twice"):
        merge_strips(slicer, source, [*results, results[1]])
    other = plan_strips(SliceGrid((96, 400), 32, 0), strips=2)[1]
    with pytest.raises(TilewiseError, match="not planned on this image"):
        run_strip(slicer, source, other)
    wrong = plan[0].__class__(0, (0, 1), (0, 3), Window(0, 0, 50, 32), 0)
    with pytest.raises(TilewiseError, match="not planned on this image"):
        run_strip(slicer, source, wrong)
    for kw in ({"full_frame": True}, {"scales": [(32, 1.0), (64, 1.0)]}):
        with pytest.raises(TilewiseError, match="full-frame"):
            slicer_settings(Slicer(blob_model, **kw))


def test_settings_rebuild_the_same_slicer() -> None:
    slicer = Slicer(
        blob_model, slice_wh=(48, 32), overlap=(0.1, 4), batch_size=5, merge="greedy_nmm",
        threshold=0.4, metric="ios", class_agnostic=True, edge_margin=1.5, min_valid=0.2,
        zoom=1.5,
    )  # fmt: skip
    assert repr(Slicer(blob_model, **slicer_settings(slicer))) == repr(slicer)
