"""Helpers shared by the source tests: a protocol-only source, a georef, result equality."""

from __future__ import annotations

import numpy as np

from tilewise.detections import GeoReference
from tilewise.sources import Window

GEO = GeoReference("EPSG:32633", (0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0))


class MinimalSource:
    """A source written against the protocol only (no BaseSource): a generated gradient."""

    name = "gradient"
    georef = None

    def __init__(self, image: np.ndarray):
        self.image = image
        self.image_wh = (image.shape[1], image.shape[0])
        self.windows: list[Window] = []

    def read(self, window: Window) -> np.ndarray:
        self.windows.append(window)
        rows, cols = window.slices
        return self.image[rows, cols].copy()  # writable, fresh: the slicer must cope

    def valid_mask(self, window: Window):
        return None

    def describe(self):
        return {"kind": "gradient"}


def assert_same(a, b):
    assert a.detections == b.detections
    assert a.raw == b.raw
    np.testing.assert_array_equal(a.raw_slice_index, b.raw_slice_index)
    np.testing.assert_array_equal(a.report.merge.parent, b.report.merge.parent)
