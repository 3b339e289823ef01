"""Predicting a chunk of images with one model: slices of several images share batches.

``predict_chunk`` is the one prediction routine of both engines (``--engine local`` runs
it over chunks in turn; each Ray actor runs it on the chunks it is given), so both give
the same detections. Images are decoded lazily, one chunk at a time, on the slicer's
prefetch thread; their slices go through ``Slicer.stream``, which fills model batches
across image boundaries and finishes each image exactly as ``Slicer.run`` would. A read
failure is recorded for its image; a model failure ends the stream, and the images not
finished yet are then run one by one, so only the images whose model call fails are
recorded as failed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tilewise.bulk.inputs import file_stat
from tilewise.bulk.table import ImageResult
from tilewise.errors import TilewiseError
from tilewise.images import ReadOptions, read_image

__all__ = ["ImageItem", "build_slicer", "file_item", "predict_chunk"]


@dataclass(frozen=True)
class ImageItem:
    """An image to predict: its name and how to get its pixels (which may raise).

    Example:
        >>> import numpy as np
        >>> item = ImageItem("a", lambda: np.zeros((2, 2, 3), np.uint8))
        >>> item.load().shape
        (2, 2, 3)
    """

    name: str
    load: Callable[[], np.ndarray]
    stat: tuple[int, int] | None = None
    """The file's ``(size, mtime_ns)`` taken before it is read (``inputs.file_stat``)."""


def file_item(name: str, path: Any, read: ReadOptions | None = None) -> ImageItem:
    """An ``ImageItem`` decoding ``path`` with the one image reader when loaded.

    Example:
        >>> file_item("x.jpg", "/no/such/x.jpg").load()
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: image file not found: /no/such/x.jpg
    """

    def load() -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return read_image(path, read).pixels

    return ImageItem(name, load, file_stat(path))


def _wh(pixels: np.ndarray) -> tuple[int, int]:
    return (int(pixels.shape[1]), int(pixels.shape[0]))


def predict_chunk(slicer: Any, items: Sequence[ImageItem]) -> list[ImageResult]:
    """Every item's ``ImageResult``, in the order of ``items``.

    Args:
        slicer: a ``tilewise.Slicer``; its batches take slices of several images.
        items: the images, loaded lazily in order (at most the images in flight are held).

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections, Slicer
        >>> calls = []
        >>> def model(images):
        ...     calls.append(len(images))
        ...     return [Detections(np.array([[0, 0, 8, 8]]), [0.9]) for _ in images]
        >>> slicer = Slicer(model, slice_wh=32, overlap=0, batch_size=4)
        >>> ok = ImageItem("a", lambda: np.zeros((32, 64, 3), np.uint8))  # 2 slices
        >>> bad = ImageItem("b", lambda: 1 / 0)
        >>> out = predict_chunk(slicer, [ok, bad, ok, ok])
        >>> [(r.image, r.ok, len(r.detections or ())) for r in out], calls
        ([('a', True, 2), ('b', False, 0), ('a', True, 2), ('a', True, 2)], [4, 2])
        >>> out[1].stage, out[1].reason
        ('read', 'ZeroDivisionError: division by zero')
    """
    results: dict[int, ImageResult] = {}
    decoded: dict[int, np.ndarray] = {}

    def frames() -> Iterator[tuple[int, float, np.ndarray]]:
        for i, item in enumerate(items):
            try:
                pixels = item.load()
            except Exception as exc:  # recorded for this image, the others go on
                results[i] = ImageResult.failed(item.name, "read", exc)
                continue
            decoded[i] = pixels
            yield i, 0.0, pixels

    try:
        for index, _, det in slicer.stream(frames()):
            results[index] = ImageResult(items[index].name, det, _wh(decoded.pop(index)))
    except Exception:  # a model call failed: find which images, one by one
        for i in range(len(items)):
            if i in results:
                continue
            pixels = decoded.pop(i, None)
            if pixels is None:  # not read yet when the stream stopped
                try:
                    pixels = items[i].load()
                except Exception as exc:
                    results[i] = ImageResult.failed(items[i].name, "read", exc)
                    continue
            try:
                det = slicer.run(pixels).detections
            except Exception as exc:
                results[i] = ImageResult.failed(items[i].name, "model", exc)
            else:
                results[i] = ImageResult(items[i].name, det, _wh(pixels))
    return [
        results[i] if item.stat is None else replace(results[i], source_stat=item.stat)
        for i, item in enumerate(items)
    ]


def build_slicer(model: Any, slice_size: int | None = None, **options: Any) -> Any:
    """The ``Slicer`` of a bulk run: ``slice_size`` None takes the model's ``slice_wh``.

    Both engines build their slicer here, from the same options, so they slice alike.
    ``options`` are ``Slicer`` keyword arguments; a ``slice_wh`` among them (a config
    file's settings) is used as it is, and ``slice_size`` must then be None.

    Example:
        >>> build_slicer(lambda ims: [], 256, overlap=0.1).slice_wh
        (256, 256)
        >>> build_slicer(lambda ims: [], slice_wh=(320, 192)).slice_wh
        (320, 192)
    """
    from tilewise.slicing import Slicer

    if "slice_wh" in options:
        if slice_size:
            raise TilewiseError("give slice_size or slice_wh, not both")
        return Slicer(model, **options)
    wh = (slice_size, slice_size) if slice_size else tuple(getattr(model, "slice_wh", (640, 640)))
    return Slicer(model, slice_wh=wh, **options)
