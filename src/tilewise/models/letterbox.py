"""Letterbox preprocessing (resize keeping the aspect ratio, pad) and its inverse for boxes.

The geometry matches Ultralytics' ``LetterBox`` (centred padding, grey 114, the same
rounding), so a model exported by Ultralytics sees the input it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["PAD_VALUE", "LetterboxInfo", "letterbox", "letterbox_batch", "unletterbox_boxes"]

PAD_VALUE = 114
"""Grey level of the padding (Ultralytics' choice)."""


@dataclass(frozen=True)
class LetterboxInfo:
    """How one image was placed in the model input.

    Attributes:
        scale: resize factor applied to the image.
        pad: (left, top) padding in input pixels.
        image_wh: the original image width and height.
    """

    scale: float
    pad: tuple[int, int]
    image_wh: tuple[int, int]


def _plan(image_hw: tuple[int, int], input_hw: tuple[int, int], scaleup: bool) -> LetterboxInfo:
    h, w = image_hw
    th, tw = input_hw
    r = min(th / h, tw / w)
    if not scaleup:
        r = min(r, 1.0)
    nw, nh = round(w * r), round(h * r)
    dw, dh = (tw - nw) / 2, (th - nh) / 2
    return LetterboxInfo(scale=r, pad=(round(dw - 0.1), round(dh - 0.1)), image_wh=(w, h))


def _place(image: np.ndarray, info: LetterboxInfo, out: np.ndarray) -> None:
    """Write ``image`` resized into ``out`` (an H x W x 3 view already filled with padding)."""
    import cv2

    w, h = info.image_wh
    nw, nh = round(w * info.scale), round(h * info.scale)
    left, top = info.pad
    if (nw, nh) == (w, h):
        out[top : top + nh, left : left + nw] = image
        return
    interp = cv2.INTER_LINEAR if info.scale > 1 else cv2.INTER_AREA
    out[top : top + nh, left : left + nw] = cv2.resize(image, (nw, nh), interpolation=interp)


def _check_image(image: np.ndarray, index: int) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        got = getattr(image, "shape", type(image).__name__)
        raise TilewiseError(f"image {index} must be an H x W x 3 uint8 RGB array, got {got}")
    if image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise TilewiseError(f"image {index} must be H x W x 3 with H, W > 0, got {image.shape}")
    return image


def letterbox(
    image: np.ndarray, input_hw: tuple[int, int], *, scaleup: bool = True
) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize ``image`` to fit ``input_hw`` keeping its aspect ratio, pad the rest with grey.

    Args:
        image: H x W x 3 uint8 RGB.
        input_hw: model input (height, width).
        scaleup: allow enlarging small images (else they are only padded).

    Returns:
        The padded uint8 image and the ``LetterboxInfo`` to map boxes back.

    Example:
        >>> import numpy as np
        >>> out, info = letterbox(np.zeros((100, 200, 3), np.uint8), (64, 64))
        >>> out.shape, info.scale, info.pad
        ((64, 64, 3), 0.32, (0, 16))
    """
    _check_image(image, 0)
    th, tw = input_hw
    info = _plan(image.shape[:2], (th, tw), scaleup)
    out = np.full((th, tw, 3), PAD_VALUE, dtype=np.uint8)
    _place(image, info, out)
    return out, info


def letterbox_batch(
    images: Sequence[np.ndarray],
    input_hw: tuple[int, int],
    *,
    scaleup: bool = True,
    canvas_hw: tuple[int, int] | None = None,
) -> tuple[np.ndarray, list[LetterboxInfo]]:
    """Letterbox several images into one float32 NCHW batch scaled to [0, 1].

    Slices may be strided views of a larger image; they are read without copying first.

    Args:
        images: H x W x 3 uint8 RGB images.
        input_hw: the (height, width) each image is letterboxed into.
        scaleup: allow enlarging small images (else they are only padded).
        canvas_hw: the batch's (height, width), at least ``input_hw`` (default: equal):
            the letterboxed ``input_hw`` box sits at its top left and the rest is padding.
            A graph with a dynamic input size that needs a multiple of its stride takes
            any exact scale this way (``OnnxDetector.with_input_zoom``).

    Raises:
        TilewiseError: a bad image, or ``canvas_hw`` smaller than ``input_hw``.

    Example:
        >>> import numpy as np
        >>> batch, infos = letterbox_batch([np.zeros((32, 32, 3), np.uint8)] * 2, (64, 64))
        >>> batch.shape, batch.dtype, infos[0].scale
        ((2, 3, 64, 64), dtype('float32'), 2.0)
        >>> batch, infos = letterbox_batch([np.zeros((32, 32, 3), np.uint8)], (40, 40),
        ...                                canvas_hw=(64, 64))
        >>> batch.shape, infos[0].scale, infos[0].pad, round(float(batch[0, 0, 50, 50]) * 255)
        ((1, 3, 64, 64), 1.25, (0, 0), 114)
    """
    import cv2

    th, tw = input_hw
    ch, cw = canvas_hw if canvas_hw is not None else (th, tw)
    if ch < th or cw < tw:
        raise TilewiseError(
            f"letterbox canvas {ch}x{cw} is smaller than the input box {th}x{tw} (height x width)"
        )
    batch = np.empty((len(images), 3, ch, cw), dtype=np.float32)
    scale = np.float32(1.0 / 255.0)
    infos = []
    canvas = None
    for i, image in enumerate(images):
        _check_image(image, i)
        info = _plan(image.shape[:2], (th, tw), scaleup)
        if image.shape[:2] == (ch, cw) == (th, tw):  # a slice at the input size: as it is
            src = image
        else:
            if canvas is None:
                canvas = np.empty((ch, cw, 3), dtype=np.uint8)
            canvas.fill(PAD_VALUE)
            _place(image, info, canvas)
            src = canvas
        for channel, plane in enumerate(cv2.split(src)):  # HWC -> CHW, fastest on views
            np.multiply(plane, scale, out=batch[i, channel])
        infos.append(info)
    return batch, infos


def unletterbox_boxes(xyxy: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """Map (N, 4) xyxy boxes from model-input pixels back to the image, clipped to it.

    Example:
        >>> import numpy as np
        >>> info = LetterboxInfo(scale=0.5, pad=(0, 10), image_wh=(100, 60))
        >>> unletterbox_boxes(np.array([[10.0, 20.0, 30.0, 40.0]]), info).tolist()
        [[20.0, 20.0, 60.0, 60.0]]
    """
    out = np.asarray(xyxy, dtype=np.float32).copy()
    left, top = info.pad
    out[:, [0, 2]] -= left
    out[:, [1, 3]] -= top
    out /= np.float32(info.scale)
    w, h = info.image_wh
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h)
    return out
