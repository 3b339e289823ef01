"""Slice size and overlap recommendation from the object-size distribution."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tilewise.slicing.grid import SliceGrid

__all__ = ["TARGET_MIN_SIDE", "recommend_slicing"]

TARGET_MIN_SIDE = 16.0
"""Shorter box side, in model-input pixels, that detectors find reliably (a stride-8 head
sees such an object in at least 2 x 2 cells); under 8 px recall falls steeply."""

MAX_UPSAMPLE = 2.0
"""A slice is never smaller than model_input / 2: upsampling more adds no detail."""


def _snap(value: float, step: int = 32) -> int:
    return max(step, int(value // step) * step)


def recommend_slicing(
    min_side: np.ndarray,
    max_side: np.ndarray,
    image_wh: np.ndarray,
    model_input: int,
    *,
    target: float = TARGET_MIN_SIDE,
) -> dict[str, Any]:
    """Recommend a slice size and overlap, with the reasons.

    The slice is chosen so that the small objects (10th percentile of the shorter side,
    native px) reach ``target`` px at the model input once a slice is resized to
    ``model_input``; it is snapped down to a multiple of 32, kept between
    ``model_input / 2`` and the typical image size. The overlap is chosen so that objects
    up to the 95th percentile of the longer side fit whole in the overlap band (10-50 %).

    Args:
        min_side: shorter sides of the boxes, native px.
        max_side: longer sides of the boxes, native px.
        image_wh: (M, 2) image sizes.
        model_input: the detector's input size in px.
        target: wanted shorter side of small objects at the model input.

    Example:
        >>> r = recommend_slicing(np.full(100, 6.0), np.full(100, 9.0),
        ...                       np.array([[4000, 3000]]), 640)
        >>> r["slice"], r["overlap"], r["slicing"]
        (320, 0.1, True)
    """
    s = int(model_input)
    reasons: list[str] = []
    if image_wh.size == 0 or min_side.size == 0:
        return {
            "slicing": False,
            "slice": None,
            "overlap": 0.0,
            "reasons": ["no valid boxes: nothing to base a recommendation on"],
        }
    long_side = float(np.median(np.max(image_wh, axis=1)))
    small = float(np.percentile(min_side, 10))
    big = float(np.percentile(max_side, 95))
    full_scale = s / long_side
    if small * full_scale >= target:
        reasons.append(
            f"at full-image resize (x{full_scale:.2f}) the small objects (p10 shorter side "
            f"{small:.1f} px) are {small * full_scale:.1f} px >= {target:.0f} px at the model "
            "input: slicing is not needed"
        )
        return {
            "slicing": False,
            "slice": int(long_side),
            "overlap": 0.0,
            "small_at_input_px": small * full_scale,
            "reasons": reasons,
        }
    reasons.append(
        f"at full-image resize (x{full_scale:.2f}, median long side {long_side:.0f} px -> {s}) "
        f"the small objects (p10 shorter side {small:.1f} px) shrink to "
        f"{small * full_scale:.1f} px, under the {target:.0f} px detectors need"
    )
    ideal = s * small / target
    slice_px = _snap(ideal)
    lower = _snap(s / MAX_UPSAMPLE)
    if slice_px < lower:
        reasons.append(
            f"the ideal slice ({ideal:.0f} px) would upsample more than x{MAX_UPSAMPLE:.0f}, "
            f"which adds no detail: using {lower} px (the smallest objects stay under "
            f"{target:.0f} px; consider a higher-resolution model input)"
        )
        slice_px = lower
    elif slice_px >= long_side:
        slice_px = int(long_side)
        reasons.append("the ideal slice is as large as the images: slicing barely helps")
    else:
        reasons.append(
            f"a {slice_px} px slice resized to {s} px (x{s / slice_px:.2f}) brings them to "
            f"{small * s / slice_px:.1f} px"
        )
    overlap_px = big * 1.1
    ratio = overlap_px / slice_px
    overlap = min(0.5, max(0.1, math.ceil(ratio * 20) / 20))
    if ratio > 0.5:
        reasons.append(
            f"large objects (p95 longer side {big:.0f} px) exceed half a slice; overlap capped "
            "at 0.5 -- rely on merging across slices, or add a full-image pass"
        )
    else:
        reasons.append(
            f"overlap {overlap:.2f} ({overlap * slice_px:.0f} px) holds objects up to the p95 "
            f"longer side ({big:.0f} px) whole in at least one slice"
        )
    w, h = (int(v) for v in np.median(image_wh, axis=0))
    tiles = len(SliceGrid((max(w, 1), max(h, 1)), slice_wh=slice_px, overlap=float(overlap)))
    reasons.append(f"a median {w}x{h} image gives {tiles} slices")
    return {
        "slicing": True,
        "slice": slice_px,
        "overlap": float(overlap),
        "small_at_input_px": small * s / slice_px,
        "slices_per_image": tiles,
        "reasons": reasons,
    }
