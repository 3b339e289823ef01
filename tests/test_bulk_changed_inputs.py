"""A bulk rerun redoes an image whose file changed since it was recorded as done.

Regression: a rerun skipped every image *named* in a done record, so an image replaced
or edited after its prediction (a re-exported tile, a corrected photo) kept the old
detections in ``predictions.parquet`` without a word.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.bulk_models import blob_model, write_scenes
from tilewise import Detections
from tilewise.bulk.engine import build_slicer
from tilewise.bulk.inputs import file_stat, list_images
from tilewise.bulk.run import run_local
from tilewise.bulk.store import RunStore, RunSummary
from tilewise.bulk.table import IMAGE_SCHEMA, ImageResult, image_table


def _run(folder: Path, out: Path) -> RunSummary:
    slicer = build_slicer(blob_model, 32, overlap=0, batch_size=4)
    return run_local(list_images(folder), slicer, RunStore(out, {"slice": 32}), chunk=3)


def _detections_of(out: Path, image: str) -> int:
    table = pq.read_table(out / "predictions.parquet")
    return table.column("image").to_pylist().count(image)


def test_a_changed_image_is_redone_and_its_new_record_kept(tmp_path: Path) -> None:
    folder = tmp_path / "scenes"
    write_scenes(folder, 5)
    out = tmp_path / "out"
    first = _run(folder, out)
    assert (first.done, first.changed) == (5, 0)
    assert _detections_of(out, "scene_002.png") > 0
    # replaced by an empty scene of the same size: new bytes and a new modification time
    path = folder / "scene_002.png"
    st = path.stat()
    cv2.imwrite(str(path), np.zeros((64, 96, 3), np.uint8))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = _run(folder, out)
    assert (again.skipped, again.changed, again.predicted_now) == (4, 1, 1)
    assert "1 redone as changed since" in again.text()
    assert _detections_of(out, "scene_002.png") == 0  # the new pixels' result, not the old
    rows = RunStore(out, {"slice": 32}).images()
    assert rows.column("image").to_pylist().count("scene_002.png") == 1
    third = _run(folder, out)  # nothing changed since: everything skipped
    assert (third.skipped, third.changed, third.predicted_now) == (5, 0, 0)


def test_only_touched_is_changed_too(tmp_path: Path) -> None:
    # the size and time are what is compared: a touch redoes the image (cheap to find,
    # never stale); the same bytes give the same detections
    folder = tmp_path / "scenes"
    write_scenes(folder, 2)
    out = tmp_path / "out"
    _run(folder, out)
    before = pq.read_table(out / "predictions.parquet")
    st = (folder / "scene_000.png").stat()
    os.utime(folder / "scene_000.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = _run(folder, out)
    assert (again.skipped, again.changed) == (1, 1)
    assert pq.read_table(out / "predictions.parquet").equals(before)


def _store_with(tmp_path: Path, stat: tuple[int, int] | None) -> RunStore:
    store = RunStore(tmp_path / "out", {})
    det = Detections(np.array([[0, 0, 4, 4]]), [0.9])
    store.write_part(image_table([ImageResult("a.png", det, (8, 8), source_stat=stat)]))
    return store


# (recorded stat, current stat) -> whether the image still counts as done
@pytest.mark.parametrize(
    ("recorded", "current", "done"),
    [
        ((10, 5), (10, 5), True),
        ((10, 5), (11, 5), False),  # size
        ((10, 5), (10, 6), False),  # modification time
        ((10, 5), None, True),  # cannot stat it now: the read will say what is wrong
        (None, (10, 5), True),  # recorded without one (an older run)
    ],
)
def test_completed_table(
    tmp_path: Path, recorded: tuple[int, int] | None, current: tuple[int, int] | None, done: bool
) -> None:
    store = _store_with(tmp_path, recorded)
    assert store.completed({"a.png": current}) == ({"a.png"} if done else set())
    assert store.changed({"a.png": current}) == (set() if done else {"a.png"})
    assert store.completed() == {"a.png"}  # without current stats: every done record


def test_parts_written_before_the_stat_columns_still_resume(tmp_path: Path) -> None:
    folder = tmp_path / "scenes"
    write_scenes(folder, 3)
    out = tmp_path / "out"
    _run(folder, out)
    for part in (out / "parts").glob("part-*.parquet"):  # as an older tilewise wrote them
        table = pq.read_table(part).drop_columns(["source_bytes", "source_mtime_ns"])
        pq.write_table(table, part)
    again = _run(folder, out)
    assert (again.skipped, again.changed, again.predicted_now) == (3, 0, 0)


def test_latest_done_record_wins(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "out", {})
    old = Detections(np.array([[0, 0, 4, 4]]), [0.9])
    new = Detections(np.array([[1, 1, 5, 5], [2, 2, 6, 6]]), [0.8, 0.7])
    store.write_part(image_table([ImageResult("a.png", old, (8, 8), source_stat=(1, 1))]))
    store.write_part(image_table([ImageResult.failed("a.png", "read", "gone")]))
    store.write_part(image_table([ImageResult("a.png", new, (8, 8), source_stat=(2, 2))]))
    rows = store.images()
    assert rows.num_rows == 1
    assert rows.column("source_bytes").to_pylist() == [2]
    assert len(rows.column("detections")[0]) == 2


# rows written in this order for one image -> (status, size) of its record
@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([("done", (1, 1))], ("done", 1)),
        ([("done", (1, 1)), ("failed", (1, 1))], ("done", 1)),  # a retry of the same file
        ([("done", (1, 1)), ("failed", None)], ("done", 1)),  # unknown: the same file, maybe
        ([("done", (1, 1)), ("failed", (2, 2))], ("failed", 2)),  # changed, then unreadable
        ([("failed", (1, 1)), ("done", (1, 1))], ("done", 1)),
        ([("done", (1, 1)), ("done", (2, 2))], ("done", 2)),
        ([("done", (1, 1)), ("failed", (2, 2)), ("done", (2, 2))], ("done", 2)),
        ([("done", (1, 1)), ("done", (2, 2)), ("failed", (1, 1))], ("failed", 1)),
    ],
)
def test_which_row_is_an_images_record(
    tmp_path: Path, rows: list[tuple[str, tuple[int, int] | None]], expected: tuple[str, int]
) -> None:
    store = RunStore(tmp_path / "out", {})
    det = Detections(np.array([[0, 0, 4, 4]]), [0.9])
    for status, stat in rows:
        result = (
            ImageResult("a.png", det, (8, 8), source_stat=stat)
            if status == "done"
            else replace(ImageResult.failed("a.png", "read", "bad"), source_stat=stat)
        )
        store.write_part(image_table([result]))
    record = store.images()
    assert record.num_rows == 1
    status, size = record.column("status")[0].as_py(), record.column("source_bytes")[0].as_py()
    assert (status, size if size is not None else 0) == expected


def test_a_changed_image_that_no_longer_reads_loses_its_old_detections(tmp_path: Path) -> None:
    folder = tmp_path / "scenes"
    write_scenes(folder, 3)
    out = tmp_path / "out"
    _run(folder, out)
    assert _detections_of(out, "scene_001.png") > 0
    (folder / "scene_001.png").write_bytes(b"not a png any more")
    again = _run(folder, out)
    assert (again.changed, again.failed) == (1, 1)
    assert _detections_of(out, "scene_001.png") == 0  # not the old pixels' detections
    failures = (out / "failures.jsonl").read_text()
    assert "scene_001.png" in failures


def test_image_rows_record_the_file_stat(tmp_path: Path) -> None:
    folder = tmp_path / "scenes"
    write_scenes(folder, 2)
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    _run(folder, out)
    rows = RunStore(out, {"slice": 32}).images()
    assert rows.schema == IMAGE_SCHEMA
    for name, size, mtime in zip(
        rows.column("image").to_pylist(),
        rows.column("source_bytes").to_pylist(),
        rows.column("source_mtime_ns").to_pylist(),
        strict=True,
    ):
        assert (size, mtime) == file_stat(folder / name)  # failed reads too
    assert pa.types.is_int64(rows.schema.field("source_bytes").type)
