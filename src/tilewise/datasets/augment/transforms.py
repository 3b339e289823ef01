"""Box- and mask-aware transforms: flips, 90-degree and free rotation, scale jitter, crops."""

from __future__ import annotations

import math

import numpy as np

from tilewise.datasets.augment.geometry import PAD_VALUE, apply_affine
from tilewise.datasets.augment.sample import BoxRules, DropCounts, Sample
from tilewise.errors import TilewiseError

__all__ = ["bbox_safe_crop", "crop", "flip", "rotate", "rotate90", "scale"]


def flip(
    sample: Sample,
    *,
    horizontal: bool = True,
    rules: BoxRules | None = None,
    counts: DropCounts | None = None,
) -> Sample:
    """Mirror left-right (``horizontal``) or top-bottom; exact for boxes, polygons, masks.

    Example:
        >>> s = Sample(np.zeros((4, 10, 3), np.uint8), np.array([[1, 0, 3, 2]]), np.array([0]))
        >>> flip(s).boxes.tolist()
        [[7.0, 0.0, 9.0, 2.0]]
    """
    w, h = sample.wh
    if horizontal:
        a = np.array([[-1.0, 0, w], [0, 1.0, 0]])
        axis = 1
    else:
        a = np.array([[1.0, 0, 0], [0, -1.0, h]])
        axis = 0
    image = np.ascontiguousarray(np.flip(sample.image, axis=axis))
    masks = None if sample.masks is None else np.ascontiguousarray(np.flip(sample.masks, axis + 1))
    return apply_affine(
        sample,
        a,
        (w, h),
        rules or BoxRules(0, 0),
        counts,
        image=image,
        masks=masks,
    )


def rotate90(
    sample: Sample, k: int = 1, *, rules: BoxRules | None = None, counts: DropCounts | None = None
) -> Sample:
    """Rotate by ``k`` x 90 degrees counter-clockwise (as ``np.rot90``); exact.

    Example:
        >>> s = Sample(np.zeros((4, 10, 3), np.uint8), np.array([[1, 0, 3, 2]]), np.array([0]))
        >>> out = rotate90(s)
        >>> out.wh, out.boxes.tolist()
        ((4, 10), [[0.0, 7.0, 2.0, 9.0]])
    """
    k = k % 4
    out = sample
    for _ in range(k):
        w, h = out.wh
        a = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, w]])
        image = np.ascontiguousarray(np.rot90(out.image))
        masks = (
            None if out.masks is None else np.ascontiguousarray(np.rot90(out.masks, axes=(1, 2)))
        )
        out = apply_affine(
            out,
            a,
            (h, w),
            rules or BoxRules(0, 0),
            counts,
            image=image,
            masks=masks,
        )
    return out


def rotate(
    sample: Sample,
    angle: float,
    *,
    rules: BoxRules | None = None,
    counts: DropCounts | None = None,
) -> Sample:
    """Rotate by ``angle`` degrees counter-clockwise about the centre, same output size.

    Boxes are recomputed from the rotated polygons (or masks) when present; plain boxes
    become the box around their rotated corners. Objects rotated out of the frame are
    dropped by ``rules`` and counted.

    Example:
        >>> s = Sample(np.zeros((10, 10, 3), np.uint8), np.array([[4, 1, 6, 3]]), np.array([0]))
        >>> np.round(rotate(s, 90).boxes, 6).tolist()
        [[1.0, 4.0, 3.0, 6.0]]
    """
    w, h = sample.wh
    t = math.radians(angle)
    c, s = math.cos(t), math.sin(t)
    cx, cy = w / 2, h / 2
    # counter-clockwise on screen (y points down)
    lin = np.array([[c, s], [-s, c]])
    a = np.concatenate([lin, (np.array([cx, cy]) - lin @ np.array([cx, cy]))[:, None]], axis=1)
    return apply_affine(sample, a, (w, h), rules or BoxRules(), counts)


def scale(
    sample: Sample,
    factor: float,
    *,
    rules: BoxRules | None = None,
    counts: DropCounts | None = None,
) -> Sample:
    """Resize the sample by ``factor``; objects shrinking under ``min_size`` are dropped.

    Example:
        >>> s = Sample(np.zeros((10, 10, 3), np.uint8), np.array([[2, 2, 6, 4]]), np.array([0]))
        >>> c = DropCounts(); scale(s, 0.5, rules=BoxRules(0.3, 2), counts=c).boxes.tolist()
        []
        >>> c.dropped["too_small"]
        1
    """
    import cv2

    if factor <= 0:
        raise TilewiseError(f"scale factor must be > 0, got {factor}")
    w, h = sample.wh
    out_wh = (max(1, round(w * factor)), max(1, round(h * factor)))
    fx, fy = out_wh[0] / w, out_wh[1] / h
    a = np.array([[fx, 0.0, 0.0], [0.0, fy, 0.0]])
    image = cv2.resize(sample.image, out_wh, interpolation=cv2.INTER_LINEAR)
    masks = None
    if sample.masks is not None:
        masks = (
            np.stack(
                [
                    cv2.resize(m.astype(np.uint8), out_wh, interpolation=cv2.INTER_NEAREST) > 0
                    for m in sample.masks
                ]
            )
            if len(sample)
            else np.zeros((0, out_wh[1], out_wh[0]), bool)
        )
    return apply_affine(sample, a, out_wh, rules or BoxRules(), counts, image=image, masks=masks)


def crop(
    sample: Sample,
    window: tuple[int, int, int, int],
    *,
    rules: BoxRules | None = None,
    counts: DropCounts | None = None,
) -> Sample:
    """Cut an xyxy window (padded with grey where it leaves the image).

    Example:
        >>> s = Sample(np.zeros((10, 10, 3), np.uint8), np.array([[2, 2, 6, 4]]), np.array([0]))
        >>> crop(s, (4, 0, 10, 10)).boxes.tolist()
        [[0.0, 2.0, 2.0, 4.0]]
    """
    x1, y1, x2, y2 = (int(v) for v in window)
    if x2 <= x1 or y2 <= y1:
        raise TilewiseError(f"crop window {window} is empty")
    w, h = sample.wh
    ow, oh = x2 - x1, y2 - y1
    image = np.full((oh, ow, *sample.image.shape[2:]), PAD_VALUE, dtype=sample.image.dtype)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    masks = None
    if sample.masks is not None:
        masks = np.zeros((len(sample), oh, ow), dtype=bool)
    if sx2 > sx1 and sy2 > sy1:
        image[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = sample.image[sy1:sy2, sx1:sx2]
        if masks is not None:
            masks[:, sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = sample.masks[:, sy1:sy2, sx1:sx2]
    a = np.array([[1.0, 0.0, -x1], [0.0, 1.0, -y1]])
    return apply_affine(sample, a, (ow, oh), rules or BoxRules(), counts, image=image, masks=masks)


def bbox_safe_crop(
    sample: Sample,
    size: tuple[int, int],
    rng: np.random.Generator,
    *,
    rules: BoxRules | None = None,
    counts: DropCounts | None = None,
) -> Sample:
    """A random ``size`` crop that keeps every object whole when they fit together.

    When all objects fit in one window, the window is drawn uniformly among the windows
    containing them all; otherwise it is drawn among the windows containing one random
    object (and the rules decide for the others, counted). Without objects it is uniform.

    Example:
        >>> s = Sample(np.zeros((100, 100, 3), np.uint8), np.array([[40, 40, 50, 50]]),
        ...            np.array([0]))
        >>> out = bbox_safe_crop(s, (20, 20), np.random.default_rng(0))
        >>> out.boxes.shape, bool(np.all(out.boxes[:, 2:] - out.boxes[:, :2] == 10))
        ((1, 4), True)
    """
    cw, ch = (int(v) for v in size)
    w, h = sample.wh

    def pick(lo: float, hi: float, extent: int, total: int) -> int:
        # start so that [lo, hi] lies in [start, start + extent], within the image if possible
        a = math.ceil(hi - extent)
        b = math.floor(lo)
        a, b = max(a, min(0, total - extent)), min(b, max(0, total - extent))
        if a > b:
            return int(rng.integers(min(a, b), max(a, b) + 1))
        return int(rng.integers(a, b + 1))

    boxes = sample.boxes
    if len(sample):
        union = np.concatenate([boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)])
        if union[2] - union[0] > cw or union[3] - union[1] > ch:
            union = boxes[int(rng.integers(len(sample)))]
        x0 = pick(union[0], union[2], cw, w)
        y0 = pick(union[1], union[3], ch, h)
    else:
        x0 = int(rng.integers(0, max(w - cw, 0) + 1))
        y0 = int(rng.integers(0, max(h - ch, 0) + 1))
    return crop(sample, (x0, y0, x0 + cw, y0 + ch), rules=rules, counts=counts)
