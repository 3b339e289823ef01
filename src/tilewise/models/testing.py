"""Tiny hand-built ONNX detectors in the Ultralytics (YOLOv8) layout, for tests and examples.

No weights, no torch: the graphs are written with ``onnx.helper`` (needs ``onnx``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tilewise.fileio import atomic_write_bytes

__all__ = ["constant_detector_onnx"]


def constant_detector_onnx(
    path: str | os.PathLike[str],
    *,
    imgsz: int = 64,
    names: Sequence[str] | None = ("a", "b"),
    anchors: int = 16,
    dynamic_batch: bool = True,
    transposed: bool = False,
    extra_metadata: dict[str, str] | None = None,
    dynamic_hw: bool = False,
) -> Path:
    """Write a detector whose output is ``[batch, 4 + C, anchors]`` like Ultralytics'.

    Anchor 0 is a box of ``imgsz / 4`` centred in the input, class 0, score 0.9. Anchor 1
    is a box of ``imgsz / 8`` centred at ``(imgsz / 4, imgsz / 4)``, class ``C - 1``, with a
    score equal to the mean of the input (bright images find it, dark ones do not). All
    other anchors score 0.

    Args:
        path: where to write the model (atomically).
        imgsz: the fixed square input size.
        names: class names written to the metadata the Ultralytics way; None writes none
            (two classes are still predicted).
        anchors: number of anchor columns.
        dynamic_batch: a symbolic batch dimension (else fixed at 1, like a default
            Ultralytics export).
        transposed: write ``[batch, anchors, 4 + C]`` instead (an unexpected layout).
        extra_metadata: more metadata keys.
        dynamic_hw: symbolic height and width (the graph takes any input size; the boxes
            stay at the same input pixels, and ``imgsz`` is still written to the metadata).

    Returns:
        The path.

    Example:
        >>> import tempfile, pathlib
        >>> p = constant_detector_onnx(pathlib.Path(tempfile.mkdtemp()) / "m.onnx")
        >>> p.stat().st_size > 0
        True
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nc = len(names) if names is not None else 2
    ch = 4 + nc
    base = np.zeros((1, ch, anchors), dtype=np.float32)
    base[0, :4, 0] = [imgsz / 2, imgsz / 2, imgsz / 4, imgsz / 4]
    base[0, 4, 0] = 0.9
    base[0, :4, 1] = [imgsz / 4, imgsz / 4, imgsz / 8, imgsz / 8]
    gate = np.zeros_like(base)
    gate[0, 4 + nc - 1, 1] = 1.0
    if transposed:
        base, gate = base.transpose(0, 2, 1).copy(), gate.transpose(0, 2, 1).copy()
    batch: str | int = "batch" if dynamic_batch else 1
    hw: list[str | int] = ["height", "width"] if dynamic_hw else [imgsz, imgsz]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["mean", "shape3"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "gate"], ["gated"]),
        helper.make_node("Add", ["base", "gated"], ["output0"]),
    ]
    out_shape = [batch, anchors, ch] if transposed else [batch, ch, anchors]
    graph = helper.make_graph(
        nodes,
        "tilewise_constant_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, *hw])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)],
        initializer=[
            numpy_helper.from_array(base, "base"),
            numpy_helper.from_array(gate, "gate"),
            numpy_helper.from_array(np.array([-1, 1, 1], dtype=np.int64), "shape3"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"task": "detect", "imgsz": str([imgsz, imgsz]), "stride": "32", "batch": "1"}
    if names is not None:
        meta["names"] = str(dict(enumerate(names)))
    meta.update(extra_metadata or {})
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return atomic_write_bytes(path, model.SerializeToString())
