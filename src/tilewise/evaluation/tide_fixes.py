"""What each TIDE error type costs: AP after an oracle fixes every error of that type.

For each error type (``tilewise.evaluation.tide_rules``) the predictions are rewritten
with TIDE's oracle for that type only (Bolya et al., "TIDE: A General Toolbox for
Identifying Object Detection Errors", ECCV 2020, section 3.2), AP is computed again with
the project's COCO evaluation (``evaluate``, at the single IoU threshold ``t_f`` the
errors are defined at, per size bucket), and ``dAP = AP_fixed - AP``.

The oracles, per image:

* ``cls``: the prediction takes the class of its target object and becomes that object's
  true positive. Several ``loc``/``cls`` errors may target one object; only the
  highest-scoring one (the first in score order on ties) is fixed, the others are
  removed, and so is an error whose target another prediction already matched (the
  correction would only make a duplicate).
* ``loc``: the prediction's box (mask for ``segm``) is replaced by its target object's,
  with the same "one fix per object, the rest removed" rule.
* ``both``, ``dupe``, ``bkg``: those predictions are removed.
* ``missed``: the missed objects are removed from the ground truth, which is how TIDE
  "reduces the number of ground-truth objects by the number missed" - recall is then
  measured against the objects the detector could still find. (It does not add them as
  detections: that would also change precision.)

Fixing every type at once leaves only true positives and ignored predictions, so that AP
is 1 wherever a bucket keeps an object.

dAP is measured, not clipped: TIDE sets a negative dAP to 0, here it is reported as is.
In the ``all`` bucket, and in every bucket when no prediction overlaps two objects at
``>= t_f``, each dAP is ``>= 0``. A size bucket can show a small negative dAP when one
prediction overlaps two same-class objects of different sizes at ``>= t_f``: COCO
matches a prediction to an in-bucket object first, so its matches there differ from the
all-object matching the errors were assigned with.

A bucket's dAP follows COCO's per-bucket rules, which are not the count table's: COCO
counts an unmatched prediction in the buckets of its own area, the table counts a
``dupe``/``loc``/``cls``/``both`` error in its target object's buckets. So removing a
small duplicate box of a large object can raise AP_small although the table puts that
duplicate in the large bucket. In ``all`` a type with no errors has dAP exactly 0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.evaluation.buckets import AreaRange
from tilewise.evaluation.coco import GroundTruth, IouType, Predictions, SkipReport
from tilewise.evaluation.metrics import evaluate
from tilewise.evaluation.result import stat_key
from tilewise.evaluation.tide_rules import ErrorType, GtOutcome, ImageAssignment, PredOutcome

__all__ = ["FixImpact", "ImageCase", "fix_image", "fix_impact", "fixing_predictions"]

_REMOVED_BY = {
    PredOutcome.BOTH: ErrorType.BOTH,
    PredOutcome.DUPE: ErrorType.DUPE,
    PredOutcome.BKG: ErrorType.BKG,
}
_CORRECTED_BY = {PredOutcome.CLS: ErrorType.CLS, PredOutcome.LOC: ErrorType.LOC}


@dataclass(frozen=True)
class ImageCase:
    """One analysed image: its predictions, its objects and their TIDE outcomes.

    Attributes:
        predictions: COCO result dicts (``image_id``, ``category_id``, ``score``,
            ``bbox`` and/or ``segmentation``) in the order ``assignment`` refers to.
        objects: ground-truth annotation dicts, crowd regions included.
        assignment: ``assign_image``'s outcomes for them.
        object_masks: for ``segm``, each object's mask as COCO RLE (what a ``loc`` fix
            gives the prediction); ``None`` for ``bbox``.
    """

    predictions: Sequence[Mapping[str, Any]]
    objects: Sequence[Mapping[str, Any]]
    assignment: ImageAssignment
    object_masks: Sequence[Any] | None = None


def fixing_predictions(assignment: ImageAssignment, scores: Sequence[float]) -> np.ndarray:
    """For each object, the ``loc``/``cls`` error an oracle fix turns into its match.

    That is the highest-scoring such error targeting an object nobody matched (the
    first in descending score order, stable, on ties), as TIDE's "best ground-truth
    match". Every other ``loc``/``cls`` error is removed by its fix.

    Args:
        assignment: the image's outcomes.
        scores: (D,) prediction scores.

    Returns:
        (G,) prediction index per object, -1 where none.

    Example:
        >>> import numpy as np
        >>> from tilewise.evaluation.tide_rules import assign_image
        >>> a = assign_image(np.array([[0.3], [0.4]]), np.array([1, 1]),
        ...                  np.array([0.6, 0.8]), np.array([1]), np.array([False]))
        >>> fixing_predictions(a, [0.6, 0.8]).tolist()
        [1]
    """
    best = np.full(len(assignment.gt_outcome), -1, dtype=np.int64)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    for i in order:
        if assignment.pred_outcome[i] not in (PredOutcome.CLS, PredOutcome.LOC):
            continue
        j = int(assignment.pred_target[i])
        if assignment.gt_outcome[j] != GtOutcome.MATCHED and best[j] < 0:
            best[j] = i
    return best


def fix_image(
    case: ImageCase, fix: Collection[ErrorType]
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Apply TIDE's oracle for the error types in ``fix`` to one image.

    Args:
        case: the analysed image.
        fix: the error types to fix (the rules are in the module docstring).

    Returns:
        The fixed predictions (new dicts, input order, removed ones left out) and a (G,)
        boolean mask of the objects kept in the ground truth.

    Example:
        >>> import numpy as np
        >>> from tilewise.evaluation.tide_rules import assign_image
        >>> pred = {"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [5, 0, 10, 10]}
        >>> obj = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]}
        >>> a = assign_image(np.array([[1 / 3]]), np.array([1]), np.array([0.9]),
        ...                  np.array([1]), np.array([False]))
        >>> preds, keep = fix_image(ImageCase([pred], [obj], a), {ErrorType.LOC})
        >>> preds[0]["bbox"], keep.tolist()
        ([0, 0, 10, 10], [True])
    """
    wanted = frozenset(ErrorType(t) for t in fix)
    a = case.assignment
    fixer = fixing_predictions(a, [float(p["score"]) for p in case.predictions])
    out: list[dict[str, Any]] = []
    for i, pred in enumerate(case.predictions):
        code = PredOutcome(int(a.pred_outcome[i]))
        if code in _REMOVED_BY and _REMOVED_BY[code] in wanted:
            continue
        fixed = dict(pred)
        if code in _CORRECTED_BY and _CORRECTED_BY[code] in wanted:
            j = int(a.pred_target[i])
            if fixer[j] != i:
                continue  # the object is matched already, or a higher score fixes it
            obj = case.objects[j]
            if code is PredOutcome.CLS:
                fixed["category_id"] = obj["category_id"]
            else:
                fixed["bbox"] = list(obj["bbox"])
                if case.object_masks is not None:
                    fixed["segmentation"] = case.object_masks[j]
        out.append(fixed)
    keep = np.ones(len(case.objects), dtype=bool)
    if ErrorType.MISSED in wanted:
        keep &= a.gt_outcome != GtOutcome.MISSED
    return out, keep


@dataclass(frozen=True)
class FixImpact:
    """AP at ``t_f`` per size bucket, as measured and after each type's oracle fix.

    Attributes:
        fg_iou: the IoU threshold of every AP here (``t_f``).
        ap: bucket name to AP (NaN where the bucket has no object).
        fixed: error type to (bucket name to AP after fixing that type).
        all_fixed: bucket name to AP after fixing every type at once.
    """

    fg_iou: float
    ap: Mapping[str, float]
    fixed: Mapping[ErrorType, Mapping[str, float]]
    all_fixed: Mapping[str, float]

    def delta(self, error_type: ErrorType | str, bucket: str = "all") -> float:
        """``AP_fixed - AP`` for one type and bucket (NaN when either is undefined).

        Example:
            >>> impact = FixImpact(0.5, {"all": 0.5}, {ErrorType.LOC: {"all": 1.0}},
            ...                    {"all": 1.0})
            >>> impact.delta("loc")
            0.5
        """
        return self.fixed[ErrorType(error_type)][bucket] - self.ap[bucket]

    def deltas(self, bucket: str = "all") -> dict[ErrorType, float]:
        """The dAP of every error type in one bucket."""
        return {t: self.delta(t, bucket) for t in ErrorType}


def _ap_per_bucket(
    ground_truth: GroundTruth,
    predictions: list[dict[str, Any]],
    *,
    iou_type: IouType,
    area_ranges: Sequence[AreaRange],
    fg_iou: float,
    max_dets: int,
) -> dict[str, float]:
    result = evaluate(
        ground_truth,
        Predictions(annotations=predictions, skipped=SkipReport()),
        iou_type=iou_type,
        max_dets=max_dets,
        area_ranges=list(area_ranges),
        iou_thresholds=[fg_iou],
    )
    return {r.name: result.stats[stat_key("AP", r.name, max_dets)] for r in result.area_ranges}


def _without_objects(ground_truth: GroundTruth, drop_ids: set[int]) -> GroundTruth:
    if not drop_ids:
        return ground_truth
    dataset = dict(ground_truth.dataset)
    kept = [a for a in dataset["annotations"] if a["id"] not in drop_ids]
    dataset["annotations"] = kept
    kept_index = [
        i for i, a in enumerate(ground_truth.dataset["annotations"]) if a["id"] not in drop_ids
    ]
    return dataclasses.replace(
        ground_truth,
        dataset=dataset,
        original_ids=tuple(ground_truth.original_ids[i] for i in kept_index),
    )


def fix_impact(
    ground_truth: GroundTruth,
    cases: Sequence[ImageCase],
    *,
    iou_type: IouType | str = IouType.BBOX,
    area_ranges: Sequence[AreaRange] = (),
    fg_iou: float = 0.5,
    max_dets: int = 100,
) -> FixImpact:
    """Measure AP at ``t_f`` per bucket before and after each error type's oracle fix.

    Args:
        ground_truth: the loaded ground truth the cases come from.
        cases: every image of the analysis (predictions after its score threshold and
            per-class cap).
        iou_type: ``bbox`` or ``segm``.
        area_ranges: size buckets besides ``all``.
        fg_iou: ``t_f``; AP is computed at this single IoU threshold.
        max_dets: detection cap per image and class.

    Returns:
        A ``FixImpact`` (8 COCO evaluations: as measured, one per type, all fixed).

    Example:
        >>> from tilewise.evaluation.error_analysis import analyze_errors
        >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1}],
        ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
        ...                        "bbox": [0, 0, 10, 10]}]}
        >>> preds = [{"image_id": 1, "category_id": 1, "bbox": [5, 0, 10, 10], "score": 0.9}]
        >>> impact = analyze_errors(gt, preds, area_ranges=[]).impact
        >>> impact.ap["all"], impact.delta("loc"), impact.delta("bkg")
        (0.0, 1.0, 0.0)
    """
    kind = IouType.parse(iou_type)
    if not math.isfinite(fg_iou) or not 0.0 < fg_iou <= 1.0:
        raise TilewiseError(f"fg_iou must be in (0, 1], got {fg_iou}")

    def measure(fix: Collection[ErrorType]) -> dict[str, float]:
        preds: list[dict[str, Any]] = []
        drop: set[int] = set()
        for case in cases:
            fixed, keep = fix_image(case, fix)
            preds.extend(fixed)
            drop.update(int(o["id"]) for o, k in zip(case.objects, keep, strict=True) if not k)
        return _ap_per_bucket(
            _without_objects(ground_truth, drop),
            preds,
            iou_type=kind,
            area_ranges=area_ranges,
            fg_iou=fg_iou,
            max_dets=max_dets,
        )

    return FixImpact(
        fg_iou=float(fg_iou),
        ap=measure(()),
        fixed={t: measure((t,)) for t in ErrorType},
        all_fixed=measure(tuple(ErrorType)),
    )
