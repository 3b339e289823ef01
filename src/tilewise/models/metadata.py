"""Model metadata as stored in ONNX ``metadata_props``, in Ultralytics' conventions.

Ultralytics writes every value with ``str()``: ``names`` is a Python dict literal such as
``"{0: 'person', 1: 'car'}"``, ``imgsz`` a list literal ``"[640, 640]"``. tilewise writes
the same keys the same way, so either tool reads the other's models, and adds
``tile_size`` (the training tile size, the natural slice size) and ``tilewise``.
"""

from __future__ import annotations

import ast
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tilewise.errors import TilewiseError, TilewiseWarning

__all__ = ["ModelMetadata", "parse_names", "parse_size"]


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_names(value: Any) -> tuple[str, ...] | None:
    """Class names from a metadata value: a dict ``{id: name}``, a list, or their text.

    Ids must be 0..C-1 (gaps are filled with ``class_<i>``).

    Example:
        >>> parse_names("{0: 'person', 1: 'car'}"), parse_names('["a", "b"]')
        (('person', 'car'), ('a', 'b'))
    """
    if value is None:
        return None
    obj = _literal(value) if isinstance(value, str) else value
    if isinstance(obj, Mapping):
        try:
            ids = {int(k): str(v) for k, v in obj.items()}
        except (TypeError, ValueError):
            msg = f"class names must map integer ids to names, got {value!r:.80}"
            raise TilewiseError(msg) from None
        if not ids:
            return ()
        if min(ids) < 0:
            raise TilewiseError(f"class ids must be >= 0, got {sorted(ids)[:5]}")
        return tuple(ids.get(i, f"class_{i}") for i in range(max(ids) + 1))
    if isinstance(obj, Sequence) and not isinstance(obj, str):
        return tuple(str(v) for v in obj)
    raise TilewiseError(f"class names must be a dict or a list, got {value!r:.80}")


def parse_size(value: Any) -> tuple[int, int] | None:
    """A size as (height, width) from ``640``, ``[640, 480]`` or their text.

    Example:
        >>> parse_size("[640, 480]"), parse_size(320), parse_size(None)
        ((640, 480), (320, 320), None)
    """
    if value is None or value == "":
        return None
    obj = _literal(value) if isinstance(value, str) else value
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return int(obj), int(obj)
    if isinstance(obj, Sequence) and not isinstance(obj, str) and len(obj) in (1, 2):
        vals = [int(v) for v in obj]
        return (vals[0], vals[-1])
    raise TilewiseError(f"a size must be an int or [height, width], got {value!r:.80}")


def _parse_stride(value: Any) -> int | None:
    """A positive whole stride from ``"32"`` or ``"32.0"``; anything else warns and is None.

    Example:
        >>> _parse_stride("32.0"), _parse_stride(None)
        (32, None)
    """
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if math.isfinite(number) and number >= 1 and number == int(number):
        return int(number)
    warnings.warn(
        TilewiseWarning(
            f"model metadata: stride {value!r:.40} is not a positive whole number; "
            "the model's stride is unknown (kept as text in extra['stride'])"
        ),
        stacklevel=4,
    )
    return None


@dataclass(frozen=True)
class ModelMetadata:
    """What a detector says about itself.

    Attributes:
        names: class names in class-id order (None: unknown).
        imgsz: model input (height, width) (None: unknown).
        tile_size: training tile (height, width), the natural slice size (None: unknown).
        stride: the model's largest stride (None: unknown).
        task: ``"detect"`` for detectors (Ultralytics also writes ``segment``, ...).
        extra: every other key, as text.
    """

    names: tuple[str, ...] | None = None
    imgsz: tuple[int, int] | None = None
    tile_size: tuple[int, int] | None = None
    stride: int | None = None
    task: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_props(cls, props: Mapping[str, str]) -> ModelMetadata:
        """Parse ONNX ``metadata_props`` (key to text).

        Example:
            >>> m = ModelMetadata.from_props({"names": "{0: 'a'}", "imgsz": "[320, 320]",
            ...                               "stride": "16", "author": "me"})
            >>> m.names, m.imgsz, m.stride, m.extra
            (('a',), (320, 320), 16, {'author': 'me'})
        """
        known = {"names", "imgsz", "tile_size", "stride", "task"}
        stride_val = _parse_stride(props.get("stride"))
        extra = {k: v for k, v in props.items() if k not in known}
        if stride_val is None and props.get("stride") not in (None, ""):
            extra["stride"] = str(props["stride"])  # kept as text, not lost
        return cls(
            names=parse_names(props.get("names")),
            imgsz=parse_size(props.get("imgsz")),
            tile_size=parse_size(props.get("tile_size")),
            stride=stride_val,
            task=props.get("task") or None,
            extra=extra,
        )

    def to_props(self) -> dict[str, str]:
        """Text values in Ultralytics' style (``str`` of Python literals).

        Example:
            >>> ModelMetadata(names=("a", "b"), imgsz=(320, 320)).to_props()["names"]
            "{0: 'a', 1: 'b'}"
        """
        props = dict(self.extra)
        if self.names is not None:
            props["names"] = str(dict(enumerate(self.names)))
        if self.imgsz is not None:
            props["imgsz"] = str(list(self.imgsz))
        if self.tile_size is not None:
            props["tile_size"] = str(list(self.tile_size))
        if self.stride is not None:
            props["stride"] = str(self.stride)
        if self.task is not None:
            props["task"] = self.task
        return props
