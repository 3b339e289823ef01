"""Shared data and models of the training tests (CPU and CUDA): tiny tiles, a tiny net."""

from __future__ import annotations

from pathlib import Path

import torch

from tilewise.datasets.tiling import TilingConfig, tile_dataset
from tilewise.synth import SynthConfig, generate_benchmark
from tilewise.training import DetectorConfig, TileDetector

TINY = {"widths": (8, 8, 16, 16, 32), "depths": (1, 1, 1, 1)}
"""A detector small enough to train for a few steps in a test."""


def make_tiles(root: Path, *, scenes: int, seed: int, empty_ratio: float | None = None) -> Path:
    """Synthetic 128 px scenes cut into 64 px tiles under ``root``; returns the tiles' path."""
    cfg = SynthConfig(scene_size=128, size_range=(4, 24), objects_per_mpx=(700, 900))
    generate_benchmark(root / "synth", scenes=scenes, seed=seed, config=cfg, progress=False)
    tiling = {} if empty_ratio is None else {"empty_ratio": empty_ratio}
    tile_dataset(
        root / "synth",
        root / "tiles",
        TilingConfig(slice_wh=64, overlap=0, **tiling),
        progress=False,
    )
    return root / "tiles"


def scored_detector(num_classes: int) -> TileDetector:
    """A tiny untrained detector in eval mode whose scores are spread (no ties).

    Batch norm gets the statistics of real activations (an untrained net's eval output
    otherwise fades to zero), then the prediction convolutions are sharpened.
    """
    model = TileDetector(DetectorConfig(num_classes=num_classes, **TINY))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average: one batch sets the statistics
    with torch.no_grad():
        model.train()(torch.rand(4, 3, 64, 64))
        for conv in model.detect.preds:
            conv.weight.mul_(3)  # spread the scores: no ties between boxes
            conv.bias.zero_()
    return model.eval()
