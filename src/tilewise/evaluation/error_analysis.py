"""TIDE-style error analysis per object-size bucket.

This splits every false positive and every missed object into one error type, following
TIDE (Bolya et al., "TIDE: A General Toolbox for Identifying Object Detection Errors",
ECCV 2020), and counts them per size bucket. It answers the question slicing raises:
did it recover small objects (fewer *missed*) or create *duplicates* at slice seams?

Definitions. Predictions below ``score_threshold`` are dropped; of the rest at most
``max_dets`` per image and class are kept, highest scores first (as in COCO). Each image's
predictions and objects then get TIDE's outcomes (``tilewise.evaluation.tide_rules``:
true positive, ``cls``, ``loc``, ``both``, ``dupe``, ``bkg``, ignored on a crowd region;
matched, ``missed`` or covered), with the foreground IoU threshold ``t_f`` (default 0.5)
and the background threshold ``t_b`` (default 0.1).

Size buckets. A true positive, missed or covered object counts in the buckets of the
ground-truth object's area. A ``loc``, ``cls``, ``dupe`` or ``both`` error counts in the
buckets of its target object (the largest-IoU one used in its test), as COCO judges a
detection by the object it overlaps; a ``bkg`` error has no object and counts in the
buckets of its own area (box area for ``bbox``, mask area for ``segm``). Buckets are the
closed ranges of ``tilewise.evaluation.buckets`` and may overlap.

What to fix. Beside the counts, each bucket reports AP at ``t_f`` and ``dAP``, the AP
gained if every error of one type were fixed by TIDE's oracle for that type, measured with
``evaluate`` on the fixed predictions (``tilewise.evaluation.tide_fixes``); ``fixes=False``
skips these 8 extra evaluations. The AP/AR of an evaluation always come from ``evaluate``
(COCO's matching through faster-coco-eval, averaged over IoU .50:.95); counts and dAP here
are at the single IoU threshold ``t_f``.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.evaluation.buckets import ALL_RANGE, COCO_AREA_RANGES, AreaRange
from tilewise.evaluation.coco import (
    GroundTruthSource,
    IouType,
    PredictionSource,
    SkipReport,
    load_ground_truth,
    load_predictions,
)
from tilewise.evaluation.tables import markdown_table, text_table
from tilewise.evaluation.tide_fixes import FixImpact, ImageCase, fix_impact
from tilewise.evaluation.tide_rules import (
    PRED_TO_ERROR,
    ErrorType,
    GtOutcome,
    ImageAssignment,
    PredOutcome,
    assign_image,
)
from tilewise.fileio import atomic_write_json, atomic_write_text

__all__ = [
    "BucketErrors",
    "ErrorAnalysis",
    "ErrorType",
    "GtOutcome",
    "ImageAssignment",
    "PredOutcome",
    "analyze_errors",
    "assign_image",
]


@dataclass(frozen=True)
class BucketErrors:
    """Counts for one size bucket.

    Attributes:
        area_range: the bucket.
        num_gt: non-crowd objects in the bucket.
        true_positives: matched objects in the bucket.
        covered: unmatched objects that are the target of a ``loc``/``cls`` error.
        errors: count per error type.
        ap: AP at ``t_f`` of the analysed predictions (NaN: no object, or not measured).
        delta_ap: AP gained at ``t_f`` if every error of a type were fixed (empty when
            not measured; NaN where undefined).
        ap_all_fixed: AP at ``t_f`` with every error fixed (1 wherever defined).
    """

    area_range: AreaRange
    num_gt: int
    true_positives: int
    covered: int
    errors: Mapping[ErrorType, int]
    ap: float = math.nan
    delta_ap: Mapping[ErrorType, float] = field(default_factory=dict)
    ap_all_fixed: float = math.nan

    @property
    def false_positives(self) -> int:
        """Predictions counted in this bucket that are errors (all types but missed)."""
        return sum(n for t, n in self.errors.items() if t is not ErrorType.MISSED)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "bucket": self.area_range.name,
            "range": self.area_range.describe(),
            "num_gt": self.num_gt,
            "true_positives": self.true_positives,
            "covered": self.covered,
            "errors": {t.value: int(self.errors.get(t, 0)) for t in ErrorType},
            "ap": _json_float(self.ap),
            "delta_ap": (
                {t.value: _json_float(self.delta_ap[t]) for t in ErrorType}
                if self.delta_ap
                else None
            ),
            "ap_all_fixed": _json_float(self.ap_all_fixed),
            "fix_first": None if self.fix_first is None else self.fix_first.value,
        }

    @property
    def fix_first(self) -> ErrorType | None:
        """The error type whose fix gains the most AP here (None: no gain, or not measured).

        Ties go to the first type in ``ErrorType`` order.

        Example:
            >>> from tilewise.evaluation.buckets import ALL_RANGE
            >>> b = BucketErrors(ALL_RANGE, 2, 1, 0, {}, 0.5,
            ...                  {ErrorType.LOC: 0.1, ErrorType.MISSED: 0.25}, 1.0)
            >>> b.fix_first
            <ErrorType.MISSED: 'missed'>
        """
        best: ErrorType | None = None
        for t in ErrorType:
            value = self.delta_ap.get(t, math.nan)
            if value > 1e-12 and (best is None or value > self.delta_ap[best]):
                best = t
        return best


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


@dataclass(frozen=True)
class ErrorAnalysis:
    """TIDE-style error counts per size bucket.

    Attributes:
        iou_type: ``bbox`` or ``segm``.
        buckets: one ``BucketErrors`` per size bucket, ``all`` first.
        fg_iou: ``t_f``.
        bg_iou: ``t_b``.
        max_dets: predictions kept per image and class.
        score_threshold: predictions below it are dropped before matching.
        num_predictions: predictions analysed (after the threshold and cap).
        num_ignored: predictions ignored on crowd regions.
        skipped: predictions left out at loading.
        impact: AP at ``t_f`` before and after each error type's oracle fix, per bucket
            (``None`` when not measured); also copied into each bucket's ``ap``,
            ``delta_ap`` and ``ap_all_fixed``.
    """

    iou_type: IouType
    buckets: tuple[BucketErrors, ...]
    fg_iou: float
    bg_iou: float
    max_dets: int
    score_threshold: float
    num_predictions: int
    num_ignored: int
    skipped: SkipReport = field(default_factory=SkipReport)
    impact: FixImpact | None = field(default=None, repr=False, compare=False)

    def bucket(self, name: str = "all") -> BucketErrors:
        """The counts of one bucket by name.

        Raises:
            TilewiseError: no such bucket.
        """
        for b in self.buckets:
            if b.area_range.name == name:
                return b
        raise TilewiseError(f"no bucket {name!r}; have {[b.area_range.name for b in self.buckets]}")

    def counts(self, name: str = "all") -> dict[ErrorType, int]:
        """Error counts of one bucket, every type present (zeros included)."""
        b = self.bucket(name)
        return {t: int(b.errors.get(t, 0)) for t in ErrorType}

    @property
    def ap_label(self) -> str:
        """Name of AP at ``t_f``, e.g. ``'AP50'``."""
        return f"AP{self.fg_iou * 100:g}"

    def delta_ap(self, name: str = "all") -> dict[ErrorType, float]:
        """AP at ``t_f`` gained in one bucket if every error of a type were fixed.

        Raises:
            TilewiseError: no such bucket, or the analysis ran with ``fixes=False``.
        """
        b = self.bucket(name)
        if not b.delta_ap:
            raise TilewiseError("dAP was not measured: analyze_errors(..., fixes=True)")
        return {t: float(b.delta_ap[t]) for t in ErrorType}

    def column_headers(self) -> list[str]:
        """Headers of one bucket's cells (``bucket_cells``): counts, then AP and dAP."""
        headers = ["GT", "TP", *(t.label for t in ErrorType)]
        if self.impact is not None:
            headers += [self.ap_label, *(f"d{t.label}" for t in ErrorType)]
        return headers

    def bucket_cells(self, b: BucketErrors) -> list[Any]:
        """One bucket's table cells, in the order of ``column_headers``."""
        cells: list[Any] = [
            b.num_gt,
            b.true_positives,
            *(int(b.errors.get(t, 0)) for t in ErrorType),
        ]
        if self.impact is not None:
            cells += [b.ap, *(b.delta_ap.get(t, math.nan) for t in ErrorType)]
        return cells

    def legend(self) -> str:
        """One line saying what the AP and dAP columns are ("" without them)."""
        if self.impact is None:
            return ""
        return (
            f"{self.ap_label}: AP at IoU {self.fg_iou:g} of these predictions; dX: {self.ap_label} "
            "gained if every X error were fixed (TIDE's oracle; - where undefined)"
        )

    def advice(self) -> str:
        """One line naming, per bucket, the error type whose fix gains the most AP.

        "" when dAP was not measured.

        Example:
            >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1}],
            ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
            ...                        "bbox": [0, 0, 10, 10]}]}
            >>> preds = [{"image_id": 1, "category_id": 1, "bbox": [5, 0, 10, 10], "score": 0.9}]
            >>> analyze_errors(gt, preds, area_ranges=[]).advice()
            'Fix first (largest dAP50): all: Loc +1.000'
        """
        if self.impact is None:
            return ""
        items = [
            f"{b.area_range.name}: {b.fix_first.label} +{b.delta_ap[b.fix_first]:.3f}"
            for b in self.buckets
            if b.fix_first is not None
        ]
        if not items:
            return f"Fix first: nothing - fixing any one error type gains no {self.ap_label}"
        return f"Fix first (largest d{self.ap_label}): " + "; ".join(items)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "iou_type": self.iou_type.value,
            "fg_iou": self.fg_iou,
            "bg_iou": self.bg_iou,
            "max_dets": self.max_dets,
            "score_threshold": self.score_threshold,
            "num_predictions": self.num_predictions,
            "num_ignored": self.num_ignored,
            "skipped": self.skipped.to_dict(),
            "buckets": [b.to_dict() for b in self.buckets],
        }

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write ``to_dict()`` as JSON, atomically."""
        return atomic_write_json(path, self.to_dict())

    def write_markdown(self, path: str | os.PathLike[str]) -> Path:
        """Write ``to_markdown()``, atomically."""
        return atomic_write_text(path, self.to_markdown() + "\n")

    def _rows(self) -> tuple[list[str], list[list[Any]]]:
        headers = ["bucket", *self.column_headers()]
        rows = [
            [f"{b.area_range.name} ({b.area_range.describe()})", *self.bucket_cells(b)]
            for b in self.buckets
        ]
        return headers, rows

    def _caption(self) -> str:
        caption = (
            f"TIDE-style errors ({self.iou_type.value}, t_f={self.fg_iou:g}, "
            f"t_b={self.bg_iou:g}, maxDets={self.max_dets}, score>={self.score_threshold:g}): "
            f"{self.num_predictions} predictions, {self.num_ignored} ignored on crowd regions"
        )
        legend = self.legend()
        return f"{caption}\n{legend}" if legend else caption

    def table(self) -> str:
        """Terminal table: one row per bucket, one column per error type.

        Example:
            >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1}],
            ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
            ...                        "bbox": [0, 0, 10, 10]}]}
            >>> preds = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
            ...          {"image_id": 1, "category_id": 1, "bbox": [1, 0, 10, 10], "score": 0.5}]
            >>> analysis = analyze_errors(gt, preds, area_ranges=[], fixes=False)
            >>> for line in analysis.table().splitlines()[2:]:
            ...     print(line)
            bucket       GT  TP  Cls  Loc  Both  Dupe  Bkg  Missed
            -----------  --  --  ---  ---  ----  ----  ---  ------
            all (0+ px)   1   1    0    0     0     1    0       0
            >>> analyze_errors(gt, preds, area_ranges=[]).table().splitlines()[3].split()[-7:]
            ['AP50', 'dCls', 'dLoc', 'dBoth', 'dDupe', 'dBkg', 'dMissed']
        """
        headers, rows = self._rows()
        lines = [self._caption(), "", text_table(headers, rows)]
        if self.advice():
            lines += ["", self.advice()]
        if self.skipped.skipped:
            lines += ["", self.skipped.summary()]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """Markdown table with a caption line."""
        headers, rows = self._rows()
        parts = [self._caption(), "", markdown_table(headers, rows)]
        if self.advice():
            parts += ["", self.advice()]
        return "\n".join(parts)


def _xywh_iou(pred: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """(D, G) IoU of xywh boxes; crowd columns use intersection over the prediction area."""
    p = pred.reshape(-1, 4).astype(np.float64)
    g = gt.reshape(-1, 4).astype(np.float64)
    px2, py2 = p[:, 0] + p[:, 2], p[:, 1] + p[:, 3]
    gx2, gy2 = g[:, 0] + g[:, 2], g[:, 1] + g[:, 3]
    iw = np.minimum(px2[:, None], gx2[None, :]) - np.maximum(p[:, 0:1], g[None, :, 0])
    ih = np.minimum(py2[:, None], gy2[None, :]) - np.maximum(p[:, 1:2], g[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    pa = (p[:, 2] * p[:, 3])[:, None]
    ga = (g[:, 2] * g[:, 3])[None, :]
    union = np.where(crowd[None, :], pa, pa + ga - inter)
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def _rle(segmentation: Any, height: int, width: int) -> Any:
    from faster_coco_eval.core import mask as mask_utils

    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    if isinstance(segmentation, Mapping) and isinstance(segmentation.get("counts"), list):
        return mask_utils.frPyObjects(dict(segmentation), height, width)
    return segmentation


def analyze_errors(
    ground_truth: GroundTruthSource,
    predictions: PredictionSource,
    *,
    iou_type: IouType | str = IouType.BBOX,
    area_ranges: Sequence[AreaRange | str] | None = None,
    fg_iou: float = 0.5,
    bg_iou: float = 0.1,
    max_dets: int = 100,
    score_threshold: float = 0.0,
    class_to_category: Mapping[int, int] | None = None,
    strict: bool = False,
    fixes: bool = True,
) -> ErrorAnalysis:
    """Count TIDE-style errors per size bucket (definitions in the module docstring).

    Args:
        ground_truth: COCO ground truth (path, dict or ``GroundTruth``).
        predictions: COCO results or a mapping of image id to ``Detections``.
        iou_type: ``"bbox"`` or ``"segm"``.
        area_ranges: size buckets besides ``all``; ``None`` means COCO's
            small/medium/large. Strings are ``"name:min_px:max_px"``.
        fg_iou: foreground IoU threshold ``t_f``.
        bg_iou: background IoU threshold ``t_b`` (< ``fg_iou``).
        max_dets: predictions kept per image and class, highest scores first.
        score_threshold: drop predictions scored below this first.
        class_to_category: for ``Detections`` input, class id to category id.
        strict: raise instead of skipping bad predictions.
        fixes: also measure AP at ``t_f`` and each error type's dAP per bucket
            (``tilewise.evaluation.tide_fixes``; 8 more COCO evaluations).

    Returns:
        An ``ErrorAnalysis``.

    Example:
        >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1}, {"id": 2}],
        ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
        ...                        "bbox": [0, 0, 10, 10]}]}
        >>> preds = [{"image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.9}]
        >>> res = analyze_errors(gt, preds)
        >>> res.counts()[ErrorType.CLS], res.counts()[ErrorType.MISSED]
        (1, 0)
        >>> res.bucket().ap, res.delta_ap()[ErrorType.CLS]
        (0.0, 1.0)
    """
    from tilewise.evaluation.buckets import build_area_ranges

    if not 0.0 <= bg_iou < fg_iou <= 1.0:
        raise TilewiseError(f"need 0 <= bg_iou < fg_iou <= 1, got {bg_iou}, {fg_iou}")
    if max_dets < 1:
        raise TilewiseError(f"max_dets must be >= 1, got {max_dets}")
    kind = IouType.parse(iou_type)
    ranges = (
        ALL_RANGE,
        *(
            COCO_AREA_RANGES
            if area_ranges is None
            else build_area_ranges(coco=False, custom=area_ranges)
        ),
    )
    gt = load_ground_truth(ground_truth, iou_type=kind)
    preds = load_predictions(
        predictions, gt, iou_type=kind, class_to_category=class_to_category, strict=strict
    )
    sizes = {img["id"]: (img.get("height", 0), img.get("width", 0)) for img in gt.dataset["images"]}
    gt_by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ann in gt.dataset["annotations"]:
        gt_by_image[ann["image_id"]].append(ann)
    pred_by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in preds.annotations:
        if p["score"] >= score_threshold:
            pred_by_image[p["image_id"]].append(p)

    # Reference areas of every counted item, per outcome kind.
    gt_area: dict[GtOutcome, list[float]] = defaultdict(list)
    err_area: dict[ErrorType, list[float]] = defaultdict(list)
    num_pred = 0
    num_ignored = 0
    cases: list[ImageCase] = []
    for img_id in gt.image_ids:
        objs = gt_by_image.get(img_id, [])
        dets = _cap_per_class(pred_by_image.get(img_id, []), max_dets)
        num_pred += len(dets)
        g_area = np.array([float(a["area"]) for a in objs], dtype=np.float64)
        crowd = np.array([bool(a.get("iscrowd", 0)) for a in objs], dtype=bool)
        if kind is IouType.BBOX:
            iou = _xywh_iou(
                np.array([p["bbox"] for p in dets], dtype=np.float64),
                np.array([a["bbox"] for a in objs], dtype=np.float64),
                crowd,
            )
            p_area = np.array([p["bbox"][2] * p["bbox"][3] for p in dets], dtype=np.float64)
        else:
            from faster_coco_eval.core import mask as mask_utils

            h, w = sizes[img_id]
            d_rle = [_rle(p["segmentation"], h, w) for p in dets]
            g_rle = [_rle(a["segmentation"], h, w) for a in objs]
            raw_iou = mask_utils.iou(d_rle, g_rle, crowd.astype(np.uint8).tolist())
            iou = np.asarray(raw_iou, dtype=np.float64).reshape(len(dets), len(objs))
            p_area = np.array([float(mask_utils.area(r)) for r in d_rle], dtype=np.float64)
        a = assign_image(
            iou,
            np.array([p["category_id"] for p in dets], dtype=np.int64),
            np.array([p["score"] for p in dets], dtype=np.float64),
            np.array([o["category_id"] for o in objs], dtype=np.int64),
            crowd,
            fg_iou=fg_iou,
            bg_iou=bg_iou,
        )
        cases.append(ImageCase(dets, objs, a, None if kind is IouType.BBOX else g_rle))
        for code in (GtOutcome.MATCHED, GtOutcome.MISSED, GtOutcome.COVERED):
            gt_area[code].extend(g_area[a.gt_outcome == code].tolist())
        num_ignored += int(np.count_nonzero(a.pred_outcome == PredOutcome.IGNORED))
        for code, etype in PRED_TO_ERROR.items():
            sel = a.pred_outcome == code
            if code is PredOutcome.BKG:
                err_area[etype].extend(p_area[sel].tolist())
            else:
                err_area[etype].extend(g_area[a.pred_target[sel]].tolist())
    err_area[ErrorType.MISSED] = gt_area[GtOutcome.MISSED]

    def count(areas: list[float], r: AreaRange) -> int:
        return int(np.count_nonzero(r.contains(areas))) if areas else 0

    impact = None
    if fixes:
        impact = fix_impact(
            gt, cases, iou_type=kind, area_ranges=ranges[1:], fg_iou=fg_iou, max_dets=max_dets
        )
    buckets = []
    for r in ranges:
        all_gt = gt_area[GtOutcome.MATCHED] + gt_area[GtOutcome.MISSED] + gt_area[GtOutcome.COVERED]
        buckets.append(
            BucketErrors(
                area_range=r,
                num_gt=count(all_gt, r),
                true_positives=count(gt_area[GtOutcome.MATCHED], r),
                covered=count(gt_area[GtOutcome.COVERED], r),
                errors={t: count(err_area[t], r) for t in ErrorType},
                ap=math.nan if impact is None else impact.ap[r.name],
                delta_ap={} if impact is None else impact.deltas(r.name),
                ap_all_fixed=math.nan if impact is None else impact.all_fixed[r.name],
            )
        )
    return ErrorAnalysis(
        iou_type=kind,
        buckets=tuple(buckets),
        fg_iou=float(fg_iou),
        bg_iou=float(bg_iou),
        max_dets=int(max_dets),
        score_threshold=float(score_threshold),
        num_predictions=num_pred,
        num_ignored=num_ignored,
        skipped=preds.skipped,
        impact=impact,
    )


def _cap_per_class(dets: list[dict[str, Any]], max_dets: int) -> list[dict[str, Any]]:
    """Keep the ``max_dets`` highest-scored predictions per class (stable on ties)."""
    if len(dets) <= max_dets:
        return dets
    by_class: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in dets:
        by_class[p["category_id"]].append(p)
    kept: list[dict[str, Any]] = []
    for items in by_class.values():
        items = sorted(items, key=lambda p: -p["score"])
        kept.extend(items[:max_dets])
    return kept
