"""Bulk runs over many images (issue 13): the local engine, its outputs, resume, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.bulk_models import FAIL_VALUE, blob_model, write_scenes
from tilewise.bulk.engine import ImageItem, build_slicer, predict_chunk
from tilewise.bulk.inputs import list_images
from tilewise.bulk.run import Progress, run_local
from tilewise.bulk.store import RunStore, RunSummary
from tilewise.bulk.table import image_table
from tilewise.cli.app import app
from tilewise.errors import TilewiseError

ROOT = Path(__file__).resolve().parents[1]
MODEL = ["--model", "tests.bulk_models:blob_factory", "--slice", "32", "--overlap", "0"]


@pytest.fixture
def scenes(tmp_path: Path) -> Path:
    folder = tmp_path / "scenes"
    write_scenes(folder, 10)
    (folder / "sub").mkdir()
    write_scenes(folder / "sub", 2, seed=1)
    (folder / "broken.png").write_bytes(b"not a png")
    import cv2

    cv2.imwrite(str(folder / "poison.png"), np.full((40, 40, 3), FAIL_VALUE, np.uint8))
    return folder


def _slicer(chunk_batch: int = 4):
    return build_slicer(blob_model, 32, overlap=0, batch_size=chunk_batch)


def _run(scenes: Path, out: Path, chunk: int = 4, batch: int = 4) -> RunSummary:
    store = RunStore(out, {"slice": 32})
    return run_local(
        list_images(scenes), _slicer(batch), store, chunk=chunk, class_names=["even", "odd"]
    )


def test_sources_folder_glob_list_and_empty(scenes: Path, tmp_path: Path) -> None:
    assert list_images(scenes).names[:2] == ("broken.png", "poison.png")
    assert "sub/scene_000.png" in list_images(scenes).names
    assert list_images(str(scenes / "sub" / "*.png")).names == ("scene_000.png", "scene_001.png")
    listing = scenes / "paths.txt"
    listing.write_text("sub/scene_001.png\nscene_002.png\n# skipped\n\nmissing.png\n")
    assert list_images(listing).names == ("missing.png", "scene_002.png", "sub/scene_001.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TilewiseError, match="holds no image"):
        list_images(tmp_path / "empty")
    with pytest.raises(TilewiseError, match="no such folder"):
        list_images(tmp_path / "nope")
    with pytest.raises(TilewiseError, match="holds no image"):
        list_images(str(tmp_path / "empty" / "*.jpg"))


def test_slices_of_several_images_share_a_batch_and_equal_run() -> None:
    calls: list[int] = []

    def model(images):
        calls.append(len(images))
        return blob_model(images)

    rng = np.random.default_rng(3)
    ims = [rng.integers(0, 255, (32, 64, 3), dtype=np.uint8) for _ in range(3)]  # 2 slices each
    slicer = build_slicer(model, 32, overlap=0, batch_size=4)
    out = predict_chunk(slicer, [ImageItem(str(i), lambda im=im: im) for i, im in enumerate(ims)])
    assert calls == [4, 2]
    for im, res in zip(ims, out, strict=True):
        assert res.detections == build_slicer(blob_model, 32, overlap=0).run(im).detections


def test_outputs_and_failures(scenes: Path, tmp_path: Path) -> None:
    summary = _run(scenes, tmp_path / "out")
    assert (summary.images, summary.done, summary.failed) == (14, 12, 2)
    assert summary.failed_by_stage == {"read": 1, "model": 1}
    table = pq.read_table(tmp_path / "out" / "predictions.parquet")
    assert table.column_names == [
        "image", "rank", "x1", "y1", "x2", "y2", "score", "class_id", "class_name",
    ]  # fmt: skip
    keys = list(
        zip(table.column("image").to_pylist(), table.column("rank").to_pylist(), strict=False)
    )
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys) == summary.detections > 0
    failures = [
        json.loads(x) for x in (tmp_path / "out" / "failures.jsonl").read_text().splitlines()
    ]
    assert [(f["image"], f["stage"]) for f in failures] == [
        ("broken.png", "read"),
        ("poison.png", "model"),
    ]
    assert "cannot take this image" in failures[1]["reason"]
    coco = json.loads((tmp_path / "out" / "coco_results.json").read_text())
    assert len(coco) == len(table)
    assert coco[0]["image_id"] == keys[0][0]


def test_progress_counts_images_failures_and_detections(scenes: Path, tmp_path: Path) -> None:
    seen: list[Progress] = []
    store = RunStore(tmp_path / "out", {"slice": 32})
    images = list_images(scenes)
    summary = run_local(images, _slicer(), store, chunk=4, progress=seen.append)
    assert [p.done for p in seen] == [4, 8, 12, 14]  # one report per chunk of 4
    assert all(p.total == 14 and p.unit == "image" for p in seen)
    assert seen[-1].failed == summary.failed == 2
    assert seen[-1].detections == summary.detections
    assert [p.eta_seconds == 0.0 for p in seen] == [False, False, False, True]
    figures = json.loads((tmp_path / "out" / "summary.json").read_text())["progress"]
    assert figures == seen[-1].figures()
    assert (figures["images_done"], figures["failed"]) == (14, 2)
    # a rerun: the 12 done images skipped, the 2 failures retried (and failing again)
    again = run_local(images, _slicer(), RunStore(tmp_path / "out", {"slice": 32}))
    assert again.progress["images_skipped_as_done"] == 12
    assert (again.progress["images_done"], again.progress["failed"]) == (14, 2)
    assert again.progress["detections"] == 0


def test_progress_figures_table() -> None:
    p = Progress(done=6, total=10, detections=30, failed=1, seconds=2.0, start=2)
    assert p.figures() == {
        "images_done": 6, "images_total": 10, "images_skipped_as_done": 2, "failed": 1,
        "detections": 30, "images_per_second": 2.0, "detections_per_second": 15.0,
        "eta_seconds": 2.0,
    }  # fmt: skip
    assert Progress(0, 5, 0, 0, 0.0).eta_seconds is None
    assert Progress(0, 5, 0, 0, 0.0).text() == "0/5 image(s), 0 failed, 0.0 det/s, ETA ?"


def test_same_rows_whatever_the_chunk_and_batch(scenes: Path, tmp_path: Path) -> None:
    _run(scenes, tmp_path / "a", chunk=1, batch=1)
    _run(scenes, tmp_path / "b", chunk=5, batch=7)
    a = pq.read_table(tmp_path / "a" / "predictions.parquet")
    assert a.equals(pq.read_table(tmp_path / "b" / "predictions.parquet"))


def test_rerun_skips_done_images_and_retries_failures(scenes: Path, tmp_path: Path) -> None:
    first = _run(scenes, tmp_path / "out")
    (scenes / "broken.png").unlink()  # vanished since
    import cv2

    cv2.imwrite(str(scenes / "broken.png"), np.zeros((32, 32, 3), np.uint8))
    again = _run(scenes, tmp_path / "out")
    assert again.skipped == first.done
    assert again.predicted_now == 2
    assert (again.done, again.failed) == (13, 1)


def test_other_settings_are_refused_unless_overwrite(scenes: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(scenes, out)
    with pytest.raises(TilewiseError, match=r"overlap: None -> 0.5.*--overwrite"):
        RunStore(out, {"slice": 32, "overlap": 0.5})
    store = RunStore(out, {"slice": 32, "overlap": 0.5}, overwrite=True)
    assert store.completed() == set()
    assert not (out / "predictions.parquet").exists()


def test_a_corrupt_part_is_set_aside_and_redone(scenes: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(scenes, out)
    part = sorted((out / "parts").glob("*.parquet"))[0]
    part.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable part"):
        again = _run(scenes, out)
    assert again.done == 12
    assert again.corrupt_parts == 1
    assert again.predicted_now == 4
    assert image_table([]).num_rows == 0


def _cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TILEWISE_TEST_SLEEP": "0.3"}
    return subprocess.Popen(
        [sys.executable, "-m", "tilewise.cli", "predict", *args],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_a_killed_run_resumes_without_losing_or_duplicating_rows(
    scenes: Path, tmp_path: Path
) -> None:
    model = ["--model", "tests.bulk_models:slow_blob_factory", "--slice", "32", "--overlap", "0"]
    args = [str(scenes), "--engine", "local", "--chunk", "1", "--no-progress", *model]
    proc = _cli(*args, "--out", str(tmp_path / "killed"))
    parts = tmp_path / "killed" / "parts"
    deadline = time.monotonic() + 120
    while proc.poll() is None and len(list(parts.glob("part-*.parquet"))) < 4:
        assert time.monotonic() < deadline, "no part written"
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "predictions.parquet").exists()
    for out in ("killed", "whole"):
        done = _cli(*args, "--out", str(tmp_path / out))
        assert done.wait(timeout=300) == 0
    killed = json.loads((tmp_path / "killed" / "summary.json").read_text())
    # the first two parts are the failures (retried); the others were skipped
    assert killed["skipped"] >= 2
    assert killed["skipped"] + killed["predicted_now"] == 14
    assert killed["done"] == 12
    a = pq.read_table(tmp_path / "killed" / "predictions.parquet")
    assert a.equals(pq.read_table(tmp_path / "whole" / "predictions.parquet"))


def test_cli_local_and_bad_input(scenes: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["predict", str(scenes), "--engine", "local", "--out", str(out), *MODEL]
    )
    assert res.exit_code == 0, res.output
    assert "12 of 14 image(s) done" in res.output
    assert "2 failure(s)" in res.output
    assert (out / "json" / "sub" / "scene_000.png.json").exists()
    res = runner.invoke(app, ["predict", str(scenes), "--engine", "local", "--out", str(out),
                              *MODEL, "--conf", "0.5"])  # fmt: skip
    assert res.exit_code != 0
    assert "conf: 0.25 -> 0.5" in res.output
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["predict", str(tmp_path / "empty"), "--engine", "local", *MODEL])
    assert res.exit_code != 0
    assert "holds no image" in res.output
    res = runner.invoke(app, ["predict", str(scenes / "scene_000.png"), "--workers", "3"])
    assert res.exit_code != 0
    assert "--workers apply to many images" in res.output
