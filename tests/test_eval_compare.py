"""Run comparison: full frame vs sliced on generated images with a real toy detector."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tilewise import Detections, ModelOutputError, TilewiseError
from tilewise.evaluation import (
    ErrorType,
    EvalDataset,
    RunSpec,
    compare_runs,
    standard_runs,
)
from tilewise.evaluation.synthetic import SquareDetector, bright_squares

CLASSES = {0: 1, 1: 2}


def grid_slicer(model, slice_wh=256, overlap=0.0, full_frame=False, **_ignored):
    """A stand-in slicer: regular tiles, shifted back and concatenated (no merging)."""
    step = max(1, int(slice_wh * (1 - overlap)))

    def predict(image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        tiles, offsets = [], []
        for y in range(0, max(h - slice_wh, 0) + step, step):
            for x in range(0, max(w - slice_wh, 0) + step, step):
                tiles.append(image[y : y + slice_wh, x : x + slice_wh])
                offsets.append((x, y))
        parts = [d.shifted(x, y) for d, (x, y) in zip(model(tiles), offsets, strict=True)]
        if full_frame:
            parts.append(model([image])[0])
        return Detections.concatenate(parts)

    return predict


@pytest.fixture(scope="module")
def dataset() -> EvalDataset:
    gt, images = bright_squares(seed=3, num_images=3, image_size=(1024, 768))
    return EvalDataset.from_arrays(gt, images, name="squares")


@pytest.fixture(scope="module")
def comparison(dataset):
    runs = [
        RunSpec("full-frame"),
        RunSpec("sliced", {"slice_wh": 256, "overlap": 0.0}),
        RunSpec("sliced+full", {"slice_wh": 256, "overlap": 0.0, "full_frame": True}),
    ]
    return compare_runs(
        dataset, SquareDetector(), runs, class_to_category=CLASSES,
        slicer_factory=grid_slicer,
    )  # fmt: skip


def test_slicing_recovers_tiny_objects(comparison) -> None:
    full = comparison.run("full-frame")
    sliced = comparison.run("sliced")
    assert sliced.evaluation.get("AP", "2-8px") > full.evaluation.get("AP", "2-8px") + 0.3
    assert sliced.evaluation.get("AR", "small") > full.evaluation.get("AR", "small")
    # ... and the error analysis says why: far fewer tiny objects missed
    full_missed = full.errors.counts("2-8px")[ErrorType.MISSED]
    sliced_missed = sliced.errors.counts("2-8px")[ErrorType.MISSED]
    assert full_missed > sliced_missed
    # without merging, the extra full-frame pass creates duplicates of larger objects
    both = comparison.run("sliced+full")
    assert both.errors.counts("all")[ErrorType.DUPE] > sliced.errors.counts("all")[ErrorType.DUPE]
    assert both.detections_per_image > sliced.detections_per_image


def test_run_bookkeeping(comparison, dataset) -> None:
    for run in comparison.runs:
        assert run.num_images == len(dataset) == 3
        assert run.wall_time_s > 0
        assert run.ms_per_image == pytest.approx(1000 * run.wall_time_s / 3)
    table = comparison.table()
    for name in ("full-frame", "sliced", "sliced+full"):
        assert name in table
    header = table.splitlines()[2].split()
    assert header[:4] == ["run", "AP", "AP50", "AP75"]
    assert "AP_2-8px" in header
    assert "AR@300" in header
    assert header[-3:] == ["s", "ms/img", "dets/img"]  # "time s" splits in two


def test_report_files(comparison, tmp_path) -> None:
    paths = comparison.write_report(tmp_path / "report")
    plots = ("pr", "ap_buckets", "ar_buckets", "errors", "delta_ap")
    assert set(paths) == {*plots, "markdown", "html", "json"}
    for key in plots:
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = paths["markdown"].read_text()
    assert "| run | AP | AP50 |" in md
    assert "![AP per size bucket](ap_per_bucket.png)" in md
    assert "| run | bucket | GT | TP |" in md
    assert "| dLoc |" in md
    assert "(delta_ap_per_bucket.png)" in md
    assert "- full-frame: Fix first (largest dAP50): all: " in md
    page = paths["html"].read_text()
    assert page.count("data:image/png;base64,") == 5
    assert 'src="http' not in page
    data = json.loads(paths["json"].read_text())
    assert [r["name"] for r in data["runs"]] == ["full-frame", "sliced", "sliced+full"]
    assert data["runs"][1]["settings"] == {"slice_wh": 256, "overlap": 0.0}
    assert data["runs"][0]["evaluation"]["stats"]["AP@100"] is not None
    errors = data["runs"][0]["errors"]["buckets"][0]
    assert errors["bucket"] == "all"
    assert set(errors["delta_ap"]) == {"cls", "loc", "both", "dupe", "bkg", "missed"}


def test_standard_runs_use_the_factory(dataset) -> None:
    seen = []

    def factory(model, **settings):
        seen.append(settings)
        return grid_slicer(model, **settings)

    runs = standard_runs(slice_wh=512, overlap=0.25, merges=("nms", "wbf"), threshold=0.6)
    cmp = compare_runs(
        dataset, SquareDetector(), runs, class_to_category=CLASSES, slicer_factory=factory,
        errors=False,
    )  # fmt: skip
    assert [r.spec.name for r in cmp.runs] == [r.name for r in runs]
    assert seen[0] == {
        "slice_wh": 512,
        "overlap": 0.25,
        "merge": "nms",
        "threshold": 0.6,
        "full_frame": False,
    }
    assert [s["full_frame"] for s in seen] == [False, True, False, True]
    assert all(r.errors is None for r in cmp.runs)
    assert "TIDE" not in cmp.table()


def test_bad_runs(dataset) -> None:
    with pytest.raises(TilewiseError, match="unique"):
        compare_runs(dataset, SquareDetector(), [RunSpec("a"), RunSpec("a")])
    with pytest.raises(TilewiseError, match="no runs"):
        compare_runs(dataset, SquareDetector(), [])
    with pytest.raises(ModelOutputError):
        compare_runs(dataset, lambda images: Detections.empty(), [RunSpec("bad")])
    with pytest.raises(TilewiseError, match="no run 'x'"):
        compare_runs(
            dataset, SquareDetector(), [RunSpec("a")], class_to_category=CLASSES, errors=False
        ).run("x")


def test_dataset_from_files(tmp_path) -> None:
    import cv2

    gt, images = bright_squares(seed=4, num_images=2, image_size=(320, 240))
    for img in gt["images"]:
        cv2.imwrite(str(tmp_path / img["file_name"]), images[img["id"]][:, :, ::-1])
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    ds = EvalDataset.from_coco(tmp_path / "gt.json", tmp_path)
    for image_id, image in ds:
        np.testing.assert_array_equal(image, images[image_id])
    same = EvalDataset.from_coco(tmp_path / "gt.json", tmp_path)
    assert same.identity == ds.identity
    # regression: the identity was name, size and mtime, so an image rewritten with the
    # same size and its old mtime (cp -p, a restore) reused cached sweep results
    first = tmp_path / gt["images"][0]["file_name"]
    stat, data = first.stat(), bytearray(first.read_bytes())
    data[-1] ^= 0xFF
    first.write_bytes(bytes(data))
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (first.stat().st_size, first.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert EvalDataset.from_coco(tmp_path / "gt.json", tmp_path).identity != ds.identity
    (tmp_path / gt["images"][0]["file_name"]).unlink()
    with pytest.raises(TilewiseError, match="1 image file"):
        EvalDataset.from_coco(tmp_path / "gt.json", tmp_path)
    with pytest.raises(TilewiseError, match="no image array"):
        EvalDataset.from_arrays(gt, {})
    wrong = {k: v[:10] for k, v in images.items()}
    with pytest.raises(TilewiseError, match="but the ground truth says"):
        EvalDataset.from_arrays(gt, wrong)
