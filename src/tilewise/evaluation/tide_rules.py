"""TIDE's rules for one image: which prediction is which error, which object is missed.

The error types follow TIDE (Bolya et al., "TIDE: A General Toolbox for Identifying Object
Detection Errors", ECCV 2020). ``t_f`` is the foreground IoU threshold (default 0.5),
``t_b`` the background threshold (default 0.1). IoU is box IoU for ``bbox`` and mask IoU
for ``segm``.

1. **Matching**. In descending score order (stable), each prediction is matched to the
   not yet matched, non-crowd ground-truth object of its class with the highest IoU, if
   that IoU is ``>= t_f``: a **true positive**. An unmatched prediction whose intersection
   with a crowd region of its class covers ``>= t_f`` of the prediction is **ignored**
   (COCO's crowd rule). Every other prediction is a false positive.
2. **False positives** get the first type that applies, in TIDE's order; "IoU with X" is
   the largest IoU with any non-crowd ground truth of kind X:

   * ``loc`` (localisation): ``t_b <= IoU with same class < t_f`` - right class, box off.
   * ``cls`` (class confusion): ``IoU with another class >= t_f`` - box right, class wrong.
   * ``dupe`` (duplicate): ``IoU with an already matched object of the same class >= t_f``
     - a higher-scoring prediction took that object.
   * ``bkg`` (background): ``IoU with every object < t_b`` - fired on background.
   * ``both`` (class and localisation): anything else, i.e. another class's object with
     ``t_b <= IoU < t_f``.

   The object used in the test that applied (the largest-IoU one) is the error's
   **target** (none for ``bkg``).
3. **Missed**: a non-crowd object that no prediction matched and that is not the target
   of a ``loc`` or ``cls`` error - TIDE's "missed" excludes objects that fixing one of
   those errors would recover. Unmatched objects that are such targets are **covered**
   (not an error of their own).

``tilewise.evaluation.error_analysis`` counts these per size bucket;
``tilewise.evaluation.tide_fixes`` applies TIDE's oracle fixes to measure what each
error type costs in AP.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

import numpy as np

__all__ = [
    "PRED_TO_ERROR",
    "ErrorType",
    "GtOutcome",
    "ImageAssignment",
    "PredOutcome",
    "assign_image",
]


class ErrorType(str, Enum):
    """TIDE error types (the rules are in the module docstring)."""

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


PRED_TO_ERROR: dict[PredOutcome, ErrorType] = {
    PredOutcome.CLS: ErrorType.CLS,
    PredOutcome.LOC: ErrorType.LOC,
    PredOutcome.BOTH: ErrorType.BOTH,
    PredOutcome.DUPE: ErrorType.DUPE,
    PredOutcome.BKG: ErrorType.BKG,
}
"""The error type of each false-positive outcome."""


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
