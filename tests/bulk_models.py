"""Small, deterministic batch models for the bulk-run tests (importable by Ray workers)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from tilewise import Detections

FAIL_VALUE = 13
"""Images whose first pixel is (13, 13, 13) make ``blob_model`` raise (a model failure)."""


def blob_model(images: list[np.ndarray]) -> list[Detections]:
    """Bright 8x8 cells as boxes, scored by brightness; class by cell parity."""
    out = []
    for im in images:
        if (im[0, 0] == FAIL_VALUE).all():
            raise RuntimeError("the model cannot take this image")
        h, w = im.shape[:2]
        cells = im[: h // 8 * 8, : w // 8 * 8, 0].reshape(h // 8, 8, w // 8, 8).mean(axis=(1, 3))
        ys, xs = np.nonzero(cells > 200)
        boxes = np.stack([xs * 8, ys * 8, xs * 8 + 8, ys * 8 + 8], axis=1).astype(np.float32)
        scores = (cells[ys, xs] / 255.0).astype(np.float32)
        out.append(Detections(boxes.reshape(-1, 4), scores, (xs + ys) % 2))
    return out


blob_model.names = ["even", "odd"]  # type: ignore[attr-defined]


def blob_factory():
    """``--model tests.bulk_models:blob_factory``."""
    return blob_model


def slow_blob_model(images: list[np.ndarray]) -> list[Detections]:
    """``blob_model`` that also sleeps ``TILEWISE_TEST_SLEEP`` seconds per call (kill tests)."""
    time.sleep(float(os.environ.get("TILEWISE_TEST_SLEEP", "0.2")))
    return blob_model(images)


def write_scenes(
    folder: Path, n: int, *, size: tuple[int, int] = (96, 64), seed: int = 0
) -> list[Path]:
    """``n`` PNG scenes of bright squares on a dark background (varied sizes)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        w, h = size[0] + 8 * (i % 3), size[1] + 8 * (i % 2)
        im = rng.integers(0, 120, (h, w, 3), dtype=np.uint8)
        for _ in range(int(rng.integers(1, 6))):
            x, y = int(rng.integers(0, w - 8)) // 8 * 8, int(rng.integers(0, h - 8)) // 8 * 8
            im[y : y + 8, x : x + 8] = int(rng.integers(201, 256))
        path = folder / f"scene_{i:03d}.png"
        cv2.imwrite(str(path), im)
        paths.append(path)
    return paths


def slow_blob_factory():
    """``--model tests.bulk_models:slow_blob_factory``."""
    slow_blob_model.names = blob_model.names  # type: ignore[attr-defined]
    return slow_blob_model


def two_class_model(images: list[np.ndarray]) -> list[Detections]:
    """``blob_model``'s boxes, each also named the other class one pixel to the right at
    0.9 of its confidence: the cross-class duplicates a class-agnostic merge removes."""
    out = []
    for det in blob_model(images):
        shifted = det.xyxy + np.float32([1, 0, 1, 0])
        out.append(
            Detections(
                np.concatenate([det.xyxy, shifted]),
                np.concatenate([det.confidence, det.confidence * np.float32(0.9)]),
                np.concatenate([det.class_id, 1 - det.class_id]),
            )
        )
    return out


two_class_model.names = blob_model.names  # type: ignore[attr-defined]


def two_class_factory():
    """``two_class_model`` for Ray workers (``predict_images``' model factory)."""
    return two_class_model
