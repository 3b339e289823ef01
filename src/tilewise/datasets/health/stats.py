"""Dataset statistics for the health check (annotations and image sizes only; no pixels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tilewise.datasets.dataset import Dataset

__all__ = ["BoxSizes", "HealthStats", "compute_health", "describe"]

SIZE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("under_2px", 0.0, 2.0),
    ("2-8px", 2.0, 8.0),
    ("8-16px", 8.0, 16.0),
    ("16-32px", 16.0, 32.0),
)
"""AI-TOD tiny buckets on sqrt(area), half-open [min, max)."""

COCO_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("small", 0.0, 32.0),
    ("medium", 32.0, 96.0),
    ("large", 96.0, float("inf")),
)
"""COCO size buckets on sqrt(area), half-open [min, max)."""

HEATMAP_BINS = 24
DUPLICATE_IOU = 0.9


def describe(values: np.ndarray) -> dict[str, float]:
    """Count, min, percentiles, mean and max of an array (zeros when empty).

    Example:
        >>> describe(np.array([1.0, 2.0, 3.0]))["p50"]
        2.0
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {k: 0.0 for k in ("count", "min", "p10", "p50", "mean", "p90", "max")}
    p10, p50, p90 = np.percentile(v, [10, 50, 90])
    return {
        "count": float(v.size),
        "min": float(v.min()),
        "p10": float(p10),
        "p50": float(p50),
        "mean": float(v.mean()),
        "p90": float(p90),
        "max": float(v.max()),
    }


def _buckets(side: np.ndarray, edges: tuple[tuple[str, float, float], ...]) -> dict[str, int]:
    return {name: int(np.sum((side >= lo) & (side < hi))) for name, lo, hi in edges}


@dataclass(frozen=True)
class BoxSizes:
    """Widths, heights, sqrt-areas and aspect ratios (w / h) of the valid boxes, in px.

    Example:
        >>> s = BoxSizes.of(np.array([[0, 0, 4, 2]], dtype=float))
        >>> s.width.tolist(), s.aspect.tolist()
        ([4.0], [2.0])
    """

    width: np.ndarray
    height: np.ndarray

    @classmethod
    def of(cls, boxes: np.ndarray, scale: np.ndarray | float = 1.0) -> BoxSizes:
        """Sizes of xyxy boxes, multiplied by ``scale`` (scalar or per box)."""
        s = np.asarray(scale, dtype=np.float64)
        return cls((boxes[:, 2] - boxes[:, 0]) * s, (boxes[:, 3] - boxes[:, 1]) * s)

    @property
    def side(self) -> np.ndarray:
        """Side length, sqrt(width * height)."""
        return np.sqrt(self.width * self.height)

    @property
    def aspect(self) -> np.ndarray:
        """Aspect ratio, width / height."""
        return self.width / self.height

    @property
    def min_side(self) -> np.ndarray:
        """Shorter side."""
        return np.minimum(self.width, self.height)

    @property
    def max_side(self) -> np.ndarray:
        """Longer side."""
        return np.maximum(self.width, self.height)

    def summary(self) -> dict[str, Any]:
        """Distributions, small-object counts and size buckets.

        Example:
            >>> BoxSizes.of(np.array([[0, 0, 2, 2]], dtype=float)).summary()["under_3px"]
            1
        """
        return {
            "width": describe(self.width),
            "height": describe(self.height),
            "side": describe(self.side),
            "aspect": describe(self.aspect),
            "under_3px": int(np.sum(self.min_side < 3)),
            "under_8px": int(np.sum(self.min_side < 8)),
            "coco": _buckets(self.side, COCO_BUCKETS),
            "tiny": _buckets(self.side, SIZE_BUCKETS),
        }


@dataclass
class HealthStats:
    """Everything the health check measured (see ``compute_health``).

    ``summary`` is JSON-ready; the arrays are kept for the plots.
    """

    summary: dict[str, Any]
    image_wh: np.ndarray
    sizes: BoxSizes
    sizes_at_input: BoxSizes
    class_of_box: np.ndarray
    centres: np.ndarray
    per_image: np.ndarray
    class_names: tuple[str, ...]
    heatmaps: np.ndarray
    recommendation: dict[str, Any] = field(default_factory=dict)


def _duplicates(ds: Dataset, valid: np.ndarray) -> tuple[int, int]:
    """(identical, near-identical) same-class box pairs within an image."""
    from tilewise.boxes import overlapping_pairs, paired_overlap

    identical = near = 0
    for i in np.flatnonzero(ds.counts_per_image() > 1).tolist():
        sl = ds.annotations_of(i)
        rows = np.flatnonzero(valid[sl]) + sl.start
        if rows.size < 2:
            continue
        boxes = ds.boxes[rows]
        pairs = overlapping_pairs(boxes, ds.class_id[rows], class_agnostic=False)
        if pairs.size == 0:
            continue
        a, b = boxes[pairs[:, 0]], boxes[pairs[:, 1]]
        same = np.all(a == b, axis=1)
        identical += int(same.sum())
        near += int(np.sum(~same & (paired_overlap(a, b, "iou") >= DUPLICATE_IOU)))
    return identical, near


def compute_health(ds: Dataset, model_input: int = 640) -> HealthStats:
    """Measure a dataset: images, classes, boxes (native and at the model input), problems.

    "At the model input" means after the whole image is resized so its longer side is
    ``model_input`` (letterboxing, as YOLO trains). Small-object counts use the shorter box
    side (< 3 px, < 8 px, like YOLOv5's warning); COCO and tiny buckets use sqrt(area).

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["a"]); i = b.add_image("x.png", 1280, 640)
        >>> b.add_box(i, [0, 0, 4, 4], 0); b.add_box(i, [0, 0, 4, 4], 0)
        >>> h = compute_health(b.build(), model_input=640)
        >>> h.summary["boxes"]["at_model_input"]["under_3px"], h.summary["problems"]["duplicate"]
        (2, 1)
    """
    n = ds.num_annotations
    w_img = ds.images.width.astype(np.float64)
    h_img = ds.images.height.astype(np.float64)
    b = ds.boxes
    finite = np.all(np.isfinite(b), axis=1)
    degenerate = ~finite | ~((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]))
    iw = w_img[ds.image_index]
    ih = h_img[ds.image_index]
    oob = ~degenerate & ((b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > iw) | (b[:, 3] > ih))
    valid = ~degenerate
    scale = model_input / np.maximum(iw, ih)
    vb = b[valid]
    sizes = BoxSizes.of(vb)
    sizes_in = BoxSizes.of(vb, scale[valid])
    identical, near = _duplicates(ds, valid)

    counts = ds.class_counts()
    img_has = np.zeros((ds.num_images, ds.num_classes), dtype=bool)
    img_has[ds.image_index, ds.class_id] = True
    images_per_class = img_has.sum(axis=0)
    nonzero = counts[counts > 0]
    imbalance = float(nonzero.max() / nonzero.min()) if nonzero.size else 0.0
    per_image = ds.counts_per_image()

    centres = np.stack(
        [(vb[:, 0] + vb[:, 2]) / 2 / iw[valid], (vb[:, 1] + vb[:, 3]) / 2 / ih[valid]], axis=1
    )
    cls_valid = ds.class_id[valid]
    heat = np.zeros((ds.num_classes, HEATMAP_BINS, HEATMAP_BINS), dtype=np.int64)
    cx = np.clip((centres[:, 0] * HEATMAP_BINS).astype(np.int64), 0, HEATMAP_BINS - 1)
    cy = np.clip((centres[:, 1] * HEATMAP_BINS).astype(np.int64), 0, HEATMAP_BINS - 1)
    np.add.at(heat, (cls_valid, cy, cx), 1)

    aspect = w_img / h_img
    sizes_seen, size_counts = np.unique(
        np.stack([ds.images.width, ds.images.height], axis=1), axis=0, return_counts=True
    )
    top = np.argsort(-size_counts, kind="stable")[:5]
    empty = np.flatnonzero(per_image == 0)
    summary: dict[str, Any] = {
        "model_input": int(model_input),
        "images": {
            "count": ds.num_images,
            "width": describe(w_img),
            "height": describe(h_img),
            "aspect": describe(aspect),
            "common_sizes": [
                {
                    "width": int(sizes_seen[k, 0]),
                    "height": int(sizes_seen[k, 1]),
                    "count": int(size_counts[k]),
                }
                for k in top.tolist()
            ],
            "empty": int(empty.size),
            "empty_examples": [str(ds.images.file_name[i]) for i in empty[:10].tolist()],
        },
        "classes": [
            {
                "name": name,
                "instances": int(counts[k]),
                "images": int(images_per_class[k]),
                "share": float(counts[k] / n) if n else 0.0,
            }
            for k, name in enumerate(ds.class_names)
        ],
        "imbalance_ratio": imbalance,
        "classes_without_instances": [
            name for k, name in enumerate(ds.class_names) if counts[k] == 0
        ],
        "instances": {
            "total": n,
            "per_image": describe(per_image.astype(np.float64)),
        },
        "boxes": {
            "native": sizes.summary(),
            "at_model_input": sizes_in.summary(),
        },
        "problems": {
            "degenerate": int(degenerate.sum()),
            "out_of_bounds": int(oob.sum()),
            "duplicate": identical,
            "near_duplicate": near,
            "reader_issues": len(ds.issues),
        },
    }
    return HealthStats(
        summary=summary,
        image_wh=np.stack([w_img, h_img], axis=1),
        sizes=sizes,
        sizes_at_input=sizes_in,
        class_of_box=cls_valid,
        centres=centres,
        per_image=per_image,
        class_names=ds.class_names,
        heatmaps=heat,
    )
