"""Training checkpoints: written atomically, checked thoroughly when read.

A checkpoint is a ``torch.save`` dict with only tensors and plain data (it loads with
``weights_only=True``)::

    format, version          "tilewise-detector", 1
    model_config             DetectorConfig.to_dict()
    names, img_size, tile_size
    model                    state dict of the weights to use (the EMA)
    train                    (optional) what resuming needs: raw weights, optimizer,
                             epoch, EMA updates, history, best fitness, TrainConfig
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_path
from tilewise.training.config import DetectorConfig
from tilewise.training.detector import TileDetector

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "load_checkpoint",
    "model_from_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "tilewise-detector"
CHECKPOINT_VERSION = 1


class CheckpointError(TilewiseError):
    """A checkpoint is missing, unreadable, not a tilewise checkpoint, or does not fit."""


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (a crash never leaves a half-written file).

    Example:
        >>> import tempfile, pathlib
        >>> p = save_checkpoint(pathlib.Path(tempfile.mkdtemp()) / "c.pt", {"a": 1})
        >>> p.is_file()
        True
    """
    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    return Path(path)


_EXPECTED = (
    "a tilewise detector checkpoint (a .pt file written by `tilewise train`, with keys "
    "format='tilewise-detector', model_config, names, img_size, model)"
)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a checkpoint.

    Raises:
        CheckpointError: the file is missing, unreadable, or not a tilewise detector
            checkpoint of a supported version; the message says what was expected.

    Example:
        >>> import tempfile, pathlib
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "bad.pt"
        >>> _ = bad.write_bytes(b"garbage")
        >>> try:
        ...     load_checkpoint(bad)
        ... except CheckpointError as exc:
        ...     print("not a readable torch file" in str(exc))
        True
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(
            f"cannot read checkpoint {p}: it is not a readable torch file "
            f"({type(exc).__name__}); expected {_EXPECTED}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        found = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            f"{p} is not a tilewise checkpoint (found {found}); expected {_EXPECTED}"
        )
    if data.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{p} has checkpoint version {data.get('version')!r}; this tilewise reads "
            f"version {CHECKPOINT_VERSION}"
        )
    missing = [k for k in ("model_config", "names", "img_size", "model") if k not in data]
    if missing:
        raise CheckpointError(f"{p} lacks {missing}; expected {_EXPECTED}")
    return data


def model_from_checkpoint(data: dict[str, Any], *, source: str = "checkpoint") -> TileDetector:
    """Build the detector a checkpoint describes and load its weights.

    Raises:
        CheckpointError: the weights do not fit the described model, or the class names
            do not match its class count.
    """
    cfg = DetectorConfig.from_dict(data["model_config"])
    names = list(data["names"])
    if len(names) != cfg.num_classes:
        raise CheckpointError(
            f"{source} names {len(names)} classes but its model predicts {cfg.num_classes}"
        )
    model = TileDetector(cfg)
    try:
        model.load_state_dict(data["model"], strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(
            f"{source} weights do not match a TileDetector with {cfg.to_dict()}: "
            f"{' '.join(first[:3])[:300]}"
        ) from None
    return model
