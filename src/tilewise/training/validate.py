"""Validation during training: the model on the validation images, COCO AP via evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from tilewise.detections import Detections
from tilewise.models.adapters import TorchModuleDetector
from tilewise.training.data import SplitData

__all__ = ["ValMetrics", "ground_truth_of", "validate"]


@dataclass(frozen=True)
class ValMetrics:
    """The headline validation numbers (``nan`` when undefined).

    Attributes:
        ap: AP at IoU .50:.95.
        ap50: AP at IoU .50.
        ap_small: AP of objects under 32 x 32 px.
        images: images evaluated.
        predictions: detections evaluated.
    """

    ap: float
    ap50: float
    ap_small: float
    images: int
    predictions: int

    @property
    def fitness(self) -> float:
        """YOLOv5's model-selection score: 0.1 AP50 + 0.9 AP (0 when undefined)."""
        ap = 0.0 if np.isnan(self.ap) else self.ap
        ap50 = 0.0 if np.isnan(self.ap50) else self.ap50
        return 0.1 * ap50 + 0.9 * ap

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``nan`` as None)."""

        def f(v: float) -> float | None:
            return None if np.isnan(v) else round(float(v), 5)

        return {
            "AP": f(self.ap),
            "AP50": f(self.ap50),
            "AP_small": f(self.ap_small),
            "images": self.images,
            "predictions": self.predictions,
        }


def ground_truth_of(data: SplitData, limit: int | None = None) -> tuple[dict[str, Any], list]:
    """COCO ground truth (category ids ``class + 1``) of the split's fixed-size samples.

    Returns the COCO dict and the images in the same order (ids 1..N).
    """
    images, annotations, pixels = [], [], []
    n = len(data) if limit is None else min(limit, len(data))
    for k in range(n):
        s = data._fixed(k)
        h, w = s.image.shape[:2]
        images.append({"id": k + 1, "width": w, "height": h, "file_name": f"val_{k}.png"})
        pixels.append(s.image)
        for box, cls in zip(s.boxes.tolist(), s.class_id.tolist(), strict=True):
            x1, y1, x2, y2 = box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": k + 1,
                    "category_id": int(cls) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    names = data.ds.class_names
    categories = [{"id": c + 1, "name": name} for c, name in enumerate(names)]
    return {"images": images, "annotations": annotations, "categories": categories}, pixels


def validate(
    model: nn.Module,
    data: SplitData,
    *,
    limit: int | None = None,
    batch: int = 16,
    conf: float = 0.001,
    iou: float = 0.6,
    max_det: int = 300,
) -> ValMetrics:
    """COCO box AP of ``model`` on (up to ``limit``) validation images.

    Runs through ``TorchModuleDetector``: the same letterbox and decoding as the ONNX
    path, so the numbers carry over to the exported model.
    """
    import warnings

    from tilewise.errors import TilewiseWarning
    from tilewise.evaluation import evaluate

    gt, pixels = ground_truth_of(data, limit)
    if not gt["annotations"]:
        return ValMetrics(float("nan"), float("nan"), float("nan"), len(pixels), 0)
    detector = TorchModuleDetector(
        model,
        data.img_size,
        names=data.ds.class_names,
        conf=conf,
        iou=iou,
        max_det=max_det,
        device=str(next(model.parameters()).device),
    )
    preds: dict[int, Detections] = {}
    for start in range(0, len(pixels), batch):
        chunk = pixels[start : start + batch]
        for j, det in enumerate(detector(chunk)):
            preds[start + j + 1] = det
    n_pred = sum(len(d) for d in preds.values())
    if n_pred == 0:
        return ValMetrics(0.0, 0.0, 0.0, len(pixels), 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TilewiseWarning)
        result = evaluate(
            gt,
            preds,
            max_dets=max(100, max_det),
            class_to_category={c: c + 1 for c in range(len(data.ds.class_names))},
        )
    return ValMetrics(
        ap=result.get("AP"),
        ap50=result.get("AP50"),
        ap_small=result.get("AP", "small"),
        images=len(pixels),
        predictions=n_pred,
    )
