"""The model contract of the slicer: a callable over a *list* of images.

A model may also expose its work as three stages (``StagedModel``): ``prepare`` (CPU
preprocessing), ``forward`` (the network) and ``finish`` (decoding). The Slicer then
pipelines them: batch k+1 is prepared on the prefetch thread and batch k-1 decoded on
the calling thread while batch k runs, instead of one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np

from tilewise.detections import Detections
from tilewise.errors import ModelOutputError

__all__ = ["BatchModel", "StagedModel", "batched", "check_model_outputs", "is_staged"]

BatchModel: TypeAlias = Callable[[list[np.ndarray]], Sequence[Detections]]


@runtime_checkable
class StagedModel(Protocol):
    """A batch model split into stages the Slicer can overlap across batches.

    ``model(images)`` must equal ``model.finish(p, model.forward(p))`` with
    ``p = model.prepare(images)``. ``prepare`` runs on the Slicer's prefetch thread,
    ``forward`` on its model thread(s) and ``finish`` on the calling thread, so each stage
    must be safe to run concurrently with the others on *different* batches (ONNX
    Runtime sessions and torch modules in inference mode are). ``OnnxDetector`` and
    ``TorchModuleDetector`` implement it. A model may also say ``on_cpu = True`` when its
    forward runs on the CPU cores, so that ``Slicer(pipeline="auto")`` calls it whole.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> class Doubler:
        ...     def prepare(self, images):
        ...         return np.stack(images).astype(np.float32)
        ...     def forward(self, batch):
        ...         return batch.mean(axis=(1, 2, 3))
        ...     def finish(self, batch, means):
        ...         return [Detections(np.array([[0, 0, 2, 2]]), [m]) for m in means]
        ...     def __call__(self, images):
        ...         p = self.prepare(images)
        ...         return self.finish(p, self.forward(p))
        >>> is_staged(Doubler()), is_staged(lambda images: [])
        (True, False)
    """

    def prepare(self, images: list[np.ndarray]) -> Any:
        """Turn a list of RGB uint8 images into the network's input (CPU work)."""

    def forward(self, prepared: Any) -> Any:
        """Run the network on a prepared batch; return its raw output."""

    def finish(self, prepared: Any, raw: Any) -> Sequence[Detections]:
        """Decode a raw output into one ``Detections`` per image of the batch."""

    def __call__(self, images: list[np.ndarray]) -> Sequence[Detections]:
        """All three stages in a row."""


def is_staged(model: object) -> bool:
    """Whether ``model`` exposes callable ``prepare``, ``forward`` and ``finish`` stages.

    Example:
        >>> is_staged(print)
        False
    """
    return all(callable(getattr(model, name, None)) for name in ("prepare", "forward", "finish"))


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
