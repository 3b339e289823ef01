"""Models for ``tilewise serve --model tests.serve_models:NAME`` in the service tests."""

from __future__ import annotations

from tilewise.serve.testing import FixedCostModel


def fast() -> FixedCostModel:
    """Bright-blob detector with a small fixed cost per call (2 ms + 0.2 ms per slice)."""
    return FixedCostModel(call_ms=2.0, image_ms=0.2, slice_wh=(96, 96))


def slow() -> FixedCostModel:
    """Bright-blob detector costing 400 ms per call: deadlines and overload."""
    return FixedCostModel(call_ms=400.0, image_ms=0.0, slice_wh=(96, 96))
