from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from tilewise import Detections


def blob_model(images: list[np.ndarray]) -> list[Detections]:
    """A real, deterministic 'detector': boxes around bright (red > 128) connected blobs.

    Confidence is the green value at the blob's first pixel / 255; class is blue % 3.
    """
    out = []
    for image in images:
        mask = np.ascontiguousarray(image[..., 0] > 128).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        st = stats[1:n]
        if not len(st):
            out.append(Detections.empty())
            continue
        x, y, w, h = st[:, 0], st[:, 1], st[:, 2], st[:, 3]
        xyxy = np.stack([x, y, x + w, y + h], axis=1)
        conf = image[y, x, 1].astype(np.float32) / 255.0
        cls = image[y, x, 2].astype(np.int64) % 3
        out.append(Detections(xyxy, conf, cls))
    return out


def make_scene(
    wh: tuple[int, int], n: int, seed: int, size: tuple[int, int] = (4, 40)
) -> tuple[np.ndarray, np.ndarray]:
    """A black RGB image with ``n`` random bright squares; returns (image, square boxes)."""
    rng = np.random.default_rng(seed)
    w, h = wh
    image = np.zeros((h, w, 3), np.uint8)
    boxes = []
    for _ in range(n):
        s = int(rng.integers(size[0], size[1] + 1))
        x = int(rng.integers(0, max(w - s, 1)))
        y = int(rng.integers(0, max(h - s, 1)))
        image[y : y + s, x : x + s] = (255, int(rng.integers(60, 250)), int(rng.integers(0, 255)))
        boxes.append([x, y, x + s, y + s])
    return image, np.array(boxes, dtype=np.float32).reshape(-1, 4)


@pytest.fixture
def scene() -> tuple[np.ndarray, np.ndarray]:
    return make_scene((400, 300), 25, seed=3)


@pytest.fixture(scope="module", params=["native", "python"])
def kernel_backend(request: pytest.FixtureRequest):
    """Run every test of a module once per kernel backend (C extension, numpy twin).

    Module-scoped so hypothesis tests can use it; a module opts in with
    ``pytestmark = pytest.mark.usefixtures("kernel_backend")``. The native run is
    skipped where the C extension is not built.
    """
    from tilewise.kernels import use_backend
    from tilewise.kernels.backend import native_available

    if request.param == "native" and not native_available():
        pytest.skip("the C extension tilewise.kernels._native is not built")
    with use_backend(request.param) as backend:
        yield backend


@pytest.fixture(scope="module")
def ray_cluster():
    """A local 2-CPU Ray cluster for one test module; its workers import this checkout."""
    ray = pytest.importorskip("ray")
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    yield ray
    ray.shutdown()
