from __future__ import annotations

import numpy as np
import pytest

from tilewise.datasets import DatasetBuilder
from tilewise.datasets.anchors import (
    YOLOV5_ANCHORS,
    analyse_anchors,
    evolve_anchors,
    label_sizes,
)
from tilewise.errors import TilewiseError


def test_ratio_metric_exact():
    # label 20x10 vs anchor 10x10: ratios 2 and 1 -> metric 0.5; vs 80x10: 0.25 (not past)
    a = analyse_anchors(np.array([[10.0, 10.0], [80.0, 10.0]]), np.array([[20.0, 10.0]]))
    assert a.bpr == 1.0
    assert a.aat == 1.0
    assert a.fitness == pytest.approx(0.5)
    assert a.anchors.tolist() == [[10.0, 10.0], [80.0, 10.0]]


def test_evolution_improves_and_sorts_by_area():
    rng = np.random.default_rng(1)
    wh = np.concatenate(
        [rng.normal(6, 0.5, (200, 2)), rng.normal(20, 2, (200, 2)), rng.normal(60, 5, (200, 2))]
    )
    wh[:10] = 2.5  # tiny labels are counted
    r = evolve_anchors(wh, n=3, generations=200, reference=YOLOV5_ANCHORS[:3], progress=False)
    assert r.under_3px == 10
    assert "under 3 pixels" in r.report
    areas = np.prod(r.anchors, axis=1)
    assert np.all(np.diff(areas) >= 0)
    assert r.after.bpr >= 0.99
    assert r.after.fitness >= r.before.fitness
    again = evolve_anchors(wh, n=3, generations=200, progress=False)
    assert np.array_equal(again.anchors, r.anchors)  # seeded


def test_label_sizes_scale_long_side():
    b = DatasetBuilder(["a"])
    i = b.add_image("x.png", 2000, 1000)
    b.add_box(i, [0, 0, 100, 50], 0)
    b.add_box(i, [0, 0, 0, 50], 0)  # zero width: left out
    assert label_sizes(b.build(), 640).tolist() == [[32.0, 16.0]]


def test_too_few_labels():
    with pytest.raises(TilewiseError, match="too few"):
        evolve_anchors(np.array([[5.0, 5.0]]), n=3, progress=False)
