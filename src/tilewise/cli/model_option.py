"""The ``--model`` option of the commands that run a model (predict, compare, sweep...).

Its value is a model spec read by ``tilewise.models.loader`` (an ONNX file, or
``package.module:name`` naming a batch model or a factory of one); this module holds the
option's help and re-exports the loader for the commands.
"""

from __future__ import annotations

from tilewise.models.loader import build_model, describe_model, load_model

__all__ = ["MODEL_HELP", "build_model", "describe_model", "load_model"]

MODEL_HELP = (
    "Model: an ONNX file (YOLOv8 layout) or 'package.module:name', a batch model or a "
    "factory of one (a class or a function without arguments)."
)
