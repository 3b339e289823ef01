"""A copy of an ONNX detector whose input height and width are dynamic, so zoom can act.

A YOLO-style detector is convolutional: if its graph computes its anchor grid from the
feature maps' shapes (as the tilewise exporter's and Ultralytics' do), the same weights run
at any input size that is a multiple of the stride. Only the declared input and output
shapes say otherwise. ``with_dynamic_input`` rewrites those declarations (the nodes and
weights are untouched) and checks that the copy gives the very same output at the original
size. ``OnnxDetector`` on the copy then has ``zooms_input``: a ``Slicer`` zoom enlarges
the network input instead of being undone by the letterbox.

Needs the ``onnx`` package (the ``train`` extra); running the copy does not.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_write_bytes
from tilewise.models.yolo_layout import ModelLayoutError

__all__ = ["with_dynamic_input"]


def _run(model_bytes: bytes, name: str, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {name: batch})[0])


def with_dynamic_input(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    check_size: int | None = None,
    seed: int = 0,
) -> Path:
    """Write a copy of the detector ``src`` whose input height and width are symbolic.

    Only the declared shapes change: input ``[batch, 3, "height", "width"]`` and output
    ``[batch, 4 + C, "anchors"]``. The copy is then run next to the original on two
    random images at the original size (``check_size``, default the declared input
    size) and must give a bit-identical output, and once at 1.5 times that size (rounded
    to a multiple of 32), where it must give more anchors.

    Args:
        src: the ONNX detector (YOLOv8 layout, one image input).
        dst: where to write the copy (atomically).
        check_size: the square input size of the checks (needed when ``src``'s input
            size is already dynamic).
        seed: seeds the random check images.

    Returns:
        ``dst``.

    Raises:
        TilewiseError: ``onnx`` missing, an unreadable model, or no size to check at.
        ModelLayoutError: not one 4-D image input, or the copy does not reproduce the
            original's output (its graph has sizes fixed inside, e.g. a constant anchor
            grid) or does not run at another size.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.models import OnnxDetector, bundled_path
        >>> out = with_dynamic_input(bundled_path("default_detector.onnx"),
        ...                          pathlib.Path(tempfile.mkdtemp()) / "dynamic.onnx")
        >>> model = OnnxDetector(out, imgsz=320)
        >>> model.zooms_input, model.with_input_zoom(1.4).input_hw
        (True, (448, 448))
    """
    try:
        import onnx
    except ImportError:
        raise TilewiseError(
            "with_dynamic_input needs the onnx package: pip install 'tilewise[train]'"
        ) from None
    source = Path(src)
    try:
        model = onnx.load(str(source))
    except Exception as exc:  # onnx raises its own exception types
        raise TilewiseError(f"cannot read ONNX model {source}: {str(exc).strip()[:200]}") from None
    if len(model.graph.input) != 1 or not model.graph.output:
        raise ModelLayoutError(
            f"{source.name} has {len(model.graph.input)} inputs and "
            f"{len(model.graph.output)} outputs; expected one image input and an output"
        )
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ModelLayoutError(
            f"{source.name} input has {len(dims)} dimensions; expected [batch, 3, height, width]"
        )
    declared = [d.dim_value if d.HasField("dim_value") else None for d in dims[2:]]
    size = check_size
    if size is None:
        if declared[0] is None or declared[1] is None or declared[0] != declared[1]:
            raise TilewiseError(
                f"{source.name} has no fixed square input size to check the copy at; "
                "pass check_size"
            )
        size = int(declared[0])
    original = model.SerializeToString()
    for dim, name in zip(dims[2:], ("height", "width"), strict=True):
        dim.ClearField("dim_value")
        dim.dim_param = name
    out_dims = model.graph.output[0].type.tensor_type.shape.dim
    if len(out_dims) == 3:
        out_dims[2].ClearField("dim_value")
        out_dims[2].dim_param = "anchors"
    copy = model.SerializeToString()

    name = model.graph.input[0].name
    rng = np.random.default_rng(seed)
    batch = rng.random((2, 3, size, size), dtype=np.float32)
    try:
        want = _run(original, name, batch)
        got = _run(copy, name, batch)
        bigger = 32 * round(size * 1.5 / 32)
        large = _run(copy, name, rng.random((1, 3, bigger, bigger), dtype=np.float32))
    except Exception as exc:  # ORT raises its own exception types
        raise ModelLayoutError(
            f"{source.name} with a dynamic input size does not run: {str(exc).strip()[:300]}"
        ) from None
    if want.shape != got.shape or not np.array_equal(want, got):
        raise ModelLayoutError(
            f"{source.name} with a dynamic input size does not reproduce its output at "
            f"{size}x{size}: its graph fixes sizes inside"
        )
    if large.ndim != 3 or large.shape[2] <= want.shape[2]:
        raise ModelLayoutError(
            f"{source.name} gives {large.shape} at {bigger}x{bigger}, not more anchors than "
            f"the {want.shape} at {size}x{size}: its graph fixes sizes inside"
        )
    return atomic_write_bytes(dst, copy)
