"""Checks shared by the merge kernels and the overlap queries: clear errors, no surprises."""

from __future__ import annotations

from typing import Any

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["checked_boxes", "checked_confidence", "checked_class_id", "checked_threshold"]

MAX_COORDINATE = 1e150
"""Largest box coordinate magnitude accepted: areas and their sums stay finite in float64."""


def _numeric(arr: np.ndarray, name: str) -> None:
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise TilewiseError(f"{name} must be a real-valued numeric array, got dtype {arr.dtype}")


def checked_boxes(xyxy: Any) -> np.ndarray:
    """Return ``xyxy`` as a C-contiguous (N, 4) float64 array of finite coordinates.

    Example:
        >>> checked_boxes([[0, 0, 2, 2]]).dtype
        dtype('float64')
    """
    arr = np.asarray(xyxy)
    if arr.size == 0 and arr.ndim in (1, 2):
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise TilewiseError(f"xyxy must have shape (N, 4), got {arr.shape}")
    _numeric(arr, "xyxy")
    boxes = np.ascontiguousarray(arr, dtype=np.float64)
    finite = np.isfinite(boxes).all(axis=1)
    if not finite.all():
        raise TilewiseError(
            f"xyxy holds {int((~finite).sum())} rows with NaN or infinite coordinates "
            f"(first at row {int(np.argmin(finite))}); drop them first "
            "(Detections.finite_mask)"
        )
    if boxes.size and np.abs(boxes).max() > MAX_COORDINATE:
        raise TilewiseError(f"box coordinates must be at most {MAX_COORDINATE:g} in magnitude")
    return boxes


def checked_confidence(confidence: Any, n: int) -> np.ndarray:
    """Return ``confidence`` as a (N,) float64 array of finite scores.

    Example:
        >>> checked_confidence([0.5, 1], 2).tolist()
        [0.5, 1.0]
    """
    arr = np.asarray(confidence)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise TilewiseError(f"confidence must have shape ({n},) to match xyxy, got {arr.shape}")
    _numeric(arr, "confidence")
    conf = np.ascontiguousarray(arr, dtype=np.float64)
    finite = np.isfinite(conf)
    if not finite.all():
        raise TilewiseError(
            f"confidence holds {int((~finite).sum())} NaN or infinite values "
            f"(first at row {int(np.argmin(finite))}); drop them first "
            "(Detections.finite_mask)"
        )
    return conf


def checked_class_id(class_id: Any, n: int) -> np.ndarray | None:
    """Return ``class_id`` as a (N,) int64 array, or None when not given.

    Example:
        >>> checked_class_id([1.0, 2.0], 2).tolist()
        [1, 2]
    """
    if class_id is None:
        return None
    arr = np.asarray(class_id)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise TilewiseError(f"class_id must have shape ({n},) to match xyxy, got {arr.shape}")
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer)
        or (np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0))
    ):
        raise TilewiseError(f"class_id must hold integers, got {arr.dtype} values like {arr[:3]}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def checked_threshold(threshold: Any, *, allow_zero: bool) -> float:
    """Return ``threshold`` as a float in [0, 1] (``allow_zero``) or in (0, 1].

    Example:
        >>> checked_threshold(0.5, allow_zero=False)
        0.5
    """
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(
        threshold, (int, float, np.integer, np.floating)
    ):
        raise TilewiseError(f"threshold must be a number, got {threshold!r}")
    thr = float(threshold)
    if allow_zero and not 0.0 <= thr <= 1.0:
        raise TilewiseError(f"threshold must be in [0, 1], got {threshold!r}")
    if not allow_zero and not 0.0 < thr <= 1.0:
        raise TilewiseError(
            f"threshold must be in (0, 1] for a merging method, got {threshold!r} "
            "(0 would merge boxes that do not overlap at all)"
        )
    return thr
