"""COCO metrics through faster-coco-eval.

The matching and accumulation are faster-coco-eval's (``COCOeval_faster``), which gives
the same precision/recall arrays as pycocotools (to the last bit or two of a float64)
an order of magnitude faster. tilewise only validates the inputs, chooses the parameters
(size buckets, detection caps) and reads the summary numbers off the accumulated arrays
the way pycocotools' ``summarize`` does, for every cap instead of only the last.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.evaluation.buckets import (
    ALL_RANGE,
    TINY_AREA_RANGES,
    AreaRange,
    build_area_ranges,
)
from tilewise.evaluation.coco import (
    GroundTruth,
    GroundTruthSource,
    IouType,
    PredictionSource,
    load_ground_truth,
    load_predictions,
)
from tilewise.evaluation.result import (
    AP_METRICS,
    AR_METRICS,
    EvaluationResult,
    stat_key,
    summarise_classes,
)

__all__ = ["DEFAULT_MAX_DETS", "evaluate", "parse_max_dets"]

DEFAULT_MAX_DETS: tuple[int, ...] = (100, 300)
"""COCO's cap of 100 detections per image, and a higher one: sliced inference often
produces more than 100 detections on a large image, which the standard cap truncates."""

_ALWAYS_AR = (1, 10)


def parse_max_dets(value: str | int | Sequence[int]) -> tuple[int, ...]:
    """Normalise detection caps from ``"100,300"``, an int or a sequence.

    Example:
        >>> parse_max_dets("100, 1000"), parse_max_dets(50)
        ((100, 1000), (50,))
    """
    if isinstance(value, str):
        try:
            caps = [int(v) for v in value.replace(" ", "").split(",") if v]
        except ValueError:
            msg = f"max_dets must be integers like '100,300', got {value!r}"
            raise TilewiseError(msg) from None
    elif isinstance(value, (int, np.integer)):
        caps = [int(value)]
    else:
        caps = [int(v) for v in value]
    if not caps or any(c < 1 for c in caps):
        raise TilewiseError(f"max_dets must be positive integers, got {value!r}")
    if len(set(caps)) != len(caps):
        raise TilewiseError(f"max_dets has repeated values: {value!r}")
    return tuple(caps)


def _mean_defined(values: np.ndarray) -> float:
    """Summarise as pycocotools does: the mean over entries > -1, NaN when there are none."""
    valid = values[values > -1]
    if valid.size == 0:
        return float("nan")
    return float(np.mean(valid))


def _silent(*args: object, **kwargs: object) -> None:
    del args, kwargs


def _resolve_ranges(
    area_ranges: Sequence[AreaRange | str] | None, tiny: bool
) -> tuple[AreaRange, ...]:
    if area_ranges is None:
        return build_area_ranges(coco=True, tiny=tiny)
    custom = [r for r in area_ranges]
    if tiny:
        names = {r.name if isinstance(r, AreaRange) else r.split(":")[0] for r in custom}
        custom += [r for r in TINY_AREA_RANGES if r.name not in names]
    return build_area_ranges(coco=False, custom=custom)


def evaluate(
    ground_truth: GroundTruthSource,
    predictions: PredictionSource,
    *,
    iou_type: IouType | str = IouType.BBOX,
    max_dets: str | int | Sequence[int] = DEFAULT_MAX_DETS,
    area_ranges: Sequence[AreaRange | str] | None = None,
    tiny: bool = False,
    class_to_category: Mapping[int, int] | None = None,
    strict: bool = False,
    iou_thresholds: Sequence[float] | None = None,
) -> EvaluationResult:
    """Compute COCO AP/AR (overall, per size bucket, per class) with faster-coco-eval.

    Args:
        ground_truth: COCO ground truth: JSON path, dict or ``GroundTruth``.
        predictions: COCO results (JSON path or list of dicts) or a mapping of image id
            (or file name) to ``Detections``. See ``load_predictions``.
        iou_type: ``"bbox"`` or ``"segm"`` (masks as RLE or polygons in the JSON).
        max_dets: detection caps per image to report at (``"100,300"`` or a sequence);
            the first is the primary cap. AR@1 and AR@10 are always reported.
        area_ranges: size buckets to report; ``None`` means COCO's small/medium/large.
            A given list replaces them (add ``COCO_AREA_RANGES`` to keep them). Strings
            are ``"name:min_px:max_px"`` in side-length pixels.
        tiny: also report the AI-TOD tiny buckets (2-8, 8-16, 16-32 px).
        class_to_category: for ``Detections`` input, class id to COCO category id.
        strict: raise instead of skipping bad predictions.
        iou_thresholds: IoU thresholds to average over instead of COCO's .50:.05:.95,
            e.g. ``[0.5]`` for AP at one threshold (then every ``AP``/``AR`` stat is at
            that threshold, and ``AP50``/``AP75`` are NaN unless listed).

    Returns:
        An ``EvaluationResult``.

    Raises:
        TilewiseError: bad input (see ``load_ground_truth``/``load_predictions``) or
            faster-coco-eval is not installed.

    Example:
        >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "car"}],
        ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
        ...                        "bbox": [10, 10, 20, 20]}]}
        >>> preds = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.8}]
        >>> res = evaluate(gt, preds)
        >>> res.get("AP"), res.get("AP", "small"), res.stats["AR@300"]
        (1.0, 1.0, 1.0)
    """
    try:
        from faster_coco_eval import COCO, COCOeval_faster
    except ImportError:  # pragma: no cover - depends on the environment
        raise TilewiseError(
            "evaluation needs faster-coco-eval: pip install 'tilewise[eval]'"
        ) from None

    kind = IouType.parse(iou_type)
    caps = parse_max_dets(max_dets)
    ranges = (ALL_RANGE, *_resolve_ranges(area_ranges, tiny))
    gt = load_ground_truth(ground_truth, iou_type=kind)
    if isinstance(ground_truth, GroundTruth) and kind is IouType.SEGM:
        _check_segm_ready(gt)
    preds = load_predictions(
        predictions, gt, iou_type=kind, class_to_category=class_to_category, strict=strict
    )
    eval_caps = tuple(sorted(set(_ALWAYS_AR) | set(caps)))

    coco_gt = COCO(gt.fresh_dataset(), print_function=_silent)
    coco_dt = coco_gt.loadRes(preds.fresh_annotations())
    evaluator = COCOeval_faster(
        coco_gt,
        coco_dt,
        kind.value,
        ranges={r.name: list(r.area_bounds) for r in ranges[1:]},
        print_function=_silent,
    )
    evaluator.params.maxDets = list(eval_caps)
    if iou_thresholds is not None:
        evaluator.params.iouThrs = _check_iou_thresholds(iou_thresholds)
    evaluator.evaluate()
    evaluator.accumulate()
    params = evaluator.params
    precision = np.asarray(evaluator.eval["precision"], dtype=np.float64)
    recall = np.asarray(evaluator.eval["recall"], dtype=np.float64)
    iou_thrs = np.asarray(params.iouThrs, dtype=np.float64)
    labels = list(params.areaRngLbl)
    if labels != [r.name for r in ranges]:  # pragma: no cover - guards a library change
        raise TilewiseError(f"unexpected area range order from the evaluator: {labels}")
    t50 = np.flatnonzero(iou_thrs == 0.5)
    t75 = np.flatnonzero(iou_thrs == 0.75)

    stats: dict[str, float] = {}
    for cap in caps:
        m = eval_caps.index(cap)
        for a, r in enumerate(ranges):
            if r.name == ALL_RANGE.name:
                stats[stat_key("AP", r.name, cap)] = _mean_defined(precision[:, :, :, a, m])
                stats[stat_key("AP50", r.name, cap)] = _mean_defined(precision[t50, :, :, a, m])
                stats[stat_key("AP75", r.name, cap)] = _mean_defined(precision[t75, :, :, a, m])
                stats[stat_key("AR", r.name, cap)] = _mean_defined(recall[:, :, a, m])
                stats[stat_key("AR50", r.name, cap)] = _mean_defined(recall[t50, :, a, m])
                stats[stat_key("AR75", r.name, cap)] = _mean_defined(recall[t75, :, a, m])
            else:
                stats[stat_key("AP", r.name, cap)] = _mean_defined(precision[:, :, :, a, m])
                stats[stat_key("AR", r.name, cap)] = _mean_defined(recall[:, :, a, m])
    for cap in eval_caps:
        stats.setdefault(f"AR@{cap}", _mean_defined(recall[:, :, 0, eval_caps.index(cap)]))
    stats = _ordered(stats, caps, eval_caps, ranges)

    cat_ids = tuple(int(c) for c in params.catIds)
    m0 = eval_caps.index(caps[0])
    per_class_values = {
        c: (
            _mean_defined(precision[:, :, k, 0, m0]),
            _mean_defined(precision[t50, :, k, 0, m0]),
            _mean_defined(precision[t75, :, k, 0, m0]),
            _mean_defined(recall[:, k, 0, m0]),
        )
        for k, c in enumerate(cat_ids)
    }
    anns = gt.dataset["annotations"]
    num_gt = Counter(a["category_id"] for a in anns if not a.get("iscrowd", 0))
    num_pred = Counter(p["category_id"] for p in preds.annotations)
    notes = list(gt.notes)
    if not preds.annotations:
        notes.append("no predictions: every defined AP and AR is 0")
    return EvaluationResult(
        iou_type=kind,
        max_dets=caps,
        area_ranges=ranges,
        stats=stats,
        per_class=summarise_classes(cat_ids, gt.categories, num_gt, num_pred, per_class_values),
        num_images=len(gt.image_ids),
        num_gt=sum(num_gt.values()),
        num_crowd=sum(1 for a in anns if a.get("iscrowd", 0)),
        num_predictions=len(preds.annotations),
        skipped=preds.skipped,
        notes=tuple(notes),
        eval_max_dets=eval_caps,
        category_ids=cat_ids,
        iou_thresholds=iou_thrs,
        recall_thresholds=np.asarray(params.recThrs, dtype=np.float64),
        precision=precision,
        recall=recall,
    )


def _check_iou_thresholds(values: Sequence[float]) -> np.ndarray:
    thrs = np.asarray([float(v) for v in values], dtype=np.float64)
    if thrs.size == 0 or not np.all((thrs > 0) & (thrs <= 1)):
        raise TilewiseError(f"iou_thresholds must be values in (0, 1], got {list(values)!r}")
    return thrs


def _check_segm_ready(gt: GroundTruth) -> None:
    for ann in gt.dataset["annotations"]:
        if not ann.get("segmentation"):
            raise TilewiseError(
                f"ground truth annotation {ann['id']} has no segmentation; load it with "
                "iou_type='segm'"
            )


def _ordered(
    stats: dict[str, float],
    caps: tuple[int, ...],
    eval_caps: tuple[int, ...],
    ranges: tuple[AreaRange, ...],
) -> dict[str, float]:
    """Stats in reading order: per cap AP*, AP_<area>, AR*, AR_<area>; then AR@small caps."""
    order: list[str] = []
    for cap in caps:
        order += [stat_key(k, "all", cap) for k in AP_METRICS]
        order += [stat_key("AP", r.name, cap) for r in ranges[1:]]
        order += [stat_key(k, "all", cap) for k in AR_METRICS]
        order += [stat_key("AR", r.name, cap) for r in ranges[1:]]
    order += [f"AR@{c}" for c in eval_caps if f"AR@{c}" not in order]
    return {k: stats[k] for k in order}
