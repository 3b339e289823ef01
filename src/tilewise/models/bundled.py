"""The detector and sample scene shipped inside the package (``tilewise/data``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from tilewise.errors import TilewiseError

__all__ = [
    "DEFAULT_MODEL_NAME",
    "SAMPLE_GT_NAME",
    "SAMPLE_IMAGE_NAME",
    "bundled_path",
    "default_detector",
]

DEFAULT_MODEL_NAME = "default_detector.onnx"
SAMPLE_IMAGE_NAME = "sample_scene.jpg"
SAMPLE_GT_NAME = "sample_scene.json"


def bundled_path(name: str) -> Path:
    """Path of a file in ``tilewise/data``.

    Raises:
        TilewiseError: the file is not in this installation.

    Example:
        >>> bundled_path(DEFAULT_MODEL_NAME).suffix
        '.onnx'
    """
    path = Path(str(resources.files("tilewise") / "data" / name))
    if not path.is_file():
        raise TilewiseError(
            f"bundled file {name} is missing from this tilewise installation ({path}); "
            "reinstall tilewise, or pass a model with --model"
        )
    return path


def default_detector(**kwargs: Any) -> Any:
    """The bundled ``OnnxDetector``, trained on tilewise's synthetic small-object benchmark.

    Keyword arguments go to ``OnnxDetector`` (``conf``, ``iou``, ...).

    Example:
        >>> model = default_detector()
        >>> len(model.names) >= 5, model.slice_wh[0] <= model.imgsz[1]
        (True, True)
    """
    from tilewise.models.onnx_detector import OnnxDetector

    return OnnxDetector(bundled_path(DEFAULT_MODEL_NAME), **kwargs)
