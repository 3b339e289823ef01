"""Slicer settings as a file: what ``tilewise tune`` writes and ``predict --config`` reads.

A config is JSON::

    {"tilewise_config": 1,
     "model": {"names": ["car", "person"], "imgsz": [640, 640]},
     "settings": {"slice_wh": 320, "overlap": 0.2, "zoom": 1.5, "merge": "nms", ...},
     "tuning": {...}}

``settings`` are ``Slicer`` keyword arguments (``scales`` as a list of scale mappings).
``model`` is the signature of the model the settings were chosen for: a model whose class
names or input size differ is refused, naming the difference (settings tuned for another
model are not settings for this one). ``tuning`` records where the settings came from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_write_json
from tilewise.slicing.scales import Scale
from tilewise.slicing.zoom import zooms_input

__all__ = ["CONFIG_VERSION", "SETTING_KEYS", "SlicerConfig", "model_signature"]

CONFIG_VERSION = 1

SETTING_KEYS = frozenset(
    {
        "slice_wh",
        "overlap",
        "batch_size",
        "workers",
        "merge",
        "threshold",
        "metric",
        "class_agnostic",
        "full_frame",
        "edge_margin",
        "mask_overlap",
        "pipeline",
        "min_valid",
        "zoom",
        "scales",
    }
)
"""The ``Slicer`` keyword arguments a config may set."""


def model_signature(model: Any) -> dict[str, Any]:
    """What a config records of a model: its class ``names`` and input size, when it says.

    A model whose input grows with the zoom (``zooms_input``: an ONNX graph with a dynamic
    input size) is also recorded as such (``"zooms_input": true``).

    Example:
        >>> class M:
        ...     names = ("car",)
        ...     imgsz = (320, 320)
        >>> model_signature(M()), model_signature(lambda ims: [])
        ({'names': ['car'], 'imgsz': [320, 320]}, {})
    """
    out: dict[str, Any] = {}
    names = getattr(model, "names", None)
    if isinstance(names, (tuple, list)) and names:
        out["names"] = [str(n) for n in names]
    imgsz = getattr(model, "imgsz", None)
    if isinstance(imgsz, (tuple, list)) and len(imgsz) == 2:
        out["imgsz"] = [int(v) for v in imgsz]
    if zooms_input(model):
        out["zooms_input"] = True
    return out


def _zooms(settings: Mapping[str, Any]) -> list[float]:
    """The zooms other than 1 that ``settings`` use (``zoom`` and each scale's)."""
    found = []
    zoom = settings.get("zoom", 1.0)
    if isinstance(zoom, (int, float)) and float(zoom) != 1.0:
        found.append(float(zoom))
    for scale in settings.get("scales") or []:
        value = scale.get("zoom", 1.0) if isinstance(scale, Mapping) else None
        if value is None and isinstance(scale, (list, tuple)) and len(scale) > 1:
            value = scale[1]
        if isinstance(value, (int, float)) and float(value) != 1.0:
            found.append(float(value))
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, Scale):
        return value.to_json()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, str):  # Choice enums
        return value.value
    return value


@dataclass(frozen=True)
class SlicerConfig:
    """Slicer settings with the signature of the model they were chosen for.

    Attributes:
        settings: ``Slicer`` keyword arguments (JSON values).
        model: ``model_signature`` of the model (empty: any model).
        tuning: provenance (the tuner's objective, budget, measured figures...).

    Example:
        >>> cfg = SlicerConfig({"slice_wh": 256, "merge": "nmm"}, {"names": ["car"]})
        >>> cfg.slicer_kwargs()
        {'slice_wh': 256, 'merge': 'nmm'}
        >>> class Other:
        ...     names = ("person",)
        >>> try:
        ...     cfg.check_model(Other())
        ... except Exception as exc:
        ...     print(exc)
        this config was made for a model with classes ['car'], but this model has ['person']
    """

    settings: Mapping[str, Any]
    model: Mapping[str, Any] = field(default_factory=dict)
    tuning: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.settings, Mapping):
            raise TilewiseError(f"config settings must be a mapping, got {self.settings!r}")
        unknown = sorted(set(self.settings) - SETTING_KEYS)
        if unknown:
            raise TilewiseError(
                f"unknown config setting(s) {unknown}; known: {', '.join(sorted(SETTING_KEYS))}"
            )
        object.__setattr__(self, "settings", {k: _jsonable(v) for k, v in self.settings.items()})

    def slicer_kwargs(self) -> dict[str, Any]:
        """The settings as ``Slicer`` keyword arguments (pairs as tuples)."""
        out: dict[str, Any] = {}
        for key, value in self.settings.items():
            if key in ("slice_wh", "overlap") and isinstance(value, list):
                value = tuple(value)
            out[key] = value
        return out

    def check_model(self, model: Any) -> None:
        """Refuse a model whose class names or input size differ from the config's.

        A model that does not say its names or input size is accepted. A config that
        zooms, made for a model whose input grows with the zoom (``zooms_input``), is
        refused for a model with a fixed input size that says it (``imgsz``): its
        letterbox would undo the zoom.

        Raises:
            TilewiseError: naming the difference.
        """
        have = model_signature(model)
        want = self.model
        if "names" in want and "names" in have and list(want["names"]) != have["names"]:
            raise TilewiseError(
                f"this config was made for a model with classes {list(want['names'])}, "
                f"but this model has {have['names']}"
            )
        if "imgsz" in want and "imgsz" in have and list(want["imgsz"]) != have["imgsz"]:
            wh, mh = want["imgsz"], have["imgsz"]
            raise TilewiseError(
                f"this config was made for a model with input size {wh[0]}x{wh[1]} (height x "
                f"width), but this model's is {mh[0]}x{mh[1]}"
            )
        zooms = _zooms(self.settings)
        if want.get("zooms_input") and zooms and "imgsz" in have and "zooms_input" not in have:
            mh = have["imgsz"]
            raise TilewiseError(
                f"this config zooms ({', '.join(f'{z:g}' for z in zooms)}) and was made for a "
                "model whose input grows with the zoom (a dynamic input size), but this "
                f"model's input is fixed at {mh[0]}x{mh[1]}: its letterbox would undo the zoom "
                "(tilewise.models.with_dynamic_input writes a copy with a dynamic input size)"
            )

    def to_dict(self) -> dict[str, Any]:
        """The file's JSON content."""
        return {
            "tilewise_config": CONFIG_VERSION,
            "model": dict(self.model),
            "settings": dict(self.settings),
            "tuning": dict(self.tuning),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the config as JSON (atomically)."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, source: Mapping[str, Any] | str | os.PathLike[str]) -> SlicerConfig:
        """Read a config from a JSON file or a mapping (``{"settings": ...}`` at least).

        Raises:
            TilewiseError: missing or unreadable file, not a tilewise config, a newer
                version, unknown settings.
        """
        where = "config"
        if isinstance(source, Mapping):
            data: Any = source
        else:
            path = Path(source)
            where = str(path)
            if not path.is_file():
                raise TilewiseError(f"config file not found: {path}")
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise TilewiseError(f"cannot read config {path}: {exc}") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("settings"), Mapping):
            raise TilewiseError(f"{where} is not a tilewise config (no 'settings' mapping)")
        version = data.get("tilewise_config", CONFIG_VERSION)
        if not isinstance(version, int) or version > CONFIG_VERSION:
            raise TilewiseError(
                f"{where} is config version {version!r}; this tilewise reads up to "
                f"{CONFIG_VERSION}: upgrade tilewise"
            )
        model = data.get("model") or {}
        if not isinstance(model, Mapping):
            raise TilewiseError(f"{where}: 'model' must be a mapping, got {model!r}")
        return cls(dict(data["settings"]), dict(model), dict(data.get("tuning") or {}))
