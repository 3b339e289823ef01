"""Decoded video frames to RGB: OpenCV's BT.601 kernel where it is exact, else PyAV's.

``VideoFileSource`` converts each kept frame to ``H x W x 3`` uint8 RGB with an
``RgbConverter``. Two conversions (``RgbConversion``):

* ``"opencv"`` (the default): the frame's 8-bit ``yuv420p`` planes are packed into one
  I420 buffer and converted by ``cv2.cvtColor(..., COLOR_YUV2RGB_I420)``: ITU-R BT.601,
  limited ("TV") range, each chroma sample used for its 2x2 block of pixels, luma below
  16 clamped to 16 (OpenCV's kernel). It is within 1 level of the hand-computed BT.601
  formula on every pixel (fixed-point rounding; ``tests/test_video_rgb.py``), allocates
  its arrays through numpy (few page faults) and runs as SIMD code. Odd widths and
  heights are padded by repeating the last column or row, then cropped back: the chroma
  of every pixel is the same sample as without padding.
* ``"pyav"``: PyAV's ``to_ndarray(format="rgb24")`` (FFmpeg's swscale, honouring the
  frame's colour tags), as the source did before. Its output buffer is FFmpeg's own
  allocation, fresh memory for every frame: on the 4K benchmark video it costs ~4000
  page faults and ~9 ms of CPU per frame against ~6 ms for the OpenCV path
  (``benchmarks/bench_video_decoders.py``; swscale threading settings change neither
  pixels nor cost measurably).

A frame the OpenCV kernel would get wrong falls back to ``"pyav"``, and
``FrameStats.rgb_fallback`` says why: any pixel format other than 8-bit ``yuv420p``
(10-bit, 4:2:2, 4:4:4, RGB codecs...), full-range levels (``yuvj420p``, a JPEG colour
range tag) and any colour matrix other than BT.601 (untagged, BT.470BG or SMPTE 170M).
BT.709, the usual tag of HD and 4K video, falls back: PyAV converts it with the BT.709
matrix, as OpenCV's own ``VideoCapture`` does (checked with OpenCV 5.1); the BT.601
kernel would shift its colours by up to ~20 levels. ``FrameStats.rgb`` counts the frames
each conversion made.

At even sizes the two conversions differ by rounding only, not by matrix or chroma
sampling: swscale's default (fast, table-driven) BT.601 path is itself 1.2 levels off
the formula on average (up to 3), the OpenCV kernel 0.04 on average (up to 1), so the
two differ by up to ~7 levels at a few pixels and ~1.2 on average (measured on the 4K
benchmark video, RESULTS.md). At odd sizes swscale leaves its fast path and interpolates
chroma, so at colour edges the two differ by more there (the OpenCV path stays within 1
level of the formula). Both are deterministic: the same frame gives the same pixels
whatever the threads.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from tilewise.errors import TilewiseError

__all__ = [
    "RGB_CONVERSIONS",
    "RgbConversion",
    "RgbConverter",
    "i420_buffer",
    "opencv_refusal",
]

RgbConversion = Literal["opencv", "pyav"]
RGB_CONVERSIONS: tuple[RgbConversion, ...] = ("opencv", "pyav")

_BT601_MATRICES = {2: "unspecified", 5: "BT.470BG", 6: "SMPTE 170M"}
"""FFmpeg ``AVColorSpace`` values the BT.601 kernel is exact for (by number)."""
_MATRIX_NAMES = {0: "RGB", 1: "BT.709", 4: "FCC", 7: "SMPTE 240M", 8: "YCgCo", 9: "BT.2020"}
_JPEG_RANGE = 2
"""FFmpeg ``AVCOL_RANGE_JPEG``: full-range levels."""


def opencv_refusal(frame: Any) -> str | None:
    """Why the OpenCV BT.601 kernel would not convert ``frame`` exactly, or None.

    Example:
        >>> import av, numpy as np
        >>> opencv_refusal(av.VideoFrame.from_ndarray(np.zeros((6, 4), np.uint8), "yuv420p"))
        >>> opencv_refusal(av.VideoFrame.from_ndarray(np.zeros((4, 4), np.uint8), "gray"))
        'pixel format gray (the OpenCV kernel takes 8-bit yuv420p)'
    """
    name = frame.format.name
    if name != "yuv420p":
        return f"pixel format {name} (the OpenCV kernel takes 8-bit yuv420p)"
    if int(frame.color_range) == _JPEG_RANGE:
        return "full-range (JPEG) levels (the OpenCV kernel takes limited range)"
    matrix = int(frame.colorspace)
    if matrix not in _BT601_MATRICES:
        label = _MATRIX_NAMES.get(matrix, f"#{matrix}")
        return f"colour matrix {label} (the OpenCV kernel is BT.601)"
    return None


def _plane(plane: Any) -> np.ndarray:
    """One 8-bit plane as a ``height x width`` view (line padding left out)."""
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


def i420_buffer(frame: Any, out: np.ndarray | None = None) -> np.ndarray:
    """A ``yuv420p`` frame's planes packed as one I420 buffer of even width and height.

    The buffer is ``(H2 * 3 // 2, W2)`` with ``W2, H2`` the width and height rounded up
    to even: the luma rows, then the U plane, then the V plane (``W2/2 x H2/2`` each,
    row after row), which is the layout ``cv2.COLOR_YUV2RGB_I420`` reads. An odd width
    or height repeats the last luma column or row (the chroma planes already cover it).
    ``out``, when its shape and dtype fit, is filled and returned instead of a new array.

    Example:
        >>> import av, numpy as np
        >>> frame = av.VideoFrame.from_ndarray(np.arange(24, dtype=np.uint8).reshape(6, 4),
        ...                                    format="yuv420p")
        >>> i420_buffer(frame).tolist() == frame.to_ndarray().tolist()
        True
    """
    w, h = int(frame.width), int(frame.height)
    w2, h2 = w + w % 2, h + h % 2
    shape = (h2 * 3 // 2, w2)
    if out is None or out.shape != shape or out.dtype != np.uint8:
        out = np.empty(shape, np.uint8)
    luma = out[:h2]
    luma[:h, :w] = _plane(frame.planes[0])
    if w2 != w:
        luma[:h, w] = luma[:h, w - 1]
    if h2 != h:
        luma[h] = luma[h - 1]
    chroma = out[h2:].reshape(2, h2 // 2, w2 // 2)
    chroma[0] = _plane(frame.planes[1])
    chroma[1] = _plane(frame.planes[2])
    return out


class RgbConverter:
    """Converts decoded PyAV frames to RGB with one conversion, falling back where needed.

    Args:
        conversion: ``"opencv"`` (BT.601 kernel where exact, else PyAV) or ``"pyav"``.
        counts: conversion name -> frames it converted (updated in place).

    Attributes:
        fallback: why the last frame that asked for OpenCV went to PyAV, or None.

    Example:
        >>> import av, numpy as np
        >>> yuv = np.full((6, 4), 128, np.uint8); yuv[:4] = 126  # grey: Y=126, U=V=128
        >>> frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        >>> counts = {}
        >>> RgbConverter("opencv", counts)(frame)[0, 0].tolist(), counts
        ([128, 128, 128], {'opencv': 1})
    """

    def __init__(self, conversion: RgbConversion, counts: dict[str, int]) -> None:
        if conversion not in RGB_CONVERSIONS:
            raise TilewiseError(
                f"rgb conversion must be one of {', '.join(RGB_CONVERSIONS)}, got {conversion!r}"
            )
        self.conversion = conversion
        self.counts = counts
        self.fallback: str | None = None
        self._i420: np.ndarray | None = None  # reused: only the RGB array leaves

    def __call__(self, frame: Any) -> np.ndarray:
        """``frame`` as a writable ``H x W x 3`` uint8 RGB array."""
        if self.conversion == "opencv":
            refusal = opencv_refusal(frame)
            if refusal is None:
                self._count("opencv")
                return self._opencv(frame)
            self.fallback = refusal
        self._count("pyav")
        return self._pyav(frame)

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def _opencv(self, frame: Any) -> np.ndarray:
        import cv2

        w, h = int(frame.width), int(frame.height)
        self._i420 = i420_buffer(frame, self._i420)
        rgb = cv2.cvtColor(self._i420, cv2.COLOR_YUV2RGB_I420)
        if rgb.shape[:2] != (h, w):
            rgb = np.ascontiguousarray(rgb[:h, :w])
        return rgb

    @staticmethod
    def _pyav(frame: Any) -> np.ndarray:
        return frame.to_ndarray(format="rgb24")
