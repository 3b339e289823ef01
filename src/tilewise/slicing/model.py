"""The model contract of the slicer: a callable over a *list* of images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np

from tilewise.detections import Detections
from tilewise.errors import ModelOutputError

__all__ = ["BatchModel", "batched", "check_model_outputs"]

BatchModel: TypeAlias = Callable[[list[np.ndarray]], Sequence[Detections]]


def batched(single: Callable[[np.ndarray], Detections]) -> BatchModel:
    """Wrap a one-image callable so it satisfies the batch contract of ``Slicer``.

    The wrapped callable takes a list of images and calls ``single`` once per image.
    Prefer a real batched model when you have one: the Slicer makes one call per batch.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> def find_one(img):
        ...     return Detections(np.array([[0, 0, 1, 1]]))
        >>> model = batched(find_one)
        >>> [len(d) for d in model([np.zeros((4, 4, 3), np.uint8)] * 2)]
        [1, 1]
    """

    def run(images: list[np.ndarray]) -> list[Detections]:
        return [single(image) for image in images]

    run.__name__ = getattr(single, "__name__", "batched_model")
    run.__doc__ = getattr(single, "__doc__", None)
    return run


def _describe(obj: Any) -> str:
    name = type(obj).__name__
    module = type(obj).__module__
    return f"{module}.{name}" if module not in ("builtins", "__main__") else name


def check_model_outputs(outputs: Any, expected: int) -> list[Detections]:
    """Check that a model returned one ``Detections`` per input image.

    Raises:
        ModelOutputError: the result is not a list/tuple of ``expected`` Detections.

    Example:
        >>> from tilewise import Detections
        >>> len(check_model_outputs([Detections.empty()], expected=1))
        1
    """
    if isinstance(outputs, Detections):
        raise ModelOutputError(
            f"the model returned a single Detections for a batch of {expected} images; "
            "it must return a list with one Detections per image "
            "(wrap a one-image callable with tilewise.slicing.batched)"
        )
    if not isinstance(outputs, (list, tuple)):
        raise ModelOutputError(
            f"the model must return a list of Detections (one per image), got {_describe(outputs)}"
        )
    if len(outputs) != expected:
        raise ModelOutputError(
            f"the model returned {len(outputs)} results for a batch of {expected} images; "
            "expected exactly one Detections per image"
        )
    for i, item in enumerate(outputs):
        if not isinstance(item, Detections):
            hint = ""
            if type(item).__module__.startswith("supervision"):
                hint = " (convert with tilewise.detections.from_supervision)"
            raise ModelOutputError(
                f"the model's result {i} is a {_describe(item)}, expected tilewise.Detections{hint}"
            )
    return list(outputs)
