"""Merging keeps the input's georeferencing (issue 11): every method, boxes and masks."""

from __future__ import annotations

import numpy as np
import pytest

from tilewise import Detections
from tilewise.detections import GeoReference
from tilewise.masks import CompactMasks
from tilewise.merge import greedy_nmm, merge_detections, nmm, nms, wbf

GEO = GeoReference("EPSG:32633", (0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0))
BOXES = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [40, 40, 50, 50]], dtype=np.float32)


def _boxes() -> Detections:
    return Detections(BOXES, [0.6, 0.9, 0.7], [0, 0, 1], georef=GEO)


def _masked() -> Detections:
    dense = np.zeros((3, 64, 64), dtype=bool)
    for k, (x1, y1, x2, y2) in enumerate(BOXES.astype(int).tolist()):
        dense[k, y1:y2, x1:x2] = True
    return Detections(BOXES, [0.6, 0.9, 0.7], [0, 0, 1], masks=dense, georef=GEO)


@pytest.mark.parametrize("method", ["none", "nms", "nmm", "greedy_nmm", "wbf"])
def test_box_merges_keep_the_georef(method):
    merged, result = merge_detections(_boxes(), method, threshold=0.5)
    assert merged.georef == GEO
    assert len(merged) == len(result.keep)


@pytest.mark.parametrize("fn", [nms, nmm, greedy_nmm, wbf])
def test_shortcuts_keep_the_georef(fn):
    assert fn(_boxes()).georef == GEO


@pytest.mark.parametrize("overlap", ["mask", "box"])
@pytest.mark.parametrize("method", ["nms", "nmm", "greedy_nmm"])
def test_mask_merges_keep_the_georef(method, overlap):
    det = _masked()
    assert isinstance(det.masks, CompactMasks)
    merged, _ = merge_detections(det, method, threshold=0.5, mask_overlap=overlap)
    assert merged.georef == GEO
    assert len(merged) == 2


def test_no_georef_stays_none():
    plain = Detections(BOXES, [0.6, 0.9, 0.7])
    for method in ("nms", "nmm", "greedy_nmm", "wbf"):
        assert merge_detections(plain, method)[0].georef is None
