"""The ``--model`` option of the commands that run a model (predict, compare, sweep...).

Its value is a model spec read by ``tilewise.models.loader`` (an ONNX file, or
``package.module:name`` naming a batch model or a factory of one); this module holds the
option's help and re-exports the loader for the commands.
"""

from __future__ import annotations

from pathlib import Path

from tilewise.models.loader import build_model, describe_model, load_model, model_digest

__all__ = [
    "MODEL_HELP",
    "build_model",
    "cache_model_id",
    "describe_model",
    "load_model",
    "model_digest",
]

MODEL_HELP = (
    "Model: an ONNX file (YOLOv8 layout) or 'package.module:name', a batch model or a "
    "factory of one (a class or a function without arguments)."
)


def cache_model_id(spec: str | Path, conf: float | None) -> str:
    """The default ``--model-id`` of a cache: the spec, its file's hash, and ``--conf``.

    The hash makes a model retrained in place a new model for the cache, instead of one
    whose cached results are reused (``model_digest``).

    Example:
        >>> cache_model_id("pkg.mod:fn", 0.5)
        'pkg.mod:fn conf=0.5'
    """
    digest = model_digest(spec)
    text = str(spec) if digest is None else f"{spec} sha256={digest[:16]}"
    return text if conf is None else f"{text} conf={conf}"
