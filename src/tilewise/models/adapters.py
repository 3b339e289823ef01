"""Thin adapters turning an Ultralytics ``YOLO`` object or a torch module into a batch model.

Both satisfy the ``Slicer`` contract (a list of RGB uint8 images in, one ``Detections``
per image out). Neither package is imported by tilewise: the objects you pass in bring
them along.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tilewise.detections import Detections
from tilewise.errors import TilewiseError
from tilewise.models.letterbox import LetterboxInfo, letterbox_batch
from tilewise.models.metadata import parse_names
from tilewise.models.yolo_layout import decode_yolov8

__all__ = ["TorchModuleDetector", "UltralyticsDetector", "as_batch_model"]


def _numpy(value: Any) -> np.ndarray:
    """A torch tensor (any device) or array-like as a numpy array."""
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "cpu"):
        value = value.cpu()
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    return np.asarray(value)


def _names_of(obj: Any) -> tuple[str, ...] | None:
    names = getattr(obj, "names", None)
    if names is None:
        return None
    return parse_names(dict(names) if isinstance(names, Mapping) else list(names))


class UltralyticsDetector:
    """An Ultralytics ``YOLO`` (or ``RTDETR``...) detection model as a batch model.

    Images are passed to ``model.predict`` as BGR arrays (what Ultralytics expects of
    numpy input), all at once; its boxes come back in each image's pixels.

    Args:
        model: an object with Ultralytics' ``predict(source, ...)`` returning results
            with ``.boxes.xyxy``, ``.boxes.conf`` and ``.boxes.cls``.
        conf: confidence threshold.
        iou: NMS IoU threshold.
        imgsz: inference size (default: the model's).
        max_det: detections kept per image.
        **predict_kwargs: more keyword arguments for ``predict`` (``device``, ``half``...).

    Example:
        >>> import numpy as np
        >>> class Boxes:
        ...     xyxy, conf, cls = np.array([[1.0, 2, 5, 6]]), np.array([0.8]), np.array([1.0])
        >>> class Result:
        ...     boxes = Boxes()
        >>> class FakeYOLO:
        ...     names = {0: "a", 1: "b"}
        ...     def predict(self, source, **kw):
        ...         return [Result() for _ in source]
        >>> model = UltralyticsDetector(FakeYOLO())
        >>> [d.class_id.tolist() for d in model([np.zeros((8, 8, 3), np.uint8)] * 2)]
        [[1], [1]]
    """

    def __init__(
        self,
        model: Any,
        *,
        conf: float = 0.25,
        iou: float = 0.7,
        imgsz: int | tuple[int, int] | None = None,
        max_det: int = 300,
        **predict_kwargs: Any,
    ) -> None:
        if not callable(getattr(model, "predict", None)):
            raise TilewiseError(
                f"expected an Ultralytics model with a predict() method, got {type(model).__name__}"
            )
        self.model = model
        self.names = _names_of(model)
        self.kwargs: dict[str, Any] = {
            "conf": float(conf),
            "iou": float(iou),
            "max_det": int(max_det),
            "verbose": False,
            **predict_kwargs,
        }
        if imgsz is not None:
            self.kwargs["imgsz"] = imgsz

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect in a list of RGB images."""
        items = list(images)
        if not items:
            return []
        bgr = [np.ascontiguousarray(im[..., ::-1]) for im in items]
        results = self.model.predict(bgr, **self.kwargs)
        out = []
        for result in results:
            boxes = getattr(result, "boxes", None)
            if boxes is None:
                raise TilewiseError(
                    "the Ultralytics result has no .boxes: expected a detection model"
                )
            xyxy = _numpy(boxes.xyxy).reshape(-1, 4)
            out.append(Detections(xyxy, _numpy(boxes.conf).reshape(-1), _numpy(boxes.cls)))
        if len(out) != len(items):
            raise TilewiseError(
                f"the Ultralytics model returned {len(out)} results for {len(items)} images"
            )
        return out


class TorchModuleDetector:
    """A torch module with a YOLOv8-layout output as a batch model.

    In eval mode the module must map a float ``[B, 3, H, W]`` RGB batch in [0, 1] to
    ``[B, 4 + C, A]`` (or a tuple/list whose first item is that), like the detector of
    ``tilewise.training`` and Ultralytics' ``DetectionModel``. Preprocessing and decoding
    are the same as ``OnnxDetector``'s, so both give the same detections, and the three
    stages are exposed as ``prepare`` / ``forward`` / ``finish`` for the Slicer to overlap
    (host-side letterboxing of the next batch runs while the device works).

    Args:
        module: the torch module (put in eval mode here).
        imgsz: input (height, width) or an int.
        names: class names (default: ``module.names`` if present).
        conf: confidence threshold.
        iou: per-class NMS IoU threshold.
        max_det: detections kept per image.
        device: torch device to run on.
        class_agnostic: NMS across classes.
    """

    def __init__(
        self,
        module: Any,
        imgsz: int | tuple[int, int],
        *,
        names: Sequence[str] | None = None,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        device: str = "cpu",
        class_agnostic: bool = False,
    ) -> None:
        import torch

        if not isinstance(module, torch.nn.Module):
            raise TilewiseError(f"expected a torch.nn.Module, got {type(module).__name__}")
        self.module = module.to(device).eval()
        self.device = device
        size = (imgsz, imgsz) if isinstance(imgsz, (int, np.integer)) else imgsz
        self.imgsz = (int(size[0]), int(size[1]))
        self.names = tuple(names) if names is not None else _names_of(module)
        self.conf, self.iou, self.max_det = float(conf), float(iou), int(max_det)
        self.class_agnostic = bool(class_agnostic)

    @property
    def on_cpu(self) -> bool:
        """Whether the module runs on the CPU (then the Slicer calls it whole by default)."""
        return str(self.device).startswith("cpu")

    def prepare(self, images: Sequence[np.ndarray]) -> tuple[Any, list[LetterboxInfo]]:
        """Letterbox into a float tensor (pinned for a CUDA device); the first stage."""
        import torch

        batch, infos = letterbox_batch(list(images), self.imgsz)
        tensor = torch.from_numpy(batch)
        if str(self.device).startswith("cuda"):
            tensor = tensor.pin_memory()
        return tensor, infos

    def forward(self, prepared: tuple[Any, list[LetterboxInfo]]) -> np.ndarray:
        """Run the module on the device and bring its output back as float32 numpy."""
        import torch

        tensor, _ = prepared
        with torch.inference_mode():
            out = self.module(tensor.to(self.device, non_blocking=True))
            if isinstance(out, (list, tuple)):
                out = out[0]
            return _numpy(out.float())

    def finish(
        self, prepared: tuple[Any, list[LetterboxInfo]], raw: np.ndarray
    ) -> list[Detections]:
        """Decode the ``[B, 4 + C, A]`` output into image-pixel Detections; the last stage."""
        return decode_yolov8(
            raw,
            prepared[1],
            num_classes=None if self.names is None else len(self.names),
            conf=self.conf,
            iou=self.iou,
            max_det=self.max_det,
            class_agnostic=self.class_agnostic,
        )

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect in a list of RGB images."""
        items = list(images)
        if not items:
            return []
        prepared = self.prepare(items)
        return self.finish(prepared, self.forward(prepared))


def as_batch_model(model: Any, **kwargs: Any) -> Any:
    """Wrap a detector for ``Slicer``: an ``.onnx`` path, an Ultralytics model or a module.

    Callables that already take a list of images are returned as they are.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.models.testing import constant_detector_onnx
        >>> p = constant_detector_onnx(pathlib.Path(tempfile.mkdtemp()) / "m.onnx")
        >>> type(as_batch_model(str(p))).__name__
        'OnnxDetector'
    """
    if isinstance(model, (str, os.PathLike)):
        from tilewise.models.onnx_detector import OnnxDetector

        return OnnxDetector(model, **kwargs)
    module = type(model).__module__
    if module.startswith("ultralytics"):
        return UltralyticsDetector(model, **kwargs)
    if any(c.__module__.startswith("torch.nn") for c in type(model).__mro__):
        return TorchModuleDetector(model, **kwargs)
    if callable(model):
        return model
    raise TilewiseError(
        f"cannot use a {type(model).__name__} as a detector: expected an .onnx path, an "
        "Ultralytics model, a torch module or a callable over a list of images"
    )
