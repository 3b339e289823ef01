"""Pure-numpy twin of ``tilewise.kernels._native`` (placeholder until the twin lands)."""

from __future__ import annotations

import numpy as np

__all__ = ["group", "pairs"]


def group(
    boxes: np.ndarray,
    confidence: np.ndarray,
    offsets: np.ndarray,
    parent: np.ndarray,
    mode: int,
    metric: int,
    threshold: float,
) -> None:
    """Not implemented yet."""
    raise NotImplementedError


def pairs(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Not implemented yet."""
    raise NotImplementedError
