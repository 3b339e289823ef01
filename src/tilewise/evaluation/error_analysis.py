"""TIDE-style error analysis per object-size bucket.

This splits every false positive and every missed object into one error type, following
TIDE (Bolya et al., "TIDE: A General Toolbox for Identifying Object Detection Errors",
ECCV 2020), and counts them per size bucket. It answers the question slicing raises:
did it recover small objects (fewer *missed*) or create *duplicates* at slice seams?

Definitions. ``t_f`` is the foreground IoU threshold (default 0.5), ``t_b`` the background
threshold (default 0.1). IoU is box IoU for ``bbox`` and mask IoU for ``segm``.

1. **Matching** (per image). Predictions below ``score_threshold`` are dropped; of the rest
   at most ``max_dets`` per image and class are kept, highest scores first (as in COCO).
   In descending score order (stable), each prediction is matched to the not yet matched,
   non-crowd ground-truth object of its class with the highest IoU, if that IoU is
   ``>= t_f``: a **true positive**. An unmatched prediction whose intersection with a crowd
   region of its class covers ``>= t_f`` of the prediction is **ignored** (COCO's crowd
   rule). Every other prediction is a false positive.
2. **False positives** get the first type that applies, in TIDE's order; "IoU with X" is
   the largest IoU with any non-crowd ground truth of kind X:

   * ``loc`` (localisation): ``t_b <= IoU with same class < t_f`` - right class, box off.
   * ``cls`` (class confusion): ``IoU with another class >= t_f`` - box right, class wrong.
   * ``dupe`` (duplicate): ``IoU with an already matched object of the same class >= t_f``
     - a higher-scoring prediction took that object.
   * ``bkg`` (background): ``IoU with every object < t_b`` - fired on background.
   * ``both`` (class and localisation): anything else, i.e. another class's object with
     ``t_b <= IoU < t_f``.
3. **Missed**: a non-crowd object that no prediction matched and that is not the target
   (the largest-IoU object) of a ``loc`` or ``cls`` error - TIDE's "missed" excludes
   objects that fixing one of those errors would recover. Unmatched objects that are
   such targets are counted as ``covered`` (not an error of their own).

Size buckets. A true positive, missed or covered object counts in the buckets of the
ground-truth object's area. A ``loc``, ``cls``, ``dupe`` or ``both`` error counts in the
buckets of its target object (the largest-IoU one used in its test), as COCO judges a
detection by the object it overlaps; a ``bkg`` error has no object and counts in the
buckets of its own area (box area for ``bbox``, mask area for ``segm``). Buckets are the
closed ranges of ``tilewise.evaluation.buckets`` and may overlap.

This is analysis, not the COCO metric: AP/AR always come from ``evaluate`` (COCO's
matching through faster-coco-eval). Counts here are at a single IoU threshold ``t_f``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
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
from tilewise.fileio import atomic_write_json, atomic_write_text

__all__ = [
    "ErrorAnalysis",
    "ErrorType",
    "GtOutcome",
    "ImageAssignment",
    "PredOutcome",
    "analyze_errors",
    "assign_image",
]


class ErrorType(str, Enum):
    """TIDE error types (see the module docstring for the exact rules)."""

    CLS = "cls"
    LOC = "loc"
    BOTH = "both"
    DUPE = "dupe"
    BKG = "bkg"
    MISSED = "missed"

    @property
    def label(self) -> str:
        """Display name, e.g. ``'Loc'``."""
        return _LABELS[self]


_LABELS = {
    ErrorType.CLS: "Cls",
    ErrorType.LOC: "Loc",
    ErrorType.BOTH: "Both",
    ErrorType.DUPE: "Dupe",
    ErrorType.BKG: "Bkg",
    ErrorType.MISSED: "Missed",
}


class PredOutcome(IntEnum):
    """What became of one prediction (codes in ``ImageAssignment.pred_outcome``)."""

    TP = 0
    CLS = 1
    LOC = 2
    BOTH = 3
    DUPE = 4
    BKG = 5
    IGNORED = 6


class GtOutcome(IntEnum):
    """What became of one ground-truth object (codes in ``ImageAssignment.gt_outcome``)."""

    MATCHED = 0
    MISSED = 1
    COVERED = 2
    IGNORED = 3


_PRED_TO_ERROR = {
    PredOutcome.CLS: ErrorType.CLS,
    PredOutcome.LOC: ErrorType.LOC,
    PredOutcome.BOTH: ErrorType.BOTH,
    PredOutcome.DUPE: ErrorType.DUPE,
    PredOutcome.BKG: ErrorType.BKG,
}


@dataclass(frozen=True)
class ImageAssignment:
    """The outcome of every prediction and object of one image.

    Attributes:
        pred_outcome: (D,) ``PredOutcome`` codes, in the input order of predictions.
        pred_target: (D,) index of the object a prediction was matched to or judged
            against (-1 for background and ignored predictions).
        gt_outcome: (G,) ``GtOutcome`` codes.
    """

    pred_outcome: np.ndarray
    pred_target: np.ndarray
    gt_outcome: np.ndarray


def _masked_max(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise max and argmax of ``values`` where ``mask`` (max -1 for empty rows)."""
    filled = np.where(mask, values, -1.0)
    if filled.shape[1] == 0:
        n = filled.shape[0]
        return np.full(n, -1.0), np.full(n, -1, dtype=np.int64)
    idx = filled.argmax(axis=1)
    best = filled[np.arange(filled.shape[0]), idx]
    return best, np.where(best >= 0, idx, -1)


def assign_image(
    iou: np.ndarray,
    pred_class: np.ndarray,
    pred_score: np.ndarray,
    gt_class: np.ndarray,
    gt_crowd: np.ndarray,
    *,
    fg_iou: float = 0.5,
    bg_iou: float = 0.1,
) -> ImageAssignment:
    """Classify the predictions and objects of one image, TIDE-style.

    Args:
        iou: (D, G) overlaps; for crowd columns, intersection over the prediction's area
            (COCO's crowd IoU).
        pred_class: (D,) prediction classes.
        pred_score: (D,) scores (matching goes in descending order, stable).
        gt_class: (G,) object classes.
        gt_crowd: (G,) crowd flags.
        fg_iou: ``t_f``.
        bg_iou: ``t_b``.

    Returns:
        The per-prediction and per-object outcomes.

    Example:
        >>> import numpy as np
        >>> iou = np.array([[0.9], [0.8], [0.3], [0.0]])
        >>> a = assign_image(iou, np.array([1, 1, 1, 1]), np.array([0.9, 0.8, 0.7, 0.6]),
        ...                  np.array([1]), np.array([False]))
        >>> [PredOutcome(o).name for o in a.pred_outcome]
        ['TP', 'DUPE', 'LOC', 'BKG']
    """
    iou = np.asarray(iou, dtype=np.float64).reshape(len(pred_class), len(gt_class))
    pred_class = np.asarray(pred_class)
    gt_class = np.asarray(gt_class)
    crowd = np.asarray(gt_crowd, dtype=bool)
    d, g = iou.shape
    same = pred_class[:, None] == gt_class[None, :]
    real = ~crowd[None, :]
    outcome = np.full(d, -1, dtype=np.int64)
    target = np.full(d, -1, dtype=np.int64)
    used = np.zeros(g, dtype=bool)

    order = np.argsort(-np.asarray(pred_score, dtype=np.float64), kind="mergesort")
    candidates = same & real & (iou >= fg_iou)
    for i in order:
        row = candidates[i] & ~used
        if row.any():
            j = int(np.argmax(np.where(row, iou[i], -1.0)))
            used[j] = True
            outcome[i] = PredOutcome.TP
            target[i] = j

    fp = outcome < 0
    crowd_hit = (same & crowd[None, :] & (iou >= fg_iou)).any(axis=1)
    outcome[fp & crowd_hit] = PredOutcome.IGNORED
    fp &= ~crowd_hit

    cls_iou, cls_idx = _masked_max(iou, same & real)
    other_iou, other_idx = _masked_max(iou, ~same & real)
    used_iou, used_idx = _masked_max(iou, same & real & used[None, :])
    any_iou, any_idx = _masked_max(iou, np.broadcast_to(real, iou.shape))

    rules = (
        (PredOutcome.LOC, (cls_iou >= bg_iou) & (cls_iou < fg_iou), cls_idx),
        (PredOutcome.CLS, other_iou >= fg_iou, other_idx),
        (PredOutcome.DUPE, used_iou >= fg_iou, used_idx),
        (PredOutcome.BKG, any_iou < bg_iou, np.full(d, -1, dtype=np.int64)),
        (PredOutcome.BOTH, np.ones(d, dtype=bool), any_idx),
    )
    left = fp.copy()
    for code, cond, idx in rules:
        hit = left & cond
        outcome[hit] = code
        target[hit] = idx[hit]
        left &= ~hit

    gt_outcome = np.where(used, GtOutcome.MATCHED, GtOutcome.MISSED).astype(np.int64)
    fixable = np.isin(outcome, [PredOutcome.LOC, PredOutcome.CLS])
    covered = np.zeros(g, dtype=bool)
    covered[target[fixable]] = True
    gt_outcome[covered & ~used] = GtOutcome.COVERED
    gt_outcome[crowd] = GtOutcome.IGNORED
    return ImageAssignment(pred_outcome=outcome, pred_target=target, gt_outcome=gt_outcome)


@dataclass(frozen=True)
class BucketErrors:
    """Counts for one size bucket.

    Attributes:
        area_range: the bucket.
        num_gt: non-crowd objects in the bucket.
        true_positives: matched objects in the bucket.
        covered: unmatched objects that are the target of a ``loc``/``cls`` error.
        errors: count per error type.
    """

    area_range: AreaRange
    num_gt: int
    true_positives: int
    covered: int
    errors: Mapping[ErrorType, int]

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
        }


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
        headers = ["bucket", "GT", "TP", *(t.label for t in ErrorType)]
        rows = [
            [
                f"{b.area_range.name} ({b.area_range.describe()})",
                b.num_gt,
                b.true_positives,
                *(int(b.errors.get(t, 0)) for t in ErrorType),
            ]
            for b in self.buckets
        ]
        return headers, rows

    def _caption(self) -> str:
        return (
            f"TIDE-style errors ({self.iou_type.value}, t_f={self.fg_iou:g}, "
            f"t_b={self.bg_iou:g}, maxDets={self.max_dets}, score>={self.score_threshold:g}): "
            f"{self.num_predictions} predictions, {self.num_ignored} ignored on crowd regions"
        )

    def table(self) -> str:
        """Terminal table: one row per bucket, one column per error type.

        Example:
            >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1}],
            ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
            ...                        "bbox": [0, 0, 10, 10]}]}
            >>> preds = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
            ...          {"image_id": 1, "category_id": 1, "bbox": [1, 0, 10, 10], "score": 0.5}]
            >>> for line in analyze_errors(gt, preds, area_ranges=[]).table().splitlines()[2:]:
            ...     print(line)
            bucket       GT  TP  Cls  Loc  Both  Dupe  Bkg  Missed
            -----------  --  --  ---  ---  ----  ----  ---  ------
            all (0+ px)   1   1    0    0     0     1    0       0
        """
        headers, rows = self._rows()
        lines = [self._caption(), "", text_table(headers, rows)]
        if self.skipped.skipped:
            lines += ["", self.skipped.summary()]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """Markdown table with a caption line."""
        headers, rows = self._rows()
        return "\n".join([self._caption(), "", markdown_table(headers, rows)])


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
        for code in (GtOutcome.MATCHED, GtOutcome.MISSED, GtOutcome.COVERED):
            gt_area[code].extend(g_area[a.gt_outcome == code].tolist())
        num_ignored += int(np.count_nonzero(a.pred_outcome == PredOutcome.IGNORED))
        for code, etype in _PRED_TO_ERROR.items():
            sel = a.pred_outcome == code
            if code is PredOutcome.BKG:
                err_area[etype].extend(p_area[sel].tolist())
            else:
                err_area[etype].extend(g_area[a.pred_target[sel]].tolist())
    err_area[ErrorType.MISSED] = gt_area[GtOutcome.MISSED]

    def count(areas: list[float], r: AreaRange) -> int:
        return int(np.count_nonzero(r.contains(areas))) if areas else 0

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
