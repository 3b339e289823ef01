"""OnnxDetector runs of at most ``max_batch_pixels`` input pixels (issue 15).

On ONNX Runtime's CPU provider a run of many large images costs more per pixel than a
small run, so by default (``"auto"``) a run holds at most ``CPU_RUN_PIXELS``. The runs
change the time only: results must be the same whatever they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from tilewise import Slicer, TilewiseError
from tilewise.images import load_image
from tilewise.models import OnnxDetector, bundled_path, default_detector, with_dynamic_input
from tilewise.models.onnx_detector import CPU_RUN_PIXELS
from tilewise.models.testing import constant_detector_onnx


@pytest.fixture(scope="module")
def constant(tmp_path_factory) -> Path:
    return constant_detector_onnx(tmp_path_factory.mktemp("m") / "m.onnx", dynamic_hw=True)


@pytest.mark.parametrize(
    ("pixels", "max_batch", "zoom", "images", "want"),
    [
        # the constant graph's input is 64 x 64 = 4096 px (zoom 2: 128 x 128 = 16384)
        ("auto", None, 1.0, 100, 64),  # 2**18 // 4096
        ("auto", None, 1.0, 10, 10),  # never more than the list
        ("auto", None, 2.0, 100, 16),  # 2**18 // 16384
        ("auto", 8, 1.0, 100, 8),  # max_batch still caps
        (10_000, None, 1.0, 100, 2),  # 10000 // 4096
        (4096, None, 1.0, 100, 1),  # exactly one image
        (4095, None, 1.0, 100, 1),  # below one image: still one per run
        (1, None, 2.0, 5, 1),
        (None, None, 1.0, 100, 100),  # no limit: the whole list
        (None, 3, 1.0, 100, 3),
        ("auto", None, 1.0, 0, 1),  # an empty list: a step of 1 (no run)
    ],
)
def test_run_size_table(
    constant: Path, pixels: object, max_batch: int | None, zoom: float, images: int, want: int
) -> None:
    model = OnnxDetector(constant, max_batch_pixels=pixels, max_batch=max_batch)  # type: ignore[arg-type]
    model = model.with_input_zoom(zoom) if zoom != 1.0 else model
    assert model.run_size(images) == want
    prepared = model.prepare([np.zeros((64, 64, 3), np.uint8)] * images)
    sizes = [x.shape[0] for x in prepared.inputs]
    assert sum(sizes) == images
    assert all(s == want for s in sizes[:-1])
    assert not sizes or 1 <= sizes[-1] <= want


def test_auto_is_the_cpu_limit(constant: Path) -> None:
    model = OnnxDetector(constant)
    assert model.on_cpu
    assert model.max_batch_pixels == CPU_RUN_PIXELS == 2**18
    assert OnnxDetector(constant, max_batch_pixels=None).max_batch_pixels is None
    # a zoomed copy keeps the limit, so it runs fewer of its larger images at once
    assert model.with_input_zoom(2.0).max_batch_pixels == CPU_RUN_PIXELS


@pytest.mark.parametrize("bad", [0, -5, True, 1.5, "big", [4096]])
def test_bad_max_batch_pixels(constant: Path, bad: object) -> None:
    with pytest.raises(TilewiseError, match="max_batch_pixels must be an int >= 1, 'auto' or None"):
        OnnxDetector(constant, max_batch_pixels=bad)  # type: ignore[arg-type]


def test_fixed_batch_graph_ignores_the_limit(tmp_path: Path) -> None:
    path = constant_detector_onnx(tmp_path / "fixed.onnx", dynamic_batch=False)
    model = OnnxDetector(path, max_batch_pixels=10**9)
    assert model.fixed_batch == 1
    assert model.run_size(10) == 1


@pytest.mark.parametrize("zoom", [1.0, 1.75])
def test_bundled_model_same_results_whatever_the_runs(tmp_path: Path, zoom: float) -> None:
    """The real graph (its convolutions, not a constant) gives the same detections in runs
    of one image, of the CPU limit and of the whole batch, at zoom 1 and zoomed."""
    base = default_detector(conf=0.05)
    copy = with_dynamic_input(base.path, tmp_path / "dynamic.onnx")
    image = load_image(bundled_path("sample_scene.jpg"))[:400, :400]
    outs = []
    for pixels in (1, "auto", None):
        model = OnnxDetector(copy, conf=0.05, imgsz=base.imgsz, max_batch_pixels=pixels)  # type: ignore[arg-type]
        slicer = Slicer(model, slice_wh=200, overlap=0.0, batch_size=4, zoom=zoom)
        outs.append(slicer(image))
    assert len(outs[0]) > 0
    assert outs[0] == outs[1] == outs[2]
