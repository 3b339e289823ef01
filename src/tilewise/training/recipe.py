"""The recipe of the bundled default detector, stage by stage (``scripts/train_default_model.sh``).

Stages, each reading the previous one's output under one work directory:

1. ``data``: the synthetic benchmark (40 scenes of 2048 x 2048, seed 0) and its 320 px
   training tiles (overlap 0.2);
2. ``train``: the detector on the tiles at 320 px (the tile size), fitted anchors;
3. ``bundle``: the ONNX model and a test scene with its ground truth into ``tilewise/data``;
4. ``eval``: sliced vs full-frame inference with the ONNX model on the test scenes.

Run ``python -m tilewise.training.recipe [stages...] --work DIR``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tilewise.fileio import atomic_write_json

__all__ = ["RECIPE", "main", "stage_bundle", "stage_data", "stage_eval", "stage_train"]

RECIPE: dict[str, Any] = {
    "scenes": 40,
    "seed": 0,
    "scene_size": 2048,
    "tile": 320,
    "overlap": 0.2,
    "empty_ratio": 0.05,
    "epochs": 16,
    "batch": 16,
    "nominal_batch": 16,
    "lr": 0.002,
    "amp": True,
    "threads": 1,
    # the bundled model was trained without mosaic and 90-degree turns; pinned here so the
    # recipe reproduces it whatever TrainConfig's defaults become
    "mosaic": 0.0,
    "rot90": 0.0,
    "sample_scene": "test",
}
"""The settings of the bundled model; change them here, not in the stages."""


def _log(message: str) -> None:
    print(f"[recipe] {message}", flush=True)


def stage_data(work: Path) -> None:
    """Generate the benchmark and tile it for training."""
    from tilewise.datasets.tiling import TilingConfig, tile_dataset
    from tilewise.synth import SynthConfig, generate_benchmark

    res = generate_benchmark(
        work / "synth",
        RECIPE["scenes"],
        RECIPE["seed"],
        SynthConfig(scene_size=RECIPE["scene_size"]),
        progress=False,
        overwrite=True,
    )
    _log(f"benchmark: {res.images} scenes, {res.objects} objects, {res.seconds:.1f} s")
    tiles = tile_dataset(
        work / "synth",
        work / "tiles",
        TilingConfig(
            slice_wh=RECIPE["tile"],
            overlap=RECIPE["overlap"],
            empty_ratio=RECIPE["empty_ratio"],
            seed=RECIPE["seed"],
        ),
        progress=False,
        overwrite=True,
    )
    _log(f"tiles: {tiles.dataset.num_images} tiles, {tiles.dataset.num_annotations} labels")


def stage_train(work: Path) -> None:
    """Train the detector on the tiles."""
    from tilewise.training import TrainConfig, train

    cfg = TrainConfig(
        data=str(work / "tiles"),
        out=str(work / "run"),
        img_size=RECIPE["tile"],
        epochs=RECIPE["epochs"],
        batch=RECIPE["batch"],
        nominal_batch=RECIPE["nominal_batch"],
        anchors="auto",
        lr=RECIPE["lr"],
        seed=RECIPE["seed"],
        amp=RECIPE["amp"],
        val_max_images=384,
        threads=RECIPE["threads"],
        tile_size=RECIPE["tile"],
        mosaic=RECIPE["mosaic"],
        rot90=RECIPE["rot90"],
    )
    result = train(cfg, progress=False, log=_log)
    _log(f"trained in {result.seconds / 60:.1f} min; best {result.best}, onnx {result.onnx}")


def stage_bundle(work: Path, data_dir: Path) -> None:
    """Copy the model and one test scene (with its ground truth) into the package data."""
    from tilewise.models.bundled import DEFAULT_MODEL_NAME, SAMPLE_GT_NAME, SAMPLE_IMAGE_NAME

    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(work / "run" / "best.onnx", data_dir / DEFAULT_MODEL_NAME)
    split = RECIPE["sample_scene"]
    coco = json.loads((work / "synth" / "annotations" / f"instances_{split}.json").read_text())
    image = coco["images"][0]
    shutil.copyfile(
        work / "synth" / "images" / split / image["file_name"], data_dir / SAMPLE_IMAGE_NAME
    )
    gt = {
        "info": {**coco.get("info", {}), "description": "tilewise sample scene (synthetic)"},
        "images": [{**image, "file_name": SAMPLE_IMAGE_NAME}],
        "annotations": [a for a in coco["annotations"] if a["image_id"] == image["id"]],
        "categories": coco["categories"],
    }
    atomic_write_json(data_dir / SAMPLE_GT_NAME, gt, indent=None)
    _log(f"bundled {DEFAULT_MODEL_NAME}, {SAMPLE_IMAGE_NAME} ({len(gt['annotations'])} objects)")


def stage_eval(work: Path) -> None:
    """Sliced vs full-frame AP of the ONNX model on the test scenes; writes eval.json."""
    from tilewise.models import OnnxDetector
    from tilewise.models.sliced_eval import compare_modes

    model = OnnxDetector(work / "run" / "best.onnx", conf=0.01, max_det=300)
    gt = work / "synth" / "annotations" / "instances_test.json"
    t0 = time.perf_counter()
    report = compare_modes(model, gt, work / "synth" / "images" / "test", batch_size=8)
    atomic_write_json(work / "eval.json", report.to_dict())
    _log(report.text())
    _log(f"evaluated in {time.perf_counter() - t0:.1f} s -> {work / 'eval.json'}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m tilewise.training.recipe [stages] --work DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="*", default=["data", "train", "bundle", "eval"])
    parser.add_argument("--work", type=Path, default=Path("runs/default-model"))
    parser.add_argument(
        "--data-dir", type=Path, default=Path(__file__).resolve().parent.parent / "data"
    )
    args = parser.parse_args(argv)
    stages = {
        "data": lambda: stage_data(args.work),
        "train": lambda: stage_train(args.work),
        "bundle": lambda: stage_bundle(args.work, args.data_dir),
        "eval": lambda: stage_eval(args.work),
    }
    unknown = [s for s in args.stages if s not in stages]
    if unknown:
        parser.error(f"unknown stages {unknown}; choose from {list(stages)}")
    for name in args.stages:
        t0 = time.perf_counter()
        _log(f"stage {name} ...")
        stages[name]()
        _log(f"stage {name} done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
