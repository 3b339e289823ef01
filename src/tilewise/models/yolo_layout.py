"""The YOLOv8 detection output layout, ``[batch, 4 + classes, anchors]``, decoded in numpy.

Rows 0-3 of each image's output are the box centre x, centre y, width and height in
model-input pixels; rows ``4 ... 4 + C - 1`` are the per-class scores (already through a
sigmoid). There is no separate objectness row (that is the YOLOv5 layout).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tilewise.detections import Detections
from tilewise.errors import TilewiseError
from tilewise.merge import nms
from tilewise.models.letterbox import LetterboxInfo, unletterbox_boxes

__all__ = ["ModelLayoutError", "check_output_shape", "decode_yolov8"]


class ModelLayoutError(TilewiseError):
    """A model's inputs or outputs are not laid out as expected; the message says how."""


def _layout_hint(shape: Sequence[object]) -> str:
    if len(shape) == 3 and all(isinstance(d, int) for d in shape[1:]):
        _, a, b = shape
        if isinstance(a, int) and isinstance(b, int) and a > b and b in (6, 7):
            return (
                f" It looks like an end-to-end (NMS-free) output [batch, detections, {b}] "
                "(boxes, score, class); export the model without built-in NMS, in the "
                "YOLOv8 layout [batch, 4 + classes, anchors]."
            )
        if isinstance(a, int) and isinstance(b, int) and a > b:
            return (
                f" It looks transposed, [batch, anchors, {b}]"
                + (" (the YOLOv5 layout with an objectness column)" if b > 5 else "")
                + "; export the model in the YOLOv8 layout [batch, 4 + classes, anchors]."
            )
    return ""


def check_output_shape(
    shape: Sequence[object], num_classes: int | None, *, batch: int | None = None
) -> int:
    """Check an output shape against ``[batch, 4 + classes, anchors]``; return the classes.

    Dimensions may be symbolic (strings or None) in a graph's declared shape; they are
    checked once known.

    Args:
        shape: the output shape.
        num_classes: classes the model should predict (from its metadata), or None.
        batch: the batch size that was run, when checking an actual output.

    Raises:
        ModelLayoutError: the shape is not a YOLOv8 detection layout, or the class count
            does not match ``num_classes``.

    Example:
        >>> check_output_shape([1, 9, 2100], 5)
        5
        >>> check_output_shape(["batch", 84, 8400], None)
        80
    """
    dims = list(shape)
    expected = "[batch, 4 + classes, anchors] (YOLOv8 layout: cx, cy, w, h, class scores)"
    if len(dims) != 3:
        raise ModelLayoutError(f"model output has shape {dims}; expected {expected}")
    b, ch, anchors = dims
    if batch is not None and isinstance(b, int) and b != batch:
        raise ModelLayoutError(
            f"model output has batch dimension {b} for an input batch of {batch}; "
            f"expected {expected}"
        )
    if not isinstance(ch, int):
        if num_classes is None:
            raise ModelLayoutError(
                f"model output {dims} has a symbolic channel dimension and no class names "
                f"in its metadata; expected {expected} with a fixed channel count"
            )
        return num_classes
    if ch < 5:
        raise ModelLayoutError(
            f"model output has shape {dims}: {ch} channels leave no class scores; "
            f"expected {expected}.{_layout_hint(dims)}"
        )
    if num_classes is not None and ch != 4 + num_classes:
        raise ModelLayoutError(
            f"model output has {ch} channels but its metadata names {num_classes} classes "
            f"(expected 4 + {num_classes} = {4 + num_classes} channels in {expected}); "
            f"class names and model disagree.{_layout_hint(dims)}"
        )
    if num_classes is None and isinstance(anchors, int) and anchors < ch:
        raise ModelLayoutError(
            f"model output has shape {dims}, fewer anchors than channels; expected "
            f"{expected}.{_layout_hint(dims)}"
        )
    return ch - 4


def _decode_one(
    pred: np.ndarray,
    conf: float,
    iou: float,
    max_det: int,
    max_nms: int,
    class_agnostic: bool,
) -> Detections:
    scores = pred[4:]
    best = scores.max(axis=0)
    keep = np.flatnonzero(best > conf)
    if keep.size == 0:
        return Detections.empty()
    if keep.size > max_nms:
        keep = keep[np.argsort(-best[keep], kind="stable")[:max_nms]]
    score = best[keep]
    cls = (
        scores[:, keep].argmax(axis=0)
        if scores.shape[0] > 1
        else np.zeros(keep.size, dtype=np.int64)
    )
    cx, cy, w, h = pred[0, keep], pred[1, keep], pred[2, keep] / 2, pred[3, keep] / 2
    xyxy = np.stack([cx - w, cy - h, cx + w, cy + h], axis=1)
    det = Detections(xyxy, score, cls)
    det = det[det.finite_mask()]
    det = nms(det, threshold=iou, class_agnostic=class_agnostic)
    return det[:max_det] if len(det) > max_det else det


def decode_yolov8(
    output: np.ndarray,
    infos: Sequence[LetterboxInfo] | None = None,
    *,
    num_classes: int | None = None,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    max_nms: int = 30000,
    class_agnostic: bool = False,
) -> list[Detections]:
    """Turn a ``[B, 4 + C, A]`` output into one ``Detections`` per image.

    Per anchor the class is the best-scoring one and the confidence its score; anchors at
    or under ``conf`` are dropped, then per-class NMS (``tilewise.nms``) at ``iou``, then the
    ``max_det`` best are kept. Boxes are mapped back through each image's letterbox.

    Args:
        output: the model output, float, ``[B, 4 + C, A]``.
        infos: one ``LetterboxInfo`` per image; None keeps model-input pixels.
        num_classes: expected classes (checked), or None.
        conf: confidence threshold.
        iou: NMS IoU threshold.
        max_det: detections kept per image.
        max_nms: candidates (best first) passed to NMS per image.
        class_agnostic: NMS across classes.

    Raises:
        ModelLayoutError: the output is not in the expected layout.

    Example:
        >>> import numpy as np
        >>> out = np.zeros((1, 6, 8), np.float32)  # 2 classes, 8 anchors
        >>> out[0, :4, 0] = [10, 10, 4, 4]; out[0, 5, 0] = 0.75  # one box of class 1
        >>> det = decode_yolov8(out)[0]
        >>> det.xyxy.tolist(), det.class_id.tolist(), det.confidence.tolist()
        ([[8.0, 8.0, 12.0, 12.0]], [1], [0.75])
    """
    arr = np.asarray(output)
    check_output_shape(arr.shape, num_classes, batch=None if infos is None else len(infos))
    if not np.issubdtype(arr.dtype, np.floating):
        raise ModelLayoutError(f"model output must be floating point, got {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    results = []
    for b in range(arr.shape[0]):
        det = _decode_one(arr[b], conf, iou, max_det, max_nms, class_agnostic)
        if infos is not None and len(det):
            det = Detections(unletterbox_boxes(det.xyxy, infos[b]), det.confidence, det.class_id)
        results.append(det)
    return results
