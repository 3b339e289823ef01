"""Slice zoom: resize each slice before the model sees it, scale its detections back.

``zoomed(model, zoom)`` wraps any batch model (a staged one stays staged: ``prepare`` sees
the zoomed slices). A slice of w x h pixels becomes ``round(w * zoom) x round(h * zoom)``
(at least 1 px); boxes come back multiplied by the exact per-axis ratio ``w / zw`` and
``h / zh``, so a box is exact to the scale. Masks stay at the zoomed size with that size
recorded (``CompactMasks.image_wh``); the Slicer scales them to the slice like any mask at
another size than the image it gave the model.

A model that resizes its input itself (``OnnxDetector`` letterboxes every image to its
input size) composes with the zoom: ``model_scale`` says what the network finally sees.
A model that can enlarge its own input instead (``zooms_input`` True and a
``with_input_zoom(zoom)`` method, like an ``OnnxDetector`` whose graph has a dynamic
height and width) is given the slices as they are and zooms itself: ``zoomed`` returns
``model.with_input_zoom(zoom)``, so that the zoom is not undone by its letterbox.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tilewise.detections import Detections
from tilewise.errors import TilewiseError
from tilewise.masks import CompactMasks
from tilewise.slicing.model import BatchModel, check_model_outputs, is_staged

__all__ = ["ZoomedModel", "check_zoom", "model_scale", "zoomed", "zoomed_wh", "zooms_input"]


def check_zoom(zoom: object, name: str = "zoom") -> float:
    """Validate a zoom factor: a finite number > 0 (bools refused).

    Example:
        >>> check_zoom(2)
        2.0
        >>> check_zoom(float("nan"))
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: zoom must be a finite number > 0, got nan
    """
    if isinstance(zoom, bool) or not isinstance(zoom, (int, float, np.integer, np.floating)):
        raise TilewiseError(f"{name} must be a finite number > 0, got {zoom!r}")
    value = float(zoom)
    if not math.isfinite(value) or value <= 0:
        raise TilewiseError(f"{name} must be a finite number > 0, got {zoom!r}")
    return value


def zoomed_wh(wh: tuple[int, int], zoom: float) -> tuple[int, int]:
    """Size of a w x h image after ``zoom`` (rounded, at least 1 px).

    Example:
        >>> zoomed_wh((320, 200), 1.5), zoomed_wh((3, 3), 0.1)
        ((480, 300), (1, 1))
    """
    return max(1, round(wh[0] * zoom)), max(1, round(wh[1] * zoom))


def _resize(image: np.ndarray, zoom: float) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    zw, zh = zoomed_wh((w, h), zoom)
    if (zw, zh) == (w, h):
        return image
    interp = cv2.INTER_LINEAR if zoom > 1 else cv2.INTER_AREA
    out = cv2.resize(np.ascontiguousarray(image), (zw, zh), interpolation=interp)
    out.flags.writeable = False
    return out


def _scale_back(det: Detections, wh: tuple[int, int], zoomed: tuple[int, int]) -> Detections:
    """Detections in a ``zoomed`` image's pixels -> the original ``wh`` image's pixels."""
    if wh == zoomed or not len(det):
        return det
    sx, sy = wh[0] / zoomed[0], wh[1] / zoomed[1]
    factors = np.array([sx, sy, sx, sy], dtype=np.float64)
    xyxy = (det.xyxy.astype(np.float64) * factors).astype(det.xyxy.dtype)
    masks = det.masks
    if isinstance(masks, CompactMasks) and masks.image_wh is None:
        masks = masks.with_image_wh(zoomed)
    return Detections(xyxy, det.confidence, det.class_id, masks=masks, data=det.data)


@dataclass(frozen=True)
class _ZoomedBatch:
    """A staged model's prepared batch of zoomed slices, with the sizes to scale back to."""

    inner: Any
    sizes: tuple[tuple[tuple[int, int], tuple[int, int]], ...]

    def __len__(self) -> int:
        return len(self.sizes)


class ZoomedModel:
    """A batch model whose every image is resized by ``zoom`` first; boxes scaled back.

    Build it with ``zoomed`` (which keeps a staged model staged). ``on_cpu``, ``names``
    and ``imgsz`` are the wrapped model's.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> seen = []
        >>> def model(images):  # one box over the whole image it is given
        ...     seen.extend(im.shape[:2] for im in images)
        ...     return [Detections(np.array([[0, 0, im.shape[1], im.shape[0]]])) for im in images]
        >>> out = ZoomedModel(model, 2.0)([np.zeros((10, 20, 3), np.uint8)])
        >>> seen, out[0].xyxy.tolist()
        ([(20, 40)], [[0.0, 0.0, 20.0, 10.0]])
    """

    def __init__(self, model: BatchModel, zoom: float) -> None:
        self.model = model
        self.zoom = check_zoom(zoom)

    def __repr__(self) -> str:
        return f"ZoomedModel({self.model!r}, zoom={self.zoom})"

    def __getattr__(self, name: str) -> Any:
        if name in ("on_cpu", "names", "imgsz", "path", "num_classes"):
            return getattr(self.model, name)
        raise AttributeError(name)

    def _zoom(
        self, images: Sequence[np.ndarray]
    ) -> tuple[list[np.ndarray], tuple[tuple[tuple[int, int], tuple[int, int]], ...]]:
        out = [_resize(image, self.zoom) for image in images]
        sizes = tuple(
            ((a.shape[1], a.shape[0]), (b.shape[1], b.shape[0]))
            for a, b in zip(images, out, strict=True)
        )
        return out, sizes

    @staticmethod
    def _back(outputs: Any, sizes: Sequence[tuple[tuple[int, int], tuple[int, int]]]) -> list:
        checked = check_model_outputs(outputs, len(sizes))
        return [_scale_back(d, wh, zwh) for d, (wh, zwh) in zip(checked, sizes, strict=True)]

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        """Zoom every image, run the model, scale its boxes back."""
        big, sizes = self._zoom(images)
        return self._back(self.model(big), sizes)


class _ZoomedStagedModel(ZoomedModel):
    """``ZoomedModel`` of a ``StagedModel``: ``prepare`` zooms, ``finish`` scales back."""

    def prepare(self, images: list[np.ndarray]) -> _ZoomedBatch:
        big, sizes = self._zoom(images)
        return _ZoomedBatch(self.model.prepare(big), sizes)  # type: ignore[attr-defined]

    def forward(self, prepared: _ZoomedBatch) -> Any:
        return self.model.forward(prepared.inner)  # type: ignore[attr-defined]

    def finish(self, prepared: _ZoomedBatch, raw: Any) -> list[Detections]:
        outputs = self.model.finish(prepared.inner, raw)  # type: ignore[attr-defined]
        return self._back(outputs, prepared.sizes)


def zoomed(model: BatchModel, zoom: float) -> BatchModel:
    """``model`` with every image resized by ``zoom``; the model itself when ``zoom == 1``.

    A staged model (``prepare``/``forward``/``finish``) stays staged, its ``prepare``
    seeing the zoomed images. A model that zooms its own input (``zooms_input`` True)
    gives ``model.with_input_zoom(zoom)`` instead.

    Example:
        >>> f = lambda images: []
        >>> zoomed(f, 1.0) is f, type(zoomed(f, 1.5)).__name__
        (True, 'ZoomedModel')
    """
    zoom = check_zoom(zoom)
    if zoom == 1.0:
        return model
    if zooms_input(model):
        return model.with_input_zoom(zoom)  # type: ignore[attr-defined]
    if is_staged(model):
        return _ZoomedStagedModel(model, zoom)
    return ZoomedModel(model, zoom)


def zooms_input(model: Any) -> bool:
    """Whether ``model`` enlarges its own input for a zoom.

    That is: its ``zooms_input`` is True and it has a ``with_input_zoom`` method.

    Example:
        >>> class Dynamic:
        ...     zooms_input = True
        ...     def with_input_zoom(self, zoom): return self
        >>> zooms_input(Dynamic()), zooms_input(lambda ims: [])
        (True, False)
    """
    return getattr(model, "zooms_input", False) is True and callable(
        getattr(model, "with_input_zoom", None)
    )


def model_scale(model: Any, slice_wh: tuple[int, int], zoom: float) -> float | None:
    """Model input pixels per image pixel for a ``slice_wh`` slice at ``zoom``.

    For a model that resizes every image to its input size itself (it has ``imgsz``,
    (height, width), like ``OnnxDetector``'s letterbox), the zoom composes with that
    resize: a 320 px slice into a 640 px graph is 2x already, whatever the zoom. A model
    that zooms its own input (``zooms_input``) letterboxes the slice into ``imgsz * zoom``
    instead. For other models it is the zoom. None when ``slice_wh`` is empty.

    Example:
        >>> class Graph:
        ...     imgsz = (640, 640)
        >>> model_scale(Graph(), (320, 320), 1.0), model_scale(Graph(), (320, 320), 1.5)
        (2.0, 2.0)
        >>> model_scale(lambda ims: [], (320, 320), 1.5)
        1.5
        >>> class Dynamic(Graph):
        ...     zooms_input = True
        ...     def with_input_zoom(self, zoom): return self
        >>> model_scale(Dynamic(), (320, 320), 1.0), model_scale(Dynamic(), (320, 320), 1.5)
        (2.0, 3.0)
    """
    w, h = slice_wh
    if w <= 0 or h <= 0:
        return None
    zw, zh = zoomed_wh((w, h), zoom)
    imgsz = getattr(model, "imgsz", None)
    if isinstance(imgsz, (tuple, list)) and len(imgsz) == 2 and zooms_input(model):
        bw, bh = zoomed_wh((int(imgsz[1]), int(imgsz[0])), zoom)
        return float(min(bh / h, bw / w))
    if isinstance(imgsz, (tuple, list)) and len(imgsz) == 2:
        th, tw = (float(v) for v in imgsz)
        letterbox = min(th / zh, tw / zw)
        return float(zw / w * letterbox)
    return float(zw / w)
