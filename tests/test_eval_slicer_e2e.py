"""End to end with the real Slicer: generated images, an OpenCV toy detector, evaluation."""

from __future__ import annotations

import pytest

from tilewise import Slicer  # noqa: F401 - fails the module loudly if the Slicer is gone
from tilewise.evaluation import (
    ErrorType,
    EvalDataset,
    RunSpec,
    compare_runs,
    standard_runs,
    sweep,
)
from tilewise.evaluation.synthetic import SquareDetector, bright_squares

CLASSES = {0: 1, 1: 2}
COMMON = {"slice_wh": 256, "overlap": 0.25, "batch_size": 8}


@pytest.fixture(scope="module")
def dataset() -> EvalDataset:
    gt, images = bright_squares(seed=3, num_images=3, image_size=(1024, 768))
    return EvalDataset.from_arrays(gt, images, name="squares")


@pytest.fixture(scope="module")
def comparison(dataset):
    ios = {**COMMON, "merge": "nms", "metric": "ios", "full_frame": True}
    runs = [*standard_runs(merges=("nms",), **COMMON), RunSpec("sliced+full nms ios", ios)]
    return compare_runs(dataset, SquareDetector(), runs, class_to_category=CLASSES)


def test_slicing_fixes_tiny_misses(comparison) -> None:
    full = comparison.run("full-frame")
    sliced = comparison.run("sliced nms")
    assert full.evaluation.get("AP", "2-8px") < 0.2
    assert sliced.evaluation.get("AP", "2-8px") > 0.9
    assert full.errors.counts("2-8px")[ErrorType.MISSED] >= 5
    assert sliced.errors.counts("2-8px")[ErrorType.MISSED] == 0


def test_slicing_fragments_large_objects_and_ios_merging_repairs_them(comparison) -> None:
    sliced = comparison.run("sliced nms")
    repaired = comparison.run("sliced+full nms ios")
    fragments = sliced.errors.counts("large")[ErrorType.LOC]
    assert fragments > 0  # pieces of objects cut by slice borders
    assert repaired.errors.counts("large")[ErrorType.LOC] < fragments
    assert repaired.evaluation.get("AP") > sliced.evaluation.get("AP")
    assert repaired.detections_per_image < sliced.detections_per_image


def test_sweep_with_the_real_slicer(dataset, tmp_path) -> None:
    grid = {"slice_wh": [256, 1024], "full_frame": [False, True]}
    kw = {
        "model_id": "squares",
        "cache_dir": tmp_path,
        "base_settings": {"overlap": 0.25, "batch_size": 8},
        "class_to_category": CLASSES,
        "progress": False,
    }
    res = sweep(dataset, SquareDetector(), grid, **kw)
    assert res.computed == 4
    assert res.best("AP_2-8px@100").settings["slice_wh"] == 256
    assert sweep(dataset, SquareDetector(), grid, **kw).computed == 0
