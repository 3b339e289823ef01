"""Full-frame vs sliced inference with one model, timed and scored against ground truth."""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tilewise.detections import Detections
from tilewise.errors import TilewiseError, TilewiseWarning
from tilewise.slicing import Slicer

__all__ = ["ModeComparison", "ModeSummary", "category_mapping", "compare_modes"]

_HEADLINE = (("AP", "all"), ("AP50", "all"), ("AP", "small"), ("AR", "all"))


def category_mapping(model_names: Sequence[str], categories: Mapping[int, str]) -> dict[int, int]:
    """Model class id to ground-truth category id: by name, else by order if counts match.

    Raises:
        TilewiseError: the class counts differ and the names do not all match.

    Example:
        >>> category_mapping(["car", "bus"], {3: "bus", 1: "car"})
        {0: 1, 1: 3}
        >>> category_mapping(["a", "b"], {1: "x", 2: "y"})
        {0: 1, 1: 2}
    """
    by_name = {name: cid for cid, name in categories.items()}
    if all(n in by_name for n in model_names):
        return {i: by_name[n] for i, n in enumerate(model_names)}
    if len(model_names) == len(categories):
        return dict(enumerate(sorted(categories)))
    raise TilewiseError(
        f"the model predicts {len(model_names)} classes {list(model_names)[:8]} but the ground "
        f"truth has {len(categories)} categories {list(categories.values())[:8]}; expected the "
        "same classes (matching names, or the same count in category-id order)"
    )


@dataclass(frozen=True)
class ModeSummary:
    """One way of running the model over the images.

    Attributes:
        name: ``"full_frame"`` or ``"sliced"``.
        detections: detections output over all images.
        model_images: images the model saw (slices, or whole frames).
        seconds: wall time over all images (loading excluded).
        metrics: headline COCO numbers (``AP``, ``AP50``, ``AP_small``, ``AR``) or empty.
    """

    name: str
    detections: int
    model_images: int
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``nan`` as None)."""
        return {
            "name": self.name,
            "detections": self.detections,
            "model_images": self.model_images,
            "seconds": round(self.seconds, 4),
            "model_images_per_s": round(self.model_images / max(self.seconds, 1e-9), 2),
            "metrics": {k: None if math.isnan(v) else round(v, 5) for k, v in self.metrics.items()},
        }


@dataclass
class ModeComparison:
    """Full-frame and sliced results side by side.

    Attributes:
        modes: by name.
        images: images evaluated.
        ground_truth_objects: non-crowd ground-truth objects.
        slice_wh: the slice size.
        overlap: the slice overlap.
        predictions: per mode, per image id, the detections (not serialised).
    """

    modes: dict[str, ModeSummary]
    images: int
    ground_truth_objects: int
    slice_wh: tuple[int, int]
    overlap: float
    predictions: dict[str, dict[int, Detections]] = field(default_factory=dict, repr=False)

    def ratio(self, metric: str = "AP_small") -> float:
        """Sliced over full-frame value of a metric (``inf`` when full-frame is 0).

        Example:
            >>> c = ModeComparison({"full_frame": ModeSummary("full_frame", 1, 1, 1.0,
            ...     {"AP_small": 0.1}), "sliced": ModeSummary("sliced", 5, 9, 2.0,
            ...     {"AP_small": 0.4})}, 1, 10, (320, 320), 0.2)
            >>> c.ratio()
            4.0
        """
        full = self.modes["full_frame"].metrics.get(metric, math.nan)
        sliced = self.modes["sliced"].metrics.get(metric, math.nan)
        if full == 0:
            return math.inf if sliced > 0 else math.nan
        return sliced / full

    def text(self) -> str:
        """A small table for the terminal."""
        keys = [k for k in ("AP", "AP50", "AP_small", "AR") if k in self.modes["sliced"].metrics]
        head = f"{'mode':<11}{'detections':>11}{'model imgs':>11}{'seconds':>9}" + "".join(
            f"{k:>10}" for k in keys
        )
        lines = [head]
        for m in self.modes.values():
            vals = "".join(f"{m.metrics.get(k, math.nan):>10.4f}" for k in keys)
            lines.append(
                f"{m.name:<11}{m.detections:>11}{m.model_images:>11}{m.seconds:>9.2f}{vals}"
            )
        if keys:
            full, sliced = self.modes["full_frame"].metrics, self.modes["sliced"].metrics
            lines.append(
                f"sliced vs full-frame: AP_small {sliced.get('AP_small', math.nan):.4f} vs "
                f"{full.get('AP_small', math.nan):.4f} (x{self.ratio('AP_small'):.1f}), AP50 "
                f"{sliced.get('AP50', math.nan):.4f} vs {full.get('AP50', math.nan):.4f} "
                f"({self.images} image(s), "
                f"{self.ground_truth_objects} objects, slices {self.slice_wh[0]}x"
                f"{self.slice_wh[1]}, overlap {self.overlap})"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        ratio = self.ratio("AP_small")
        return {
            "images": self.images,
            "ground_truth_objects": self.ground_truth_objects,
            "slice_wh": list(self.slice_wh),
            "overlap": self.overlap,
            "modes": {k: v.to_dict() for k, v in self.modes.items()},
            "ap_small_ratio": None if math.isnan(ratio) or math.isinf(ratio) else round(ratio, 3),
        }


def _metrics(gt: Any, preds: dict[int, Detections], mapping: dict[int, int], cap: int) -> dict:
    from tilewise.evaluation import evaluate

    if not any(len(d) for d in preds.values()):
        return {"AP": 0.0, "AP50": 0.0, "AP_small": 0.0, "AR": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TilewiseWarning)
        res = evaluate(gt, preds, max_dets=(cap,), class_to_category=mapping)
    out = {}
    for metric, area in _HEADLINE:
        key = metric if area == "all" else f"{metric}_{area}"
        out[key] = res.get(metric, area)
    return out


def compare_modes(
    model: Any,
    ground_truth: str | os.PathLike[str] | Mapping[str, Any],
    images: str | os.PathLike[str] | Mapping[int, Any],
    *,
    slice_wh: int | tuple[int, int] | None = None,
    overlap: float = 0.2,
    batch_size: int = 8,
    merge: str = "nms",
    threshold: float = 0.5,
    metric: str = "iou",
    class_agnostic: bool = False,
    edge_margin: float | None = None,
    max_dets: int = 1000,
    evaluate_metrics: bool = True,
) -> ModeComparison:
    """Run ``model`` on every ground-truth image whole and sliced; time and score both.

    Args:
        model: a batch model with ``names`` (e.g. ``OnnxDetector``).
        ground_truth: COCO ground truth (path or dict).
        images: the image directory (``file_name`` relative to it) or id -> RGB array.
        slice_wh: slice size (default: the model's ``slice_wh``, its training tile size).
        overlap: slice overlap ratio.
        batch_size: slices per model call.
        merge: merge method of the slicer.
        threshold: merge threshold.
        metric: merge overlap metric, ``"iou"`` or ``"ios"``.
        class_agnostic: merge duplicates across classes.
        edge_margin: drop slice detections this close to an inner slice edge (px).
        max_dets: COCO detection cap per image (scenes hold hundreds of objects).
        evaluate_metrics: compute COCO metrics (else timings and counts only).

    Raises:
        TilewiseError: bad ground truth, missing images, or model classes that do not match
            the ground-truth categories.
    """
    from tilewise.evaluation import EvalDataset, load_ground_truth

    gt = load_ground_truth(ground_truth)
    names = getattr(model, "names", None)
    if names is None:
        raise TilewiseError("the model must expose its class names (.names)")
    mapping = category_mapping(list(names), gt.categories)
    if isinstance(images, Mapping):
        ds = EvalDataset.from_arrays(gt, images)
    else:
        ds = EvalDataset.from_coco(gt, images)
    size = slice_wh if slice_wh is not None else getattr(model, "slice_wh", 640)
    wh = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    slicer = Slicer(
        model,
        slice_wh=wh,
        overlap=overlap,
        batch_size=batch_size,
        merge=merge,
        threshold=threshold,
        metric=metric,
        class_agnostic=class_agnostic,
        edge_margin=edge_margin,
    )
    preds: dict[str, dict[int, Detections]] = {"full_frame": {}, "sliced": {}}
    seconds = {"full_frame": 0.0, "sliced": 0.0}
    model_images = {"full_frame": 0, "sliced": 0}
    for image_id, image in ds:
        t0 = time.perf_counter()
        preds["full_frame"][image_id] = model([image])[0]
        seconds["full_frame"] += time.perf_counter() - t0
        model_images["full_frame"] += 1
        t0 = time.perf_counter()
        run = slicer.run(image)
        seconds["sliced"] += time.perf_counter() - t0
        preds["sliced"][image_id] = run.detections
        model_images["sliced"] += run.report.slices
    n_gt = sum(1 for a in gt.dataset["annotations"] if not a.get("iscrowd"))
    modes = {}
    for name in ("full_frame", "sliced"):
        metrics = _metrics(gt, preds[name], mapping, max_dets) if evaluate_metrics else {}
        modes[name] = ModeSummary(
            name,
            sum(len(d) for d in preds[name].values()),
            model_images[name],
            seconds[name],
            metrics,
        )
    return ModeComparison(modes, len(ds), n_gt, wh, overlap, preds)
