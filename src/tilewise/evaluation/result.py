"""The typed result of a COCO evaluation, with table, markdown and JSON renderings.

Metric names say which detection cap they were computed at: ``AP@100`` is COCO's AP with
at most 100 detections per image, ``AP@300`` the same with 300. Size-bucket metrics carry
the bucket: ``AP_small@100``, ``AR_2-8px@300``. ``AR@1`` and ``AR@10`` are always
reported. Undefined values (no ground truth in that slice, COCO's ``-1``) are ``nan``
here, ``null`` in JSON and ``-`` in tables.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.evaluation.buckets import ALL_RANGE, AreaRange
from tilewise.evaluation.coco import IouType, SkipReason, SkipReport
from tilewise.evaluation.tables import markdown_table, text_table
from tilewise.fileio import atomic_write_json, atomic_write_text

__all__ = ["ClassMetrics", "EvaluationResult", "stat_key"]

AP_METRICS = ("AP", "AP50", "AP75")
AR_METRICS = ("AR", "AR50", "AR75")


def stat_key(metric: str, area: str = "all", max_dets: int = 100) -> str:
    """The name of one summary number, e.g. ``AP_small@100``.

    Example:
        >>> stat_key("AP"), stat_key("AR", "2-8px", 300)
        ('AP@100', 'AR_2-8px@300')
    """
    suffix = "" if area == ALL_RANGE.name else f"_{area}"
    return f"{metric}{suffix}@{max_dets}"


def _json_float(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _from_json_float(value: float | None) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class ClassMetrics:
    """Per-category results at the primary detection cap.

    Attributes:
        category_id: COCO category id.
        name: category name.
        num_gt: non-crowd ground-truth objects.
        num_predictions: predictions of this category.
        ap: AP at IoU .50:.95 (``nan`` without ground truth).
        ap50: AP at IoU .50.
        ap75: AP at IoU .75.
        ar: AR at IoU .50:.95.
    """

    category_id: int
    name: str
    num_gt: int
    num_predictions: int
    ap: float
    ap50: float
    ap75: float
    ar: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``nan`` as ``None``)."""
        return {
            "category_id": self.category_id,
            "name": self.name,
            "num_gt": self.num_gt,
            "num_predictions": self.num_predictions,
            "AP": _json_float(self.ap),
            "AP50": _json_float(self.ap50),
            "AP75": _json_float(self.ap75),
            "AR": _json_float(self.ar),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClassMetrics:
        """Inverse of ``to_dict``."""
        return cls(
            category_id=int(d["category_id"]),
            name=str(d["name"]),
            num_gt=int(d["num_gt"]),
            num_predictions=int(d["num_predictions"]),
            ap=_from_json_float(d["AP"]),
            ap50=_from_json_float(d["AP50"]),
            ap75=_from_json_float(d["AP75"]),
            ar=_from_json_float(d["AR"]),
        )


@dataclass(frozen=True)
class EvaluationResult:
    """COCO metrics of one prediction set against one ground truth.

    Attributes:
        iou_type: ``bbox`` or ``segm``.
        max_dets: the detection caps metrics are reported at; the first is the primary
            cap (per-class table, ``coco_stats``, plots).
        area_ranges: the size buckets, ``all`` first.
        stats: flat metric name (see ``stat_key``) to value.
        per_class: per-category metrics at the primary cap.
        num_images: images in the ground truth.
        num_gt: non-crowd ground-truth objects.
        num_crowd: crowd regions (ignored, as in COCO).
        num_predictions: predictions evaluated (after skips).
        skipped: predictions left out and why.
        notes: other things worth knowing (filled fields, empty predictions).
        eval_max_dets: the caps along the last axis of ``precision``/``recall``
            (``max_dets`` plus 1 and 10).
        category_ids: categories along the K axis.
        iou_thresholds: the T axis.
        recall_thresholds: the R axis.
        precision: COCO's accumulated precision, shape (T, R, K, A, M), -1 where
            undefined; ``None`` when loaded from JSON.
        recall: COCO's recall, shape (T, K, A, M).
    """

    iou_type: IouType
    max_dets: tuple[int, ...]
    area_ranges: tuple[AreaRange, ...]
    stats: Mapping[str, float]
    per_class: tuple[ClassMetrics, ...]
    num_images: int
    num_gt: int
    num_crowd: int
    num_predictions: int
    skipped: SkipReport = field(default_factory=SkipReport)
    notes: tuple[str, ...] = ()
    eval_max_dets: tuple[int, ...] = ()
    category_ids: tuple[int, ...] = ()
    iou_thresholds: np.ndarray | None = field(default=None, repr=False, compare=False)
    recall_thresholds: np.ndarray | None = field(default=None, repr=False, compare=False)
    precision: np.ndarray | None = field(default=None, repr=False, compare=False)
    recall: np.ndarray | None = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ access
    @property
    def primary_max_dets(self) -> int:
        """The primary detection cap (the first of ``max_dets``)."""
        return self.max_dets[0]

    def get(self, metric: str = "AP", area: str = "all", max_dets: int | None = None) -> float:
        """One summary number, e.g. ``get("AP", "small")`` at the primary cap.

        Raises:
            TilewiseError: no such metric in this result.
        """
        cap = self.primary_max_dets if max_dets is None else max_dets
        key = stat_key(metric, area, cap)
        if key not in self.stats:
            raise TilewiseError(f"no metric {key!r}; available: {', '.join(self.stats)}")
        return self.stats[key]

    def coco_stats(self) -> np.ndarray:
        """The 12 standard COCO numbers in pycocotools' order (``-1`` when undefined).

        AP, AP50, AP75, AP_small, AP_medium, AP_large at the primary cap, AR@1, AR@10,
        AR at the primary cap, AR_small, AR_medium, AR_large at the primary cap: with
        the default primary cap of 100 this equals pycocotools' ``COCOeval.stats``.

        Raises:
            TilewiseError: the COCO small/medium/large ranges were not evaluated.
        """
        m = self.primary_max_dets
        names = [r.name for r in self.area_ranges]
        if not {"small", "medium", "large"} <= set(names):
            raise TilewiseError("coco_stats needs the COCO small/medium/large area ranges")
        keys = [stat_key(k, "all", m) for k in AP_METRICS]
        keys += [stat_key("AP", a, m) for a in ("small", "medium", "large")]
        keys += ["AR@1", "AR@10", stat_key("AR", "all", m)]
        keys += [stat_key("AR", a, m) for a in ("small", "medium", "large")]
        return np.array([-1.0 if math.isnan(self.stats[k]) else self.stats[k] for k in keys])

    def pr_curve(
        self, iou: float = 0.5, area: str = "all", max_dets: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Class-averaged precision at COCO's 101 recall points for one IoU threshold.

        Returns:
            ``(recall, precision)``; precision is ``nan`` where no class has a value.

        Raises:
            TilewiseError: the result carries no arrays (loaded from JSON) or the IoU
                threshold is not one of the evaluated ones.
        """
        if self.precision is None or self.iou_thresholds is None:
            raise TilewiseError("this result has no precision arrays (loaded from JSON?)")
        t = np.flatnonzero(np.isclose(self.iou_thresholds, iou))
        if t.size == 0:
            raise TilewiseError(f"IoU {iou} is not one of {self.iou_thresholds.tolist()}")
        a = [r.name for r in self.area_ranges].index(area)
        m = self.eval_max_dets.index(self.primary_max_dets if max_dets is None else max_dets)
        p = self.precision[t[0], :, :, a, m]  # (R, K)
        valid = p > -1
        n = valid.sum(axis=1)
        total = np.where(valid, p, 0.0).sum(axis=1)
        mean = np.full(p.shape[0], np.nan)
        np.divide(total, n, out=mean, where=n > 0)
        assert self.recall_thresholds is not None
        return self.recall_thresholds.copy(), mean

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays are not included).

        Example:
            >>> from tilewise.evaluation import evaluate
            >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "dot"}],
            ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
            ...                        "bbox": [0, 0, 8, 8]}]}
            >>> res = evaluate(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 8, 8],
            ...                      "score": 0.9}])
            >>> d = res.to_dict()
            >>> d["stats"]["AP@100"], d["stats"]["AP_large@100"]
            (1.0, None)
            >>> EvaluationResult.from_dict(d).to_dict() == d
            True
        """
        return {
            "iou_type": self.iou_type.value,
            "max_dets": list(self.max_dets),
            "area_ranges": [
                {
                    "name": r.name,
                    "min_side": r.min_side,
                    "max_side": None if math.isinf(r.max_side) else r.max_side,
                }
                for r in self.area_ranges
            ],
            "stats": {k: _json_float(v) for k, v in self.stats.items()},
            "per_class": [c.to_dict() for c in self.per_class],
            "num_images": self.num_images,
            "num_gt": self.num_gt,
            "num_crowd": self.num_crowd,
            "num_predictions": self.num_predictions,
            "skipped": self.skipped.to_dict(),
            "notes": list(self.notes),
            "eval_max_dets": list(self.eval_max_dets),
            "category_ids": list(self.category_ids),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvaluationResult:
        """Rebuild a result (without the precision/recall arrays) from ``to_dict``."""
        skipped = d.get("skipped", {})
        return cls(
            iou_type=IouType.parse(d["iou_type"]),
            max_dets=tuple(int(m) for m in d["max_dets"]),
            area_ranges=tuple(
                AreaRange(
                    r["name"],
                    r["min_side"],
                    math.inf if r["max_side"] is None else r["max_side"],
                )
                for r in d["area_ranges"]
            ),
            stats={k: _from_json_float(v) for k, v in d["stats"].items()},
            per_class=tuple(ClassMetrics.from_dict(c) for c in d["per_class"]),
            num_images=int(d["num_images"]),
            num_gt=int(d["num_gt"]),
            num_crowd=int(d["num_crowd"]),
            num_predictions=int(d["num_predictions"]),
            skipped=SkipReport(
                total=int(skipped.get("total", 0)),
                counts={SkipReason(k): int(v) for k, v in skipped.get("counts", {}).items()},
                examples={SkipReason(k): tuple(v) for k, v in skipped.get("examples", {}).items()},
            ),
            notes=tuple(d.get("notes", ())),
            eval_max_dets=tuple(int(m) for m in d.get("eval_max_dets", ())),
            category_ids=tuple(int(c) for c in d.get("category_ids", ())),
        )

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write ``to_dict()`` as JSON, atomically."""
        return atomic_write_json(path, self.to_dict())

    def write_markdown(self, path: str | os.PathLike[str]) -> Path:
        """Write ``to_markdown()``, atomically."""
        return atomic_write_text(path, self.to_markdown() + "\n")

    # ------------------------------------------------------------------ rendering
    def _summary_rows(self) -> tuple[list[str], list[list[Any]]]:
        headers = ["metric", *(f"maxDets={m}" for m in self.max_dets)]
        rows: list[list[Any]] = []
        for group in (AP_METRICS, AR_METRICS):
            for metric in group:
                rows.append(
                    [metric, *(self.stats[stat_key(metric, "all", m)] for m in self.max_dets)]
                )
            for r in self.area_ranges[1:]:
                rows.append(
                    [
                        f"{group[0]}_{r.name} ({r.describe()})",
                        *(self.stats[stat_key(group[0], r.name, m)] for m in self.max_dets),
                    ]
                )
        return headers, rows

    def _class_rows(self) -> tuple[list[str], list[list[Any]]]:
        headers = ["id", "class", "GT", "pred", "AP", "AP50", "AP75", "AR"]
        rows = [
            [c.category_id, c.name, c.num_gt, c.num_predictions, c.ap, c.ap50, c.ap75, c.ar]
            for c in self.per_class
        ]
        return headers, rows

    def _header_line(self) -> str:
        crowd = f" (+{self.num_crowd} crowd)" if self.num_crowd else ""
        return (
            f"COCO {self.iou_type.value} evaluation: {self.num_images} images, "
            f"{self.num_gt} objects{crowd}, {self.num_predictions} predictions"
        )

    def _ar_small_caps(self) -> str:
        caps = [m for m in self.eval_max_dets if m not in self.max_dets]
        return "   ".join(f"AR@{m} = {self.stats[f'AR@{m}']:.3f}" for m in caps)

    def _footer(self) -> list[str]:
        lines = []
        if self.skipped.skipped:
            lines.append(self.skipped.summary())
        lines.extend(f"note: {n}" for n in self.notes)
        lines.append("'-': undefined (no ground truth in that slice)")
        return lines

    def table(self, *, per_class: bool = True) -> str:
        """The terminal report: summary metrics per cap, then per-class metrics.

        Example:
            >>> from tilewise.evaluation import evaluate
            >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "dot"}],
            ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
            ...                        "bbox": [0, 0, 8, 8]}]}
            >>> res = evaluate(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 8, 8],
            ...                      "score": 0.9}], max_dets=[100])
            >>> print(res.table().splitlines()[0])
            COCO bbox evaluation: 1 images, 1 objects, 1 predictions
        """
        headers, rows = self._summary_rows()
        parts = [self._header_line(), "", text_table(headers, rows)]
        extra = self._ar_small_caps()
        if extra:
            parts += ["", extra]
        if per_class and self.per_class:
            h, r = self._class_rows()
            parts += ["", text_table(h, r, title=f"per class (maxDets={self.primary_max_dets})")]
        parts += ["", *self._footer()]
        return "\n".join(parts)

    def to_markdown(self, *, per_class: bool = True, title: str | None = None) -> str:
        """The report as markdown (summary table, AR@1/10, per-class table, notes)."""
        headers, rows = self._summary_rows()
        parts = [f"### {title}" if title else f"### {self._header_line()}", ""]
        if title:
            parts += [self._header_line(), ""]
        parts.append(markdown_table(headers, rows))
        extra = self._ar_small_caps()
        if extra:
            parts += ["", extra]
        if per_class and self.per_class:
            h, r = self._class_rows()
            parts += ["", f"Per class (maxDets={self.primary_max_dets}):", "", markdown_table(h, r)]
        parts += ["", *(f"- {line}" for line in self._footer())]
        return "\n".join(parts)


def summarise_classes(
    category_ids: Sequence[int],
    names: Mapping[int, str],
    num_gt: Mapping[int, int],
    num_pred: Mapping[int, int],
    values: Mapping[int, tuple[float, float, float, float]],
) -> tuple[ClassMetrics, ...]:
    """Build the per-class rows from ``(ap, ap50, ap75, ar)`` per category id."""
    return tuple(
        ClassMetrics(
            category_id=c,
            name=names[c],
            num_gt=num_gt.get(c, 0),
            num_predictions=num_pred.get(c, 0),
            ap=values[c][0],
            ap50=values[c][1],
            ap75=values[c][2],
            ar=values[c][3],
        )
        for c in category_ids
    )
