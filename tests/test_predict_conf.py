"""``--conf`` applies to every model kind the one loader builds (regression).

Before: ``tilewise predict --model package.module:name --conf X`` kept every detection the
model returned (only ONNX models were given ``conf``), while ``tilewise serve`` filtered
every model at the request's ``conf``.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import make_scene
from tilewise import Detections, Slicer
from tilewise.cli.app import app
from tilewise.cli.model_option import load_model
from tilewise.serve.testing import FixedCostModel
from tilewise.slicing.confidence import ConfFilteredModel, keep_confident, with_conf

MODEL = "tests.serve_models:fast"


def scene(seed: int = 3) -> np.ndarray:
    return make_scene((300, 220), 40, seed=seed, size=(4, 24))[0]


def test_import_path_models_get_conf():
    plain = load_model(MODEL)
    filtered = load_model(MODEL, conf=0.5)
    assert isinstance(filtered, ConfFilteredModel)
    assert not isinstance(load_model(MODEL, conf=None), ConfFilteredModel)
    assert filtered.slice_wh == plain.slice_wh == (96, 96)
    assert filtered.names == plain.names
    images = [scene(1), scene(2)]
    raw = plain(images)
    out = filtered(images)
    for before, after in zip(raw, out, strict=True):
        keep = before.confidence > np.float32(0.5)
        assert 0 < keep.sum() < len(before)  # the scene has both sides of 0.5
        assert after == before[keep]


@pytest.mark.parametrize(
    ("conf", "expected"),
    [(0.0, [0.1, 0.25, 0.5, 1.0]), (0.25, [0.5, 1.0]), (0.5, [1.0]), (1.0, [])],
)
def test_keep_confident_is_strictly_above(conf, expected):
    det = Detections(np.zeros((4, 4)), [0.1, 0.25, 0.5, 1.0])
    assert keep_confident(det, conf).confidence.tolist() == pytest.approx(expected)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", True])
def test_bad_conf_is_refused(bad):
    with pytest.raises(ValueError, match="conf must be a number in"):
        with_conf(lambda images: [], bad)


class Staged:
    """A staged model over the fixed-cost blob detector (prepare/forward/finish)."""

    def __init__(self) -> None:
        self.inner = FixedCostModel(call_ms=0.0, image_ms=0.0)
        self.on_cpu = False

    def __call__(self, images):
        return self.inner(images)

    def prepare(self, images):
        return list(images)

    def forward(self, prepared):
        return self.inner(prepared)

    def finish(self, prepared, raw):
        return raw


def test_staged_models_stay_staged_and_filter_in_finish():
    model = with_conf(Staged(), 0.5)
    assert all(callable(getattr(model, n, None)) for n in ("prepare", "forward", "finish"))
    image = scene(4)
    piped = Slicer(model, slice_wh=96, overlap=0.2, batch_size=2, pipeline=True).run(image)
    whole = Slicer(
        with_conf(FixedCostModel(call_ms=0.0, image_ms=0.0), 0.5), slice_wh=96, overlap=0.2
    ).run(image)
    assert len(piped.detections) > 0
    assert bool(np.all(piped.detections.confidence > np.float32(0.5)))
    assert piped.detections == whole.detections


def test_predict_import_path_model_applies_conf(tmp_path: Path):
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), cv2.cvtColor(scene(), cv2.COLOR_RGB2BGR))
    docs = {}
    for conf in ("0.05", "0.6"):
        out = tmp_path / f"out{conf}"
        args = ["predict", str(path), "--model", MODEL, "--conf", conf, "--out", str(out)]
        result = CliRunner().invoke(app, [*args, "--slice", "96", "--no-progress"])
        assert result.exit_code == 0, result.output
        docs[conf] = json.loads((out / "scene.json").read_text())["detections"]
    low, high = docs["0.05"], docs["0.6"]
    assert all(d["confidence"] > 0.6 for d in high)
    # NMS keeps the higher score of a pair, so filtering first or last gives the same set
    assert high == [d for d in low if d["confidence"] > 0.6]
    assert 0 < len(high) < len(low)


class _InputZoomModel:
    """Enlarges its own input for a zoom (as a dynamic-input ONNX detector does): records
    the zoom each copy was made for and the slice sizes it saw."""

    zooms_input = True

    def __init__(self, zoom: float = 1.0, seen: list | None = None) -> None:
        self.zoom, self.seen = zoom, seen if seen is not None else []

    def with_input_zoom(self, zoom: float) -> _InputZoomModel:
        return _InputZoomModel(zoom, self.seen)

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        self.seen.extend((self.zoom, im.shape[:2]) for im in images)
        return [Detections(np.array([[1, 1, 5, 5], [2, 2, 6, 6]]), [0.2, 0.9]) for _ in images]


def test_the_conf_filter_keeps_a_model_s_own_input_zoom() -> None:
    """Regression: ``with_conf`` hid ``zooms_input``, so ``predict --model pkg:name --conf``
    resized the slices instead of asking the model to enlarge its input."""
    inner = _InputZoomModel()
    model = with_conf(inner, 0.5)
    assert model.zooms_input is True
    assert with_conf(lambda images: [], 0.5).zooms_input is False
    run = Slicer(model, slice_wh=32, overlap=0, zoom=2.0).run(np.zeros((32, 64, 3), np.uint8))
    assert inner.seen == [(2.0, (32, 32)), (2.0, (32, 32))]  # slices as cut: not resized
    assert run.detections.confidence.tolist() == pytest.approx([0.9, 0.9])
