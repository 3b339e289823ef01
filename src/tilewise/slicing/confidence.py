"""A confidence threshold on any batch model: ``with_conf(model, conf)``.

``OnnxDetector`` applies its ``conf`` while decoding; a model from anywhere else (an
import path, a torch module, a callable) returns what it returns. ``with_conf`` gives every
model kind the same rule: a detection is kept when its confidence is ``> conf``, compared in
float32 as the ONNX decoder compares its scores. A staged model stays staged (``finish``
filters).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tilewise.detections import Detections
from tilewise.errors import TilewiseError
from tilewise.slicing.model import BatchModel, check_model_outputs, is_staged
from tilewise.slicing.zoom import zooms_input

__all__ = ["ConfFilteredModel", "keep_confident", "with_conf"]


def _check_conf(conf: object) -> float:
    if isinstance(conf, bool) or not isinstance(conf, (int, float, np.integer, np.floating)):
        raise TilewiseError(f"conf must be a number in [0, 1], got {conf!r}")
    value = float(conf)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise TilewiseError(f"conf must be a number in [0, 1], got {conf!r}")
    return value


def keep_confident(det: Detections, conf: float) -> Detections:
    """The detections of ``det`` whose confidence is ``> conf`` (compared in float32).

    Example:
        >>> d = Detections(np.zeros((3, 4)), [0.2, 0.25, 0.9])
        >>> keep_confident(d, 0.25).confidence.tolist()
        [0.8999999761581421]
    """
    if not len(det):
        return det
    keep = det.confidence > np.float32(conf)
    return det if keep.all() else det[keep]


class ConfFilteredModel:
    """A batch model whose detections at or under ``conf`` are dropped.

    Build it with ``with_conf`` (which keeps a staged model staged). ``names``,
    ``slice_wh``, ``imgsz``, ``on_cpu``, ``path`` and ``num_classes`` are the wrapped
    model's, and so is the zoom of a model that enlarges its own input (``zooms_input``,
    ``with_input_zoom``): the zoom is not lost under the filter.

    Example:
        >>> def model(images):
        ...     return [Detections(np.zeros((2, 4)), [0.1, 0.7]) for _ in images]
        >>> out = ConfFilteredModel(model, 0.5)([np.zeros((4, 4, 3), np.uint8)])
        >>> out[0].confidence.tolist()
        [0.699999988079071]
    """

    def __init__(self, model: BatchModel, conf: float) -> None:
        self.model = model
        self.conf = _check_conf(conf)

    def __repr__(self) -> str:
        return f"ConfFilteredModel({self.model!r}, conf={self.conf})"

    def __getattr__(self, name: str) -> Any:
        if name in ("on_cpu", "names", "imgsz", "path", "num_classes", "slice_wh"):
            return getattr(self.model, name)
        raise AttributeError(name)

    @property
    def zooms_input(self) -> bool:
        """Whether the wrapped model enlarges its own input for a zoom (``Slicer(zoom=)``)."""
        return zooms_input(self.model)

    def with_input_zoom(self, zoom: float) -> BatchModel:
        """The wrapped model's ``with_input_zoom(zoom)``, filtered at the same ``conf``."""
        return with_conf(self.model.with_input_zoom(zoom), self.conf)  # type: ignore[attr-defined]

    def _filter(self, outputs: Any, expected: int) -> list[Detections]:
        checked = check_model_outputs(outputs, expected)
        return [keep_confident(det, self.conf) for det in checked]

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        """Run the model, drop detections at or under ``conf``."""
        return self._filter(self.model(images), len(images))


class _ConfFilteredStagedModel(ConfFilteredModel):
    """``ConfFilteredModel`` of a ``StagedModel``: ``finish`` filters."""

    def prepare(self, images: list[np.ndarray]) -> Any:
        return self.model.prepare(images)  # type: ignore[attr-defined]

    def forward(self, prepared: Any) -> Any:
        return self.model.forward(prepared)  # type: ignore[attr-defined]

    def finish(self, prepared: Any, raw: Any) -> list[Detections]:
        outputs = self.model.finish(prepared, raw)  # type: ignore[attr-defined]
        try:
            expected = len(prepared)
        except TypeError:
            expected = len(outputs) if isinstance(outputs, (list, tuple)) else 1
        return self._filter(outputs, expected)


def with_conf(model: BatchModel, conf: float) -> BatchModel:
    """``model`` keeping only detections with confidence ``> conf``.

    A staged model (``prepare``/``forward``/``finish``) stays staged.

    Raises:
        TilewiseError: ``conf`` is not a number in [0, 1].

    Example:
        >>> f = lambda images: []
        >>> type(with_conf(f, 0.25)).__name__, with_conf(f, 0.25).conf
        ('ConfFilteredModel', 0.25)
    """
    if is_staged(model):
        return _ConfFilteredStagedModel(model, conf)
    return ConfFilteredModel(model, conf)
