"""Load a model from a text spec: an ONNX file, or an import path to a model or factory.

The one loader behind every command's ``--model``, the HTTP service and the Ray jobs,
and usable from Python alike. A spec is either an ONNX file (run by
``tilewise.models.OnnxDetector``) or ``package.module:name`` naming a batch model (a
callable taking a list of RGB images and returning one ``Detections`` per image) or a
factory of one: a class, or a function that takes no arguments, which is called once to
build the model.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from tilewise.errors import TilewiseError
from tilewise.images.check import file_sha256

__all__ = ["build_model", "describe_model", "load_model", "model_digest"]


def _is_factory(target: Any) -> bool:
    """A class, or a function that can be called with no arguments."""
    if inspect.isclass(target):
        return True
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        return False
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False
    return all(
        p.default is not inspect.Parameter.empty
        or p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        for p in sig.parameters.values()
    )


def _import_target(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise TilewiseError(
            f"a model must be an ONNX file or look like 'package.module:name', got {spec!r}"
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise TilewiseError(f"cannot import {module_name!r} for model {spec!r}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise TilewiseError(f"{module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    return target


def load_model(spec: str | Path, *, conf: float | None = None, iou: float | None = None) -> Any:
    """The batch model ``spec`` names: an ONNX file, or an import path to a model or factory.

    Args:
        spec: a path to an ``.onnx`` file, or ``"package.module:name"``.
        conf: confidence threshold, for every model kind: an ONNX model decodes with it,
            any other model is wrapped to drop detections at or under it (the same float32
            ``> conf`` rule; ``tilewise.slicing.confidence.with_conf``). ``None``: the
            model's own.
        iou: NMS IoU threshold given to an ONNX model (default: ``OnnxDetector``'s).

    Raises:
        TilewiseError: the file is missing, the module or name cannot be imported, or
            the result is not callable.

    Example:
        >>> model = load_model("tilewise.models.bundled:default_detector")
        >>> type(model).__name__, len(model.names) > 0
        ('OnnxDetector', True)
    """
    text = str(spec)
    path = Path(text)
    if path.suffix.lower() == ".onnx" or path.is_file():
        if not path.is_file():
            raise TilewiseError(f"model {text}: no such ONNX file")
        from tilewise.models.onnx_detector import OnnxDetector

        kwargs = {k: v for k, v in (("conf", conf), ("iou", iou)) if v is not None}
        return OnnxDetector(path, **kwargs)
    target = _import_target(text)
    if _is_factory(target):
        target = target()
    if not callable(target):
        raise TilewiseError(f"model {text!r} is not callable")
    if conf is not None:
        from tilewise.slicing.confidence import with_conf

        return with_conf(target, conf)
    return target


def describe_model(model: Any, spec: str | Path | None) -> str:
    """What to record as the model in reports: its file, else the spec, else its type.

    Example:
        >>> describe_model(lambda images: [], "pkg.mod:fn")
        'pkg.mod:fn'
    """
    path = getattr(model, "path", None)
    if isinstance(path, Path):
        return str(path)
    return str(spec) if spec is not None else type(model).__name__


def build_model(spec: str | None, conf: float, iou: float) -> Any:
    """The bundled detector, or the model ``spec`` names.

    A ``functools.partial`` of it is the model factory of ``--engine`` runs: it pickles,
    so Ray actors build their own model.

    Example:
        >>> type(build_model(None, 0.25, 0.7)).__name__
        'OnnxDetector'
    """
    if spec is None:
        from tilewise.models.bundled import default_detector

        return default_detector(conf=conf, iou=iou)
    return load_model(spec, conf=conf, iou=iou)


def model_digest(spec: str | Path | None) -> str | None:
    """The SHA-256 of the weights ``spec`` names, for the records that decide a resume.

    A run folder or a cache keyed by the model's path alone would take a model retrained
    in place (``best.onnx`` overwritten) for the old one and mix their results. So the
    records hash the file: the bundled detector's for ``None``, the ONNX file's for a
    path. An import-path model (``package.module:name``) has no file to hash and gives
    ``None``: it is known by its spec alone, so give a changed one a new name.

    Example:
        >>> model_digest(None) == model_digest("tilewise.models.bundled:default_detector")
        False
        >>> len(model_digest(None)), model_digest("tilewise.models.bundled:default_detector")
        (64, None)
    """
    if spec is None:
        from tilewise.models.bundled import DEFAULT_MODEL_NAME, bundled_path

        return file_sha256(bundled_path(DEFAULT_MODEL_NAME))
    path = Path(str(spec))
    return file_sha256(path) if path.is_file() else None
