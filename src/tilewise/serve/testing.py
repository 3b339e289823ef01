"""A model with a fixed cost per call, for tests and benchmarks of the service.

Accelerator-backed detectors cost about the same per call whether a batch holds one image
or eight: launch, transfer and synchronisation dominate. ``FixedCostModel`` imitates that
with a sleep (which, like a GPU call, releases the GIL) of ``call_ms`` plus ``image_ms``
per image, and finds real, deterministic boxes: the bright connected blobs of each image.
It is where cross-request batching pays, and it is loadable by ``--model``:
``tilewise serve --model tilewise.serve.testing:FixedCostModel``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from tilewise.detections import Detections

__all__ = ["FixedCostModel"]


class FixedCostModel:
    """Bright-blob detector that sleeps ``call_ms + image_ms * len(images)`` per call.

    A blob is a 4-connected region whose red channel is over 128; its confidence is the
    green value at its first pixel / 255, its class the blue value there modulo the
    number of classes. Each image's output depends on that image only.

    Args:
        call_ms: fixed cost of every call, in milliseconds.
        image_ms: cost per image, in milliseconds.
        slice_wh: the natural slice size (``slice=auto``).
        names: class names.

    Example:
        >>> import numpy as np
        >>> image = np.zeros((64, 64, 3), np.uint8)
        >>> image[10:20, 30:42] = (255, 204, 1)
        >>> model = FixedCostModel(call_ms=1, image_ms=0)
        >>> det = model([image])[0]
        >>> det.xyxy.tolist(), det.confidence.tolist(), model.names[int(det.class_id[0])]
        ([[30.0, 10.0, 42.0, 20.0]], [0.800000011920929], 'b')
    """

    def __init__(
        self,
        call_ms: float = 30.0,
        image_ms: float = 2.0,
        slice_wh: tuple[int, int] = (256, 256),
        names: Sequence[str] = ("a", "b", "c"),
    ) -> None:
        self.call_ms = float(call_ms)
        self.image_ms = float(image_ms)
        self.slice_wh = (int(slice_wh[0]), int(slice_wh[1]))
        self.names = tuple(names)
        self.calls = 0

    def __repr__(self) -> str:
        return f"FixedCostModel(call_ms={self.call_ms:g}, image_ms={self.image_ms:g})"

    def _detect(self, image: np.ndarray) -> Detections:
        import cv2

        mask = np.ascontiguousarray(image[..., 0] > 128).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        st = stats[1:n]
        if not len(st):
            return Detections.empty()
        x, y, w, h = st[:, 0], st[:, 1], st[:, 2], st[:, 3]
        xyxy = np.stack([x, y, x + w, y + h], axis=1)
        conf = image[y, x, 1].astype(np.float32) / 255.0
        cls = image[y, x, 2].astype(np.int64) % len(self.names)
        return Detections(xyxy, conf, cls)

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect in a list of RGB images, after sleeping the call's cost."""
        self.calls += 1
        time.sleep((self.call_ms + self.image_ms * len(images)) / 1000.0)
        return [self._detect(image) for image in images]
