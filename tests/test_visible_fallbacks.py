"""Fallbacks that used to be silent now say so (issue 17, item 5).

* anchor fitting: too few labels (default anchors) and no evolution possible (plain
  k-means) are warnings, or notes that training logs;
* model metadata: an unreadable stride is a warning, and its text is kept;
* plots: an undefined metric (no objects in a bucket) is drawn as "n/a", never as 0.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tilewise.errors import TilewiseWarning
from tilewise.models.metadata import ModelMetadata
from tilewise.training.anchor_fit import fit_anchors
from tilewise.training.config import DEFAULT_ANCHORS

# ----------------------------------------------------------------------------- anchors

RNG = np.random.default_rng(0)
ENOUGH = np.exp(RNG.uniform(np.log(4), np.log(64), (300, 2)))


def test_fitted_anchors_say_nothing() -> None:
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        anchors = fit_anchors(ENOUGH, img_size=320, notes=notes)
    assert notes == []
    assert anchors != DEFAULT_ANCHORS


@pytest.mark.parametrize(
    ("wh", "message", "defaults"),
    [
        (ENOUGH[:5], "fewer than the 6 anchors to fit; using the default anchors", True),
        (np.zeros((0, 2)), "0 label", True),
        # 40 labels but all under 2 px: the evolution refuses, k-means on log sizes runs
        (np.full((40, 2), 1.5) + RNG.uniform(0, 0.4, (40, 2)), "plain k-means", False),
    ],
)
def test_anchor_fallbacks_warn_or_note(wh: np.ndarray, message: str, defaults: bool) -> None:
    with pytest.warns(TilewiseWarning, match=message):
        warned = fit_anchors(wh, img_size=320)
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # with a notes list: no warning, one note
        noted = fit_anchors(wh, img_size=320, notes=notes)
    assert len(notes) == 1
    assert message in notes[0]
    assert noted == warned
    assert (noted == DEFAULT_ANCHORS) is defaults
    if not defaults:
        # k-means still fits the labels: every anchor within the labels' size range
        flat = np.array([a for level in noted for a in level])
        assert np.all(flat >= 2.0)  # anchors are clipped to 2 px
        assert np.all(flat <= max(2.0, float(wh.max())) + 1e-9)


def test_training_logs_the_anchor_fallback() -> None:
    pytest.importorskip("torch")
    import importlib

    from tilewise.datasets import DatasetBuilder

    train_mod = importlib.import_module("tilewise.training.train")
    b = DatasetBuilder(["a"])
    i = b.add_image("x.png", 64, 64)
    b.add_box(i, [1, 1, 9, 9], 0)
    cfg = SimpleNamespace(anchors="auto", img_size=64, seed=0)
    logged: list[str] = []
    anchors = train_mod._anchors(cfg, b.build(), np.array([0]), logged.append)
    assert anchors == DEFAULT_ANCHORS
    assert len(logged) == 1
    assert "default anchors" in logged[0]


# ----------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("text", ["abc", "16.5", "0", "-32", "nan", "inf"])
def test_unreadable_stride_warns_and_is_kept(text: str) -> None:
    with pytest.warns(TilewiseWarning, match="stride"):
        meta = ModelMetadata.from_props({"stride": text, "names": "{0: 'a'}"})
    assert meta.stride is None
    assert meta.extra == {"stride": text}
    assert meta.to_props()["stride"] == text  # written back as it was read


@pytest.mark.parametrize(("text", "stride"), [("32", 32), ("32.0", 32), ("8", 8), ("", None)])
def test_readable_stride_is_silent(text: str, stride: int | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        meta = ModelMetadata.from_props({"stride": text})
    assert meta.stride == stride
    assert "stride" not in meta.extra


# ----------------------------------------------------------------------------- plots


@pytest.fixture
def captured(monkeypatch) -> list[Any]:
    pytest.importorskip("matplotlib")
    from tilewise.evaluation import plots

    figs: list[Any] = []

    def keep(fig: Any, path: Any) -> Path:
        figs.append(fig)
        return Path(path)

    monkeypatch.setattr(plots, "_save", keep)
    return figs


def _one_object_result():
    from tilewise.evaluation import evaluate

    gt = {
        "images": [{"id": 1, "width": 200, "height": 200}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 12, 12], "area": 144}
        ],
    }
    preds = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 12, 12], "score": 0.9}]
    return evaluate(gt, preds, tiny=True)


def test_bucket_plot_draws_undefined_as_na_not_zero(captured: list[Any]) -> None:
    from tilewise.evaluation.plots import plot_bucket_metrics

    res = _one_object_result()
    plot_bucket_metrics({"run": res}, "b.png")
    (fig,) = captured
    (ax,) = fig.axes
    buckets = [r.name for r in res.area_ranges]
    rects = ax.patches
    assert len(rects) == len(buckets)
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == len(buckets)
    for name, rect, label in zip(buckets, rects, labels, strict=True):
        value = res.get("AP", name)
        if math.isnan(value):  # medium, large, 2-8px, 16-32px: no objects
            assert label == "n/a", name
            assert not rect.get_visible(), name
        else:  # all, small, 8-16px: the one object, found
            assert label == f"{value:.2f}" == "1.00", name
            assert rect.get_visible()
            assert rect.get_height() == pytest.approx(value)
    assert labels.count("n/a") == 4


def test_pr_curve_of_an_undefined_bucket_is_not_a_zero_curve(captured: list[Any]) -> None:
    from tilewise.evaluation.plots import plot_pr_curves

    res = _one_object_result()
    plot_pr_curves({"run": res}, "pr.png", area="large")
    plot_pr_curves({"run": res}, "pr.png", area="small")
    undefined_ax, defined_ax = (fig.axes[0] for fig in captured)
    (line,) = undefined_ax.get_lines()
    assert np.all(np.isnan(line.get_ydata()))
    assert "n/a" in line.get_label()
    (line,) = defined_ax.get_lines()
    assert not np.any(np.isnan(line.get_ydata()))
    assert "n/a" not in line.get_label()
