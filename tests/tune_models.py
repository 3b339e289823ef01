"""A cheap, deterministic model for the ``tilewise tune`` command tests (``--model`` path)."""

from __future__ import annotations

from tilewise.evaluation.synthetic import SquareDetector


def squares() -> SquareDetector:
    """``--model tests.tune_models:squares``: the squares detector with a 64 px slice.

    It names its classes as ``write_demo_dataset``'s categories and says its slice size,
    so the tuner centres its search on 64 px slices.
    """
    model = SquareDetector(input_size=64)
    model.names = ("red", "green")  # type: ignore[attr-defined]
    model.slice_wh = (64, 64)  # type: ignore[attr-defined]
    return model
