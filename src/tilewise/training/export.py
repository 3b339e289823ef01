"""ONNX export in the YOLOv8 layout, with Ultralytics-style metadata and a dynamic batch."""

from __future__ import annotations

import copy
import io
import os
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch

from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_write_bytes
from tilewise.models.metadata import ModelMetadata
from tilewise.training.checkpoint import load_checkpoint, model_from_checkpoint
from tilewise.training.config import MAX_STRIDE
from tilewise.training.detector import TileDetector

__all__ = ["export_checkpoint", "export_onnx"]


def export_onnx(
    model: TileDetector,
    path: str | os.PathLike[str],
    *,
    names: Sequence[str],
    img_size: int,
    tile_size: int | None = None,
    opset: int = 17,
) -> Path:
    """Write ``model`` as ONNX in the YOLOv8 layout with a dynamic batch.

    Input ``images [batch, 3, img_size, img_size]``, output ``output0 [batch, 4 + C,
    anchors]``; metadata ``names``, ``imgsz``, ``tile_size``, ``stride``, ``task``.
    The file runs in ``tilewise.models.OnnxDetector`` and in any tool that reads
    Ultralytics' ONNX detectors.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.training.config import DetectorConfig
        >>> model = TileDetector(DetectorConfig(num_classes=2, widths=(4, 4, 4, 4, 4),
        ...                                     depths=(1, 1, 1, 1)))
        >>> p = export_onnx(model, pathlib.Path(tempfile.mkdtemp()) / "m.onnx",
        ...                 names=["a", "b"], img_size=64)
        >>> from tilewise.models import OnnxDetector
        >>> OnnxDetector(p).names
        ('a', 'b')
    """
    import onnx

    if len(names) != model.cfg.num_classes:
        raise TilewiseError(
            f"{len(names)} class names given for a model of {model.cfg.num_classes} classes"
        )
    if img_size % MAX_STRIDE:
        raise TilewiseError(f"img_size must be a multiple of {MAX_STRIDE}, got {img_size}")
    net = copy.deepcopy(model).float().cpu().eval()
    net = net.to(memory_format=torch.contiguous_format)
    dummy = torch.zeros(1, 3, img_size, img_size)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (dummy,),
            buffer,
            dynamo=False,
            input_names=["images"],
            output_names=["output0"],
            dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
        )
    graph = onnx.load_from_string(buffer.getvalue())
    with torch.no_grad():
        out_shape = net(dummy).shape
    dims = graph.graph.output[0].type.tensor_type.shape.dim
    for k in (1, 2):  # channels and anchors are fixed; only the batch is dynamic
        dims[k].ClearField("dim_param")
        dims[k].dim_value = int(out_shape[k])
    from tilewise._version import __version__

    meta = ModelMetadata(
        names=tuple(names),
        imgsz=(img_size, img_size),
        tile_size=(tile_size, tile_size) if tile_size else (img_size, img_size),
        stride=MAX_STRIDE,
        task="detect",
        extra={
            "description": "tilewise TileDetector (anchor-based, strides 8 and 16)",
            "author": "tilewise",
            "version": __version__,
            "date": datetime.now(timezone.utc).date().isoformat(),
            "anchors": str([[list(a) for a in lvl] for lvl in model.cfg.anchors]),
        },
    )
    del graph.metadata_props[:]
    for key, value in meta.to_props().items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(graph)
    return atomic_write_bytes(path, graph.SerializeToString())


def export_checkpoint(
    checkpoint: str | os.PathLike[str], path: str | os.PathLike[str] | None = None
) -> Path:
    """Export a training checkpoint (its EMA weights) to ONNX next to it (or to ``path``).

    Raises:
        CheckpointError: the checkpoint is unreadable or does not fit its model.
    """
    data = load_checkpoint(checkpoint)
    model = model_from_checkpoint(data, source=str(checkpoint))
    out = Path(path) if path is not None else Path(checkpoint).with_suffix(".onnx")
    tile = data.get("tile_size")
    return export_onnx(
        model,
        out,
        names=list(data["names"]),
        img_size=int(data["img_size"]),
        tile_size=int(tile) if tile else None,
    )
