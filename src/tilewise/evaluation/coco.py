"""Loading and validating COCO ground truth and predictions for evaluation.

Ground truth must be well formed: a broken annotation (unknown image or category,
duplicate id, malformed box) raises ``TilewiseError`` naming the annotation. Missing
optional fields are filled and reported in ``notes`` (``iscrowd`` defaults to 0, a missing
``area`` is computed from the box or the mask).

Predictions are checked one by one. A prediction that cannot be evaluated (its image or
category is not in the ground truth, its box or score is malformed, a mask is missing for
``segm``) is *skipped and counted* in a ``SkipReport`` and a ``TilewiseWarning`` says how
many and why; nothing is dropped silently. When *no* prediction survives, that is almost
always a mismatch between the files (image ids vs file names, 0- vs 1-based category ids),
so it raises ``TilewiseError`` with examples instead. ``strict=True`` makes any skip an
error.

Prediction ``image_id`` values may also be image file names (or their stems); they are
resolved through the ground truth's ``file_name`` field.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from tilewise.choices import Choice
from tilewise.detections import Detections
from tilewise.errors import TilewiseError, TilewiseWarning

__all__ = [
    "GroundTruth",
    "GroundTruthSource",
    "IouType",
    "Predictions",
    "PredictionSource",
    "SkipReason",
    "SkipReport",
    "load_ground_truth",
    "load_predictions",
]

GroundTruthSource: TypeAlias = "str | os.PathLike[str] | Mapping[str, Any] | GroundTruth"
PredictionSource: TypeAlias = (
    "str | os.PathLike[str] | Sequence[Mapping[str, Any]] | Mapping[Any, Detections] | Predictions"
)

_MAX_EXAMPLES = 3


class IouType(Choice):
    """What is compared between a prediction and a ground-truth object."""

    BBOX = "bbox"
    SEGM = "segm"

    @classmethod
    def option_name(cls) -> str:
        """Name used in error messages.

        Example:
            >>> IouType.parse("SEGM")
            <IouType.SEGM: 'segm'>
        """
        return "iou_type"


class SkipReason(str, Enum):
    """Why a prediction was left out of an evaluation."""

    UNKNOWN_IMAGE = "unknown_image"
    UNKNOWN_CATEGORY = "unknown_category"
    INVALID_BOX = "invalid_box"
    INVALID_SCORE = "invalid_score"
    MISSING_SEGMENTATION = "missing_segmentation"

    @property
    def description(self) -> str:
        """A short phrase for messages, e.g. ``'for images not in the ground truth'``."""
        return _SKIP_TEXT[self]


_SKIP_TEXT = {
    SkipReason.UNKNOWN_IMAGE: "for images not in the ground truth",
    SkipReason.UNKNOWN_CATEGORY: "with categories not in the ground truth",
    SkipReason.INVALID_BOX: "with a malformed or non-finite box",
    SkipReason.INVALID_SCORE: "with a missing or non-finite score",
    SkipReason.MISSING_SEGMENTATION: "without a segmentation (needed for segm)",
}


@dataclass(frozen=True)
class SkipReport:
    """How many predictions were skipped, per reason, with a few example values.

    Example:
        >>> r = SkipReport(total=10, counts={SkipReason.UNKNOWN_IMAGE: 2},
        ...                examples={SkipReason.UNKNOWN_IMAGE: (7, 8)})
        >>> r.skipped, r.summary()
        (2, 'skipped 2 of 10 predictions: 2 for images not in the ground truth (e.g. 7, 8)')
    """

    total: int = 0
    counts: Mapping[SkipReason, int] = field(default_factory=dict)
    examples: Mapping[SkipReason, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        """Number of predictions skipped for any reason."""
        return int(sum(self.counts.values()))

    def summary(self) -> str:
        """One line for logs and warnings; ``'no predictions skipped'`` when clean."""
        if not self.skipped:
            return "no predictions skipped"
        parts = []
        for reason in SkipReason:
            n = self.counts.get(reason, 0)
            if n:
                ex = ", ".join(str(e) for e in self.examples.get(reason, ()))
                parts.append(f"{n} {reason.description}" + (f" (e.g. {ex})" if ex else ""))
        return f"skipped {self.skipped} of {self.total} predictions: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: totals plus per-reason counts and examples."""
        return {
            "total": self.total,
            "skipped": self.skipped,
            "counts": {r.value: int(n) for r, n in self.counts.items() if n},
            "examples": {r.value: list(e) for r, e in self.examples.items() if e},
        }


def _read_json(source: str | os.PathLike[str], what: str) -> Any:
    path = Path(source)
    if not path.is_file():
        raise TilewiseError(f"{what} file not found: {path}")
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise TilewiseError(f"{what} file is empty: {path} (expected COCO JSON)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TilewiseError(f"{what} file is not valid JSON: {path}: {exc}") from None


def _as_int_id(value: Any) -> int | None:
    """``value`` as an int id if it is an integer (or an integral float / digit string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _valid_xywh(bbox: Any) -> list[float] | None:
    if not isinstance(bbox, (list, tuple, np.ndarray)) or len(bbox) != 4:
        return None
    try:
        vals = [float(v) for v in bbox]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in vals) or vals[2] < 0 or vals[3] < 0:
        return None
    return vals


def _mask_rle(segmentation: Any, height: int, width: int) -> Any:
    """Polygons, uncompressed or compressed RLE as one compressed RLE."""
    from faster_coco_eval.core import mask as mask_utils

    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    if isinstance(segmentation, Mapping) and isinstance(segmentation.get("counts"), list):
        return mask_utils.frPyObjects(dict(segmentation), height, width)
    return segmentation


@dataclass(frozen=True)
class GroundTruth:
    """A validated COCO ground-truth dataset ready for the evaluator.

    Annotation ids are renumbered 1..N in file order (COCO's matcher treats id 0 as
    "unmatched"); ``original_ids[i]`` is the id of annotation ``i + 1`` in the source.

    Attributes:
        dataset: the validated COCO dict (images, categories, annotations); a private
            copy, safe for the evaluator to annotate.
        image_ids: image ids in file order.
        categories: category id to name.
        original_ids: source annotation ids, in order.
        notes: what was filled in while loading.
        name: where it came from (a path, or ``"<dict>"``).
    """

    dataset: dict[str, Any]
    image_ids: tuple[int, ...]
    categories: Mapping[int, str]
    original_ids: tuple[Any, ...]
    notes: tuple[str, ...] = ()
    name: str = "<dict>"

    @property
    def num_annotations(self) -> int:
        """Number of annotations, crowd regions included."""
        return len(self.dataset["annotations"])

    def image_lookup(self) -> dict[Any, int]:
        """Map accepted prediction ``image_id`` values (ids, file names, stems) to ids."""
        lookup: dict[Any, int] = {}
        for img in self.dataset["images"]:
            name = img.get("file_name")
            if isinstance(name, str) and name:
                lookup.setdefault(Path(name).stem, img["id"])
                lookup.setdefault(Path(name).name, img["id"])
                lookup.setdefault(name, img["id"])
        for img_id in self.image_ids:
            lookup[img_id] = img_id
        return lookup

    def fresh_dataset(self) -> dict[str, Any]:
        """A copy with fresh annotation dicts, for one evaluator run to annotate."""
        ds = dict(self.dataset)
        ds["annotations"] = [dict(a) for a in self.dataset["annotations"]]
        return ds


def load_ground_truth(
    source: GroundTruthSource, *, iou_type: IouType | str = IouType.BBOX
) -> GroundTruth:
    """Load and validate COCO ground truth from a JSON path or a dict.

    Args:
        source: path to a COCO JSON file, a COCO dict (not modified) or a ``GroundTruth``
            (returned as is).
        iou_type: ``"segm"`` additionally requires image sizes and a ``segmentation`` on
            every annotation.

    Returns:
        The validated ``GroundTruth``.

    Raises:
        TilewiseError: the data is not valid COCO ground truth; the message names the
            first offending entry.

    Example:
        >>> gt = load_ground_truth({
        ...     "images": [{"id": 1, "width": 10, "height": 10}],
        ...     "categories": [{"id": 3, "name": "car"}],
        ...     "annotations": [{"id": 0, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 2]}],
        ... })
        >>> gt.image_ids, dict(gt.categories), gt.dataset["annotations"][0]["area"]
        ((1,), {3: 'car'}, 8.0)
        >>> gt.notes
        ("filled missing 'area' of 1 annotation(s) from their boxes",)
    """
    if isinstance(source, GroundTruth):
        return source
    kind = IouType.parse(iou_type)
    if isinstance(source, (str, os.PathLike)):
        name = str(source)
        raw = _read_json(source, "ground-truth")
    elif isinstance(source, Mapping):
        name, raw = "<dict>", source
    else:
        raise TilewiseError(
            f"ground truth must be a COCO JSON path or dict, got {type(source).__name__}"
        )
    if not isinstance(raw, Mapping):
        raise TilewiseError(f"ground truth {name} must be a JSON object with 'images' etc.")
    for key in ("images", "annotations", "categories"):
        if not isinstance(raw.get(key), list):
            raise TilewiseError(f"ground truth {name} needs a list {key!r} (COCO format)")

    images: list[dict[str, Any]] = []
    sizes: dict[int, tuple[int, int]] = {}
    for i, img in enumerate(raw["images"]):
        img_id = _as_int_id(img.get("id")) if isinstance(img, Mapping) else None
        if img_id is None:
            raise TilewiseError(f"ground truth images[{i}] needs an integer 'id'")
        if img_id in sizes:
            raise TilewiseError(f"ground truth image id {img_id} appears twice")
        out = dict(img)
        out["id"] = img_id
        w, h = _as_int_id(img.get("width")), _as_int_id(img.get("height"))
        if kind is IouType.SEGM and (w is None or h is None or w <= 0 or h <= 0):
            raise TilewiseError(f"ground truth image {img_id} needs width and height for segm")
        sizes[img_id] = (h or 0, w or 0)
        images.append(out)

    categories: dict[int, str] = {}
    cats: list[dict[str, Any]] = []
    for i, cat in enumerate(raw["categories"]):
        cat_id = _as_int_id(cat.get("id")) if isinstance(cat, Mapping) else None
        if cat_id is None:
            raise TilewiseError(f"ground truth categories[{i}] needs an integer 'id'")
        if cat_id in categories:
            raise TilewiseError(f"ground truth category id {cat_id} appears twice")
        categories[cat_id] = str(cat.get("name", cat_id))
        cats.append({**cat, "id": cat_id, "name": categories[cat_id]})

    annotations: list[dict[str, Any]] = []
    original_ids: list[Any] = []
    seen_ids: set[Any] = set()
    filled: Counter[str] = Counter()
    for i, ann in enumerate(raw["annotations"]):
        if not isinstance(ann, Mapping):
            raise TilewiseError(f"ground truth annotations[{i}] is not an object")
        where = f"ground truth annotation {ann.get('id', f'#{i}')!r}"
        ann_id = ann.get("id")
        if ann_id is None:
            raise TilewiseError(f"{where} has no 'id'")
        if ann_id in seen_ids:
            raise TilewiseError(f"{where}: annotation id appears twice")
        seen_ids.add(ann_id)
        img_id = _as_int_id(ann.get("image_id"))
        if img_id not in sizes:
            raise TilewiseError(
                f"{where} refers to image_id {ann.get('image_id')!r}, which is not in 'images'"
            )
        cat_id = _as_int_id(ann.get("category_id"))
        if cat_id not in categories:
            raise TilewiseError(
                f"{where} has category_id {ann.get('category_id')!r}, which is not in "
                f"'categories' (ids {sorted(categories)[:10]})"
            )
        out = dict(ann)
        out.update(id=len(annotations) + 1, image_id=img_id, category_id=cat_id)
        if kind is IouType.SEGM and not out.get("segmentation"):
            raise TilewiseError(f"{where} has no 'segmentation', needed for segm evaluation")
        bbox = _valid_xywh(ann.get("bbox"))
        if bbox is None:
            if "bbox" in ann or kind is IouType.BBOX:
                raise TilewiseError(
                    f"{where} needs 'bbox' as [x, y, width, height] with finite values and "
                    f"width, height >= 0, got {ann.get('bbox')!r}"
                )
            from faster_coco_eval.core import mask as mask_utils

            rle = _mask_rle(out["segmentation"], *sizes[img_id])
            bbox = [float(v) for v in mask_utils.toBbox(rle)]
            filled["bbox"] += 1
        out["bbox"] = bbox
        if "iscrowd" not in out:
            out["iscrowd"] = 0
        area = ann.get("area")
        if not isinstance(area, (int, float, np.number)) or not math.isfinite(float(area)):
            if kind is IouType.SEGM:
                from faster_coco_eval.core import mask as mask_utils

                out["area"] = float(mask_utils.area(_mask_rle(out["segmentation"], *sizes[img_id])))
                filled["area_mask"] += 1
            else:
                out["area"] = float(bbox[2] * bbox[3])
                filled["area_box"] += 1
        annotations.append(out)
        original_ids.append(ann_id)

    notes = []
    if filled["area_box"]:
        n = filled["area_box"]
        notes.append(f"filled missing 'area' of {n} annotation(s) from their boxes")
    if filled["area_mask"]:
        notes.append(f"filled missing 'area' of {filled['area_mask']} annotation(s) from masks")
    if filled["bbox"]:
        notes.append(f"filled missing 'bbox' of {filled['bbox']} annotation(s) from masks")
    dataset = {
        **{k: v for k, v in raw.items() if k not in ("images", "annotations", "categories")},
        "images": images,
        "categories": cats,
        "annotations": annotations,
    }
    return GroundTruth(
        dataset=dataset,
        image_ids=tuple(img["id"] for img in images),
        categories=categories,
        original_ids=tuple(original_ids),
        notes=tuple(notes),
        name=name,
    )


@dataclass(frozen=True)
class Predictions:
    """Validated predictions in COCO results format, plus what was skipped.

    Attributes:
        annotations: COCO result dicts (``image_id``, ``category_id``, ``score``, ``bbox``
            and/or ``segmentation``), fresh copies with ids resolved.
        skipped: the per-reason counts of predictions left out.
    """

    annotations: list[dict[str, Any]]
    skipped: SkipReport

    def __len__(self) -> int:
        return len(self.annotations)

    def fresh_annotations(self) -> list[dict[str, Any]]:
        """Copies of the result dicts for one evaluator run to annotate."""
        return [dict(a) for a in self.annotations]


def _segm_rles(
    image_id: Any, det: Detections, sizes: Mapping[Any, tuple[int, int]]
) -> list[dict[str, Any]] | None:
    """COCO RLE of each mask of ``det`` at its ground-truth image's size (None: unknown image)."""
    from tilewise.masks import CompactMasks

    if image_id not in sizes:
        return None
    if not isinstance(det.masks, CompactMasks):
        raise TilewiseError(
            f"segm evaluation needs masks: the Detections of image {image_id!r} have "
            + ("none" if det.masks is None else f"a {type(det.masks).__name__}")
            + " (give tilewise.masks.CompactMasks, or COCO results with 'segmentation')"
        )
    w, h = sizes[image_id]
    if det.masks.image_wh is not None and tuple(det.masks.image_wh) != (w, h):
        raise TilewiseError(
            f"the masks of image {image_id!r} belong to a {det.masks.image_wh[0]}x"
            f"{det.masks.image_wh[1]} image, the ground truth says {w}x{h}"
        )
    return det.masks.to_coco_rle((w, h))


def _image_sizes(ground_truth: GroundTruth) -> dict[Any, tuple[int, int]]:
    """(width, height) of each image, under every key a prediction may use for it."""
    by_id = {
        im["id"]: (int(im.get("width") or 0), int(im.get("height") or 0))
        for im in ground_truth.dataset["images"]
    }
    return {key: by_id[i] for key, i in ground_truth.image_lookup().items() if i in by_id}


def _detections_to_results(
    detections: Mapping[Any, Detections],
    class_to_category: Mapping[int, int] | None,
    segm_of: GroundTruth | None = None,
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    sizes = None if segm_of is None else _image_sizes(segm_of)
    for image_id, det in detections.items():
        if not isinstance(det, Detections):
            raise TilewiseError(
                f"predictions for image {image_id!r} must be Detections, got {type(det).__name__}"
            )
        xyxy = det.xyxy.astype(np.float64)
        wh = xyxy[:, 2:] - xyxy[:, :2]
        rles = None
        if sizes is not None and len(det):
            rles = _segm_rles(image_id, det, sizes)
        for k in range(len(det)):
            cls = int(det.class_id[k])
            if class_to_category is None:
                category: Any = cls
            elif cls in class_to_category:
                category = int(class_to_category[cls])
            else:
                category = f"class_id {cls}"  # not in the mapping: skipped as unknown
            results.append(
                {
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": [xyxy[k, 0], xyxy[k, 1], wh[k, 0], wh[k, 1]],
                    "score": float(det.confidence[k]),
                }
            )
            if rles is not None:
                results[-1]["segmentation"] = rles[k]
    return results


def _is_detections_mapping(source: Mapping[Any, Any]) -> bool:
    return bool(source) and all(isinstance(v, Detections) for v in source.values())


def load_predictions(
    source: PredictionSource,
    ground_truth: GroundTruth,
    *,
    iou_type: IouType | str = IouType.BBOX,
    class_to_category: Mapping[int, int] | None = None,
    strict: bool = False,
) -> Predictions:
    """Load predictions and check them against the ground truth.

    Args:
        source: a COCO results JSON path (a list of results, or an object with an
            ``annotations`` list), a list of result dicts, a mapping of image id (or
            file name) to ``Detections``, or already loaded ``Predictions`` (returned
            as is). For ``"segm"``, ``Detections`` masks (``CompactMasks``) are encoded
            as COCO RLE at the ground-truth image's size.
        ground_truth: the loaded ground truth.
        iou_type: ``"segm"`` requires a ``segmentation`` (RLE or polygons) on each result.
        class_to_category: for ``Detections`` input, maps ``class_id`` to the COCO
            ``category_id``; ``None`` uses the class id as the category id.
        strict: raise instead of skipping any prediction.

    Returns:
        The usable predictions and a ``SkipReport``.

    Raises:
        TilewiseError: malformed input, nothing usable left, or any skip when ``strict``.

    Warns:
        TilewiseWarning: some predictions were skipped (the message gives counts).

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> gt = load_ground_truth({"images": [{"id": 1}], "categories": [{"id": 1}],
        ...     "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4]}]})
        >>> preds = load_predictions({1: Detections(np.array([[0, 0, 4, 4]]))}, gt,
        ...                          class_to_category={0: 1})
        >>> preds.annotations[0]["bbox"], preds.skipped.skipped
        ([0.0, 0.0, 4.0, 4.0], 0)
    """
    kind = IouType.parse(iou_type)
    if isinstance(source, Predictions):
        return source
    raw: Any
    if isinstance(source, (str, os.PathLike)):
        raw = _read_json(source, "predictions")
    elif isinstance(source, Mapping) and _is_detections_mapping(source):
        segm = kind is IouType.SEGM
        if segm and all(d.masks is None for d in source.values()):
            raise TilewiseError(
                "segm evaluation needs masks: pass Detections with masks "
                "(tilewise.masks.CompactMasks) or COCO results with 'segmentation' "
                "(RLE or polygons)"
            )
        raw = _detections_to_results(source, class_to_category, ground_truth if segm else None)
    else:
        raw = source
    if isinstance(raw, Mapping):
        if "annotations" in raw and isinstance(raw["annotations"], list):
            raw = raw["annotations"]
        elif not raw:
            raw = []
        else:
            raise TilewiseError(
                "predictions must be a list of COCO results, an object with an 'annotations' "
                "list, or a mapping of image id to Detections"
            )
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise TilewiseError(f"predictions must be a list of results, got {type(raw).__name__}")

    lookup = ground_truth.image_lookup()
    categories = ground_truth.categories
    counts: Counter[SkipReason] = Counter()
    examples: dict[SkipReason, list[Any]] = {}
    out: list[dict[str, Any]] = []

    def skip(reason: SkipReason, example: Any) -> None:
        counts[reason] += 1
        ex = examples.setdefault(reason, [])
        if len(ex) < _MAX_EXAMPLES and example not in ex:
            ex.append(example)

    for i, res in enumerate(raw):
        if not isinstance(res, Mapping):
            raise TilewiseError(f"prediction #{i} is not an object: {res!r:.80}")
        if "image_id" not in res or "category_id" not in res:
            raise TilewiseError(f"prediction #{i} needs 'image_id' and 'category_id': {res!r:.120}")
        img_key = res["image_id"]
        img_id = lookup.get(img_key) if isinstance(img_key, (int, str)) else None
        if img_id is None:
            as_int = _as_int_id(img_key)
            img_id = lookup.get(as_int) if as_int is not None else None
        if img_id is None:
            skip(SkipReason.UNKNOWN_IMAGE, img_key)
            continue
        cat_id = _as_int_id(res["category_id"])
        if cat_id not in categories:
            skip(SkipReason.UNKNOWN_CATEGORY, res["category_id"])
            continue
        score = res.get("score")
        if (
            isinstance(score, bool)
            or not isinstance(score, (int, float, np.number))
            or not math.isfinite(float(score))
        ):
            skip(SkipReason.INVALID_SCORE, score)
            continue
        item = dict(res)
        item.update(image_id=img_id, category_id=cat_id, score=float(score))
        item.pop("id", None)
        if kind is IouType.SEGM:
            if not res.get("segmentation"):
                skip(SkipReason.MISSING_SEGMENTATION, img_key)
                continue
            if "bbox" in res:
                bbox = _valid_xywh(res["bbox"])
                if bbox is None:
                    skip(SkipReason.INVALID_BOX, res.get("bbox"))
                    continue
                item["bbox"] = bbox
        else:
            bbox = _valid_xywh(res.get("bbox"))
            if bbox is None:
                skip(SkipReason.INVALID_BOX, res.get("bbox"))
                continue
            item["bbox"] = bbox
        out.append(item)

    report = SkipReport(
        total=len(raw),
        counts=dict(counts),
        examples={k: tuple(v) for k, v in examples.items()},
    )
    if report.skipped:
        hint = _mismatch_hint(raw, ground_truth, counts)
        if not out:
            raise TilewiseError(
                f"none of the {len(raw)} predictions can be evaluated: {report.summary()}"
                + (f". {hint}" if hint else "")
            )
        if strict:
            raise TilewiseError(report.summary() + (f". {hint}" if hint else ""))
        warnings.warn(
            TilewiseWarning(report.summary() + (f". {hint}" if hint else "")), stacklevel=2
        )
    return Predictions(annotations=out, skipped=report)


def _mismatch_hint(
    raw: Sequence[Any], ground_truth: GroundTruth, counts: Mapping[SkipReason, int]
) -> str:
    """Likely causes of unknown images or categories, or ``''``."""
    hints = []
    if counts.get(SkipReason.UNKNOWN_IMAGE, 0):
        sample = sorted(ground_truth.image_ids)[:_MAX_EXAMPLES]
        hints.append(
            "Check that prediction image_id values match the ground truth's image ids "
            f"(e.g. {sample}) or file names"
        )
    if counts.get(SkipReason.UNKNOWN_CATEGORY, 0):
        cats = sorted(ground_truth.categories)
        pred_cats = sorted({c for r in raw if (c := _as_int_id(r.get("category_id"))) is not None})
        if (
            pred_cats
            and pred_cats[0] == cats[0] - 1
            and all(c + 1 in ground_truth.categories for c in pred_cats)
        ):
            hints.append(
                "Prediction category ids look 0-based while the ground truth's start at "
                f"{cats[0]}: pass class_to_category or shift them"
            )
        else:
            hints.append(
                f"Ground-truth category ids are {cats[:10]}; predictions use {pred_cats[:10]}"
            )
    return ". ".join(hints)
