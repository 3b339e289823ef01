"""Pixel conversions to H x W x 3 uint8 RGB: scaling wide samples, compositing alpha."""

from __future__ import annotations

from typing import Any

import numpy as np

from tilewise.images.options import Scaling

__all__ = ["composite", "scale_to_uint8", "scaling_range"]

_CHUNK_VALUES = 1 << 22
"""Values converted per chunk, so scaling a huge image never doubles it in float64."""

_MAX_PERCENTILE_VALUES = 1 << 24
"""Above this many values, percentiles come from an evenly strided sample of them."""


def scaling_range(
    values: np.ndarray, scaling: Scaling, *, bits: int, sample: str
) -> tuple[float, float, dict[str, Any]]:
    """The (low, high) value range that ``scaling`` maps to 0..255, and its JSON record.

    ``bits`` and ``sample`` come from the file header: an unsigned 16-bit PNG read into a
    32-bit array still has the full range 0..65535.

    Example:
        >>> import numpy as np
        >>> scaling_range(np.array([0, 4095], np.uint16), Scaling(), bits=16, sample="uint")[:2]
        (0.0, 65535.0)
        >>> lo, hi, rec = scaling_range(np.arange(101.0), Scaling(percentiles=(1, 99)),
        ...                             bits=64, sample="float")
        >>> lo, hi, rec["rule"]
        (1.0, 99.0, 'percentile')
    """
    record: dict[str, Any] = {"rule": scaling.rule, "source_bits": int(bits), "sample": sample}
    if scaling.value_range is not None:
        lo, hi = scaling.value_range
    elif scaling.percentiles is not None:
        flat = values.reshape(-1)
        step = max(1, flat.size // _MAX_PERCENTILE_VALUES)
        picked = flat[::step]
        if picked.dtype.kind == "f":
            picked = picked[np.isfinite(picked)]
        if step > 1:
            record["sampled_values"] = int(picked.size)
        if picked.size == 0:
            lo, hi = 0.0, 1.0
        else:
            lo, hi = (float(v) for v in np.percentile(picked, scaling.percentiles))
        record["percentiles"] = list(scaling.percentiles)
    elif sample == "uint" and values.dtype.kind in "ui" and 8 < bits <= 32:
        lo, hi = 0.0, float(2**bits - 1)
    else:
        finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        if finite.size == 0:
            lo, hi = 0.0, 1.0
        else:
            lo, hi = float(finite.min()), float(finite.max())
            if lo >= 0.0 and hi <= 1.0:
                lo, hi = 0.0, 1.0
        record["rule"] = "unit" if (lo, hi) == (0.0, 1.0) else "minmax"
    if not hi > lo:
        hi = lo + 1.0
    record["range"] = [lo, hi]
    return lo, hi, record


def scale_to_uint8(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map [lo, hi] linearly to 0..255 (rounded, clipped; NaN becomes 0).

    Example:
        >>> import numpy as np
        >>> scale_to_uint8(np.array([0, 257, 65535, 32896], np.uint16), 0, 65535).tolist()
        [0, 1, 255, 128]
    """
    out = np.empty(values.shape, dtype=np.uint8)
    flat_in = values.reshape(values.shape[0], -1)
    flat_out = out.reshape(out.shape[0], -1)
    rows = max(1, _CHUNK_VALUES // max(1, flat_in.shape[1]))
    factor = 255.0 / (hi - lo)
    for start in range(0, flat_in.shape[0], rows):
        chunk = flat_in[start : start + rows].astype(np.float64)
        chunk -= lo
        chunk *= factor
        np.clip(chunk, 0.0, 255.0, out=chunk)
        np.nan_to_num(chunk, copy=False, nan=0.0)
        np.rint(chunk, out=chunk)
        flat_out[start : start + rows] = chunk
    return out


def composite(rgb: np.ndarray, alpha: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """Composite uint8 colour over a background colour with uint8 alpha.

    out = (colour * a + background * (255 - a)) / 255, rounded: opaque pixels keep their
    colour exactly, fully transparent ones become the background.

    Example:
        >>> import numpy as np
        >>> rgb = np.full((1, 3, 3), 200, np.uint8)
        >>> composite(rgb, np.array([[255, 0, 128]], np.uint8), (0, 0, 0))[0, :, 0].tolist()
        [200, 0, 100]
    """
    out = np.empty((*rgb.shape[:2], 3), dtype=np.uint8)
    bg = np.asarray(background, dtype=np.uint32)
    rows = max(1, _CHUNK_VALUES // max(1, rgb.shape[1] * 3))
    for start in range(0, rgb.shape[0], rows):
        a = alpha[start : start + rows, :, None].astype(np.uint32)
        c = rgb[start : start + rows, :, :3].astype(np.uint32)
        mixed = c * a + bg * (255 - a) + 127
        out[start : start + rows] = mixed // 255
    return out
