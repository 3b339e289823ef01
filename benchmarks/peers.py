"""Thin wrappers that call the peer libraries the way their users would.

Every ``*_call`` function converts the shared input to the peer's own format *before*
returning, so only the returned closure is timed; the closure returns the number of
detections the peer kept (results are not converted back).

Which peer functions are used (checked against the installed sources):

* supervision 0.31: ``sv.Detections(xyxy, confidence, class_id).with_nms(threshold,
  class_agnostic=False, overlap_metric=IOU)`` and ``.with_nmm(...)`` (supervision's NMM is
  a *greedy* grouping per class around the highest-scoring box); slicing with
  ``sv.InferenceSlicer(callback, slice_wh, overlap_wh=<pixels>, overlap_filter=NMS,
  iou_threshold, overlap_metric=IOU, thread_workers=1, batch_size)``.
* SAHI 0.12: backend forced to ``numpy`` with
  ``sahi.postprocess.backends.set_postprocess_backend("numpy")``, then
  ``sahi.postprocess.combine.batched_nms`` / ``batched_greedy_nmm`` / ``batched_nmm`` on an
  (N, 6) float32 array ``[x1, y1, x2, y2, score, category_id]`` (the layout SAHI's own
  ``ObjectPredictionList.tonumpy`` builds), metric ``"IOU"``; slicing with
  ``sahi.predict.get_sliced_prediction`` and a ``sahi.models.base.DetectionModel``
  subclass.
* ensemble-boxes: ``weighted_boxes_fusion([boxes], [scores], [labels], iou_thr,
  skip_box_thr=0)`` on boxes normalised to [0, 1] (its required input).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

from benchmarks.data import MergeInput, SliceModelOutput
from benchmarks.measure import Unavailable

__all__ = [
    "CallCounter",
    "ModelCost",
    "SV_BYTES_PER_PAIR",
    "ensemble_wbf_call",
    "library_versions",
    "sahi_merge_call",
    "sahi_slicer_call",
    "supervision_merge_call",
    "supervision_slicer_call",
]

# supervision's with_nms at N = 10k peaked at ~5.2 GB here: about 52 bytes per box pair
# (several N x N float64 / bool temporaries). Used to skip infeasible sizes.
SV_BYTES_PER_PAIR = 52


def library_versions() -> dict[str, str]:
    """Installed versions of tilewise and the peers (``"missing"`` when absent)."""
    out: dict[str, str] = {}
    for name in ("tilewise", "supervision", "sahi", "ensemble-boxes", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


@dataclass
class ModelCost:
    """A fake model's cost: ``fixed_ms`` per call plus ``per_image_ms`` per image (sleeps)."""

    fixed_ms: float = 0.0
    per_image_ms: float = 0.0

    def spend(self, n_images: int) -> None:
        """Sleep for the cost of one call on ``n_images`` images."""
        seconds = (self.fixed_ms + self.per_image_ms * n_images) / 1000.0
        if seconds > 0:
            time.sleep(seconds)


@dataclass
class CallCounter:
    """Counts model calls and images seen during the last run."""

    calls: int = 0
    images: int = 0
    slice_shapes: set[tuple[int, ...]] = field(default_factory=set)

    def reset(self) -> None:
        """Forget earlier runs."""
        self.calls = 0
        self.images = 0
        self.slice_shapes = set()

    def add(self, images: list[np.ndarray]) -> None:
        """Record one model call on ``images``."""
        self.calls += 1
        self.images += len(images)
        for img in images:
            self.slice_shapes.add(tuple(img.shape))

    def info(self) -> dict[str, Any]:
        """Facts for the result row."""
        return {
            "model_calls": self.calls,
            "slices": self.images,
            "slice_shapes": sorted(str(s) for s in self.slice_shapes),
        }


# ----------------------------------------------------------------------------- merge


def supervision_merge_call(
    method: str, inp: MergeInput, *, threshold: float = 0.5
) -> Callable[[], int]:
    """``sv.Detections.with_nms`` / ``with_nmm`` (class-aware, IoU) on ``inp``."""
    try:
        import supervision as sv
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise Unavailable(f"supervision not installed: {exc}") from exc
    det = sv.Detections(
        xyxy=inp.xyxy.copy(), confidence=inp.confidence.copy(), class_id=inp.class_id.copy()
    )
    metric = sv.OverlapMetric.IOU
    if method == "nms":
        return lambda: len(det.with_nms(threshold, class_agnostic=False, overlap_metric=metric))
    if method == "nmm":
        return lambda: len(det.with_nmm(threshold, class_agnostic=False, overlap_metric=metric))
    raise Unavailable(f"supervision has no {method!r}")


def sahi_merge_call(method: str, inp: MergeInput, *, threshold: float = 0.5) -> Callable[[], int]:
    """SAHI's per-class numpy-backend postprocess functions on an (N, 6) float32 array."""
    try:
        from sahi.postprocess import combine
        from sahi.postprocess.backends import set_postprocess_backend
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise Unavailable(f"sahi not installed: {exc}") from exc
    set_postprocess_backend("numpy")
    funcs: dict[str, Callable[..., Any]] = {
        "nms": combine.batched_nms,
        "greedy_nmm": combine.batched_greedy_nmm,
        "nmm": combine.batched_nmm,
    }
    if method not in funcs:
        raise Unavailable(f"sahi has no {method!r}")
    func = funcs[method]
    preds = np.zeros((len(inp), 6), dtype=np.float32)
    preds[:, :4] = inp.xyxy
    preds[:, 4] = inp.confidence
    preds[:, 5] = inp.class_id
    return lambda: len(func(preds, match_metric="IOU", match_threshold=threshold))


def ensemble_wbf_call(method: str, inp: MergeInput, *, threshold: float = 0.5) -> Callable[[], int]:
    """ensemble-boxes ``weighted_boxes_fusion`` (one 'model', boxes normalised to [0, 1])."""
    if method != "wbf":
        raise Unavailable(f"ensemble-boxes has no {method!r}")
    try:
        from ensemble_boxes import weighted_boxes_fusion
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise Unavailable(f"ensemble-boxes not installed: {exc}") from exc
    boxes = (inp.xyxy.astype(np.float64) / float(inp.canvas)).clip(0.0, 1.0)
    scores = inp.confidence.astype(np.float64)
    labels = inp.class_id.astype(np.float64)

    def call() -> int:
        out_boxes, _, _ = weighted_boxes_fusion(
            [boxes], [scores], [labels], iou_thr=threshold, skip_box_thr=0.0
        )
        return len(out_boxes)

    return call


# ----------------------------------------------------------------------------- slicers


def supervision_slicer_call(
    image: np.ndarray,
    out: SliceModelOutput,
    *,
    slice_wh: int,
    overlap_ratio: float,
    threshold: float,
    batch_size: int,
    cost: ModelCost,
    counter: CallCounter,
) -> Callable[[], int]:
    """``sv.InferenceSlicer`` with a fake model returning ``out`` for every slice."""
    try:
        import supervision as sv
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise Unavailable(f"supervision not installed: {exc}") from exc

    def one(tile: np.ndarray) -> Any:
        counter.add([tile])
        cost.spend(1)
        return sv.Detections(xyxy=out.xyxy, confidence=out.confidence, class_id=out.class_id)

    def many(tiles: list[np.ndarray]) -> list[Any]:
        counter.add(tiles)
        cost.spend(len(tiles))
        return [
            sv.Detections(xyxy=out.xyxy, confidence=out.confidence, class_id=out.class_id)
            for _ in tiles
        ]

    overlap_px = round(overlap_ratio * slice_wh)
    slicer = sv.InferenceSlicer(
        callback=one if batch_size == 1 else many,
        slice_wh=(slice_wh, slice_wh),
        overlap_wh=(overlap_px, overlap_px),
        overlap_filter=sv.OverlapFilter.NON_MAX_SUPPRESSION,
        iou_threshold=threshold,
        overlap_metric=sv.OverlapMetric.IOU,
        thread_workers=1,
        batch_size=batch_size,
    )

    def call() -> int:
        counter.reset()
        return len(slicer(image))

    return call


def sahi_slicer_call(
    image: np.ndarray,
    out: SliceModelOutput,
    *,
    slice_wh: int,
    overlap_ratio: float,
    threshold: float,
    batch_size: int,
    cost: ModelCost,
    counter: CallCounter,
) -> Callable[[], int]:
    """``sahi.predict.get_sliced_prediction`` with a DetectionModel returning ``out``."""
    try:
        from sahi.models.base import DetectionModel
        from sahi.postprocess.backends import set_postprocess_backend
        from sahi.predict import get_sliced_prediction
        from sahi.prediction import ObjectPrediction
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise Unavailable(f"sahi not installed: {exc}") from exc
    set_postprocess_backend("numpy")
    boxes = out.xyxy.tolist()
    scores = out.confidence.tolist()
    classes = out.class_id.tolist()

    class FixedOutputModel(DetectionModel):  # type: ignore[misc]
        """A SAHI model adapter whose 'inference' returns the same detections."""

        def load_model(self) -> None:
            self.model = "fixed-output"

        def perform_inference(self, image: np.ndarray) -> None:
            counter.add([image])
            cost.spend(1)
            self._original_predictions = [(boxes, scores, classes)]

        def _create_object_prediction_list_from_original_predictions(
            self,
            shift_amount_list: list[list[int | float]] | None = None,
            full_shape_list: list[list[int | float]] | None = None,
        ) -> None:
            shifts = shift_amount_list or [[0, 0]]
            per_image: list[list[Any]] = []
            for i, (b, s, c) in enumerate(self._original_predictions):
                shift = shifts[i] if i < len(shifts) else shifts[0]
                full = full_shape_list[i] if full_shape_list else None
                per_image.append(
                    [
                        ObjectPrediction(
                            bbox=b[k],
                            category_id=int(c[k]),
                            category_name=str(c[k]),
                            score=s[k],
                            shift_amount=shift,
                            full_shape=full,
                        )
                        for k in range(len(b))
                    ]
                )
            self._object_prediction_list_per_image = per_image

    model = FixedOutputModel(confidence_threshold=0.25, device="cpu", load_at_init=True)

    def call() -> int:
        counter.reset()
        result = get_sliced_prediction(
            image,
            model,
            slice_height=slice_wh,
            slice_width=slice_wh,
            overlap_height_ratio=overlap_ratio,
            overlap_width_ratio=overlap_ratio,
            perform_standard_pred=False,
            postprocess_type="NMS",
            postprocess_match_metric="IOU",
            postprocess_match_threshold=threshold,
            postprocess_class_agnostic=False,
            verbose=0,
            batch_size=batch_size,
        )
        return len(result.object_prediction_list)

    return call
