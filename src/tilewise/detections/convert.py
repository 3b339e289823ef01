"""Converters between ``Detections`` and other formats: supervision and COCO.

supervision is an optional peer (``pip install tilewise[bench]``); it is imported only
inside the supervision converters, so this module is cheap to import.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from tilewise.detections.core import Detections
from tilewise.errors import TilewiseError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import supervision

__all__ = [
    "COCO_AREA_KEY",
    "COCO_ID_KEY",
    "COCO_ISCROWD_KEY",
    "CategoryIds",
    "TRACKER_ID_KEY",
    "from_coco_annotations",
    "from_supervision",
    "to_coco_results",
    "to_supervision",
]

TRACKER_ID_KEY = "tracker_id"
"""``data`` key that holds supervision's ``tracker_id`` column on the tilewise side."""

COCO_ID_KEY = "id"
"""``data`` key for the COCO annotation ``id`` kept by ``from_coco_annotations``."""

COCO_ISCROWD_KEY = "iscrowd"
"""``data`` key for the COCO ``iscrowd`` flag kept by ``from_coco_annotations``."""

COCO_AREA_KEY = "area"
"""``data`` key for the COCO annotation ``area`` kept by ``from_coco_annotations``."""

CategoryIds: TypeAlias = "Mapping[int, int] | Sequence[int]"

_SUPERVISION_HINT = (
    "supervision is not installed; install it with `pip install tilewise[bench]` "
    "or `pip install supervision`"
)
_MASKS_NOT_SUPPORTED = (
    "masks are not supported by the supervision converter unless they are "
    "tilewise.masks.CompactMasks (got {kind}); convert or drop them first"
)


# ---------------------------------------------------------------------------- supervision
def _import_supervision() -> Any:
    try:
        import supervision
    except ImportError as exc:
        raise TilewiseError(_SUPERVISION_HINT) from exc
    return supervision


def _sv_masks(det: Detections, image_wh: tuple[int, int] | None, dense: bool) -> Any:
    """``CompactMasks`` as supervision's ``CompactMask`` (crop RLE) or a dense stack."""
    from supervision.detection.compact_mask import CompactMask

    from tilewise.masks import CompactMasks
    from tilewise.masks.rle import rle_encode

    masks = det.masks
    if not isinstance(masks, CompactMasks):
        raise TilewiseError(_MASKS_NOT_SUPPORTED.format(kind=type(masks).__name__))
    size = image_wh if image_wh is not None else masks.image_wh
    if size is None:
        raise TilewiseError("converting masks needs the image size: pass image_wh=(w, h)")
    w, h = (int(v) for v in size)
    if dense:
        return masks.to_dense((w, h))
    inside, _ = masks.clipped(np.tile([0, 0, w, h], (len(masks), 1)))
    rles, shapes, offsets = [], [], []
    for i in range(len(inside)):
        crop = inside.crop(i)
        x0, y0 = (int(v) for v in inside.origins[i])
        if crop.size == 0:  # supervision's own stand-in for an empty mask: a 1 x 1 crop
            crop = np.zeros((1, 1), dtype=bool)
            x0, y0 = min(max(x0, 0), max(w - 1, 0)), min(max(y0, 0), max(h - 1, 0))
        rles.append(rle_encode(crop).astype(np.int32))
        shapes.append(crop.shape)
        offsets.append((x0, y0))
    return CompactMask(
        rles,
        np.array(shapes, dtype=np.int32).reshape(-1, 2),
        np.array(offsets, dtype=np.int32).reshape(-1, 2),
        (h, w),
    )


def to_supervision(
    det: Detections, *, image_wh: tuple[int, int] | None = None, dense_masks: bool = False
) -> supervision.Detections:
    """Convert tilewise ``Detections`` to ``supervision.Detections``.

    Boxes, confidences, class ids and every ``data`` column are copied. A ``data`` column
    named ``tracker_id`` (1-D integers) becomes supervision's ``tracker_id`` field.
    ``CompactMasks`` masks become supervision's ``CompactMask`` (crop RLE, never a full
    image per mask) or, with ``dense_masks``, a dense (N, H, W) array; parts of masks
    outside the image are cut. Other mask stores are refused (``TilewiseError``) rather
    than converted without them.

    Args:
        det: the detections to convert.
        image_wh: (width, height) of the image, for masks; by default ``masks.image_wh``.
        dense_masks: give supervision a dense (N, H, W) bool mask array.

    Returns:
        A new ``supervision.Detections`` that shares no memory with ``det``.

    Raises:
        TilewiseError: supervision is missing, ``det`` has masks that are not
            ``CompactMasks`` or of unknown image size, or non-finite boxes.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> det = Detections(np.array([[0, 0, 10, 10]]), confidence=[0.5], class_id=[3])
        >>> import pytest; _ = pytest.importorskip("supervision")  # needs tilewise[bench]
        >>> sv_det = to_supervision(det)
        >>> type(sv_det).__name__, sv_det.class_id.tolist()
        ('Detections', [3])
    """
    if not isinstance(det, Detections):
        raise TilewiseError(f"to_supervision takes Detections, got {type(det).__name__}")
    sv = _import_supervision()
    mask = None if det.masks is None else _sv_masks(det, image_wh, dense_masks)
    if not np.isfinite(det.xyxy).all():
        bad = int((~np.isfinite(det.xyxy).all(axis=1)).sum())
        raise TilewiseError(
            f"supervision needs finite boxes, {bad} detection(s) have NaN/inf coordinates; "
            "filter them first with det[det.finite_mask()]"
        )
    data = {key: value.copy() for key, value in det.data.items()}
    tracker_id = None
    candidate = data.get(TRACKER_ID_KEY)
    if candidate is not None and candidate.ndim == 1 and np.issubdtype(candidate.dtype, np.integer):
        tracker_id = data.pop(TRACKER_ID_KEY).astype(np.int64)
    return sv.Detections(
        xyxy=det.xyxy.copy(),
        mask=mask,
        confidence=det.confidence.copy(),
        class_id=det.class_id.copy(),
        tracker_id=tracker_id,
        data=data,
    )


def from_supervision(sv_det: supervision.Detections) -> Detections:
    """Convert ``supervision.Detections`` to tilewise ``Detections``.

    A missing (``None``) confidence becomes 1 and a missing class id becomes 0, the
    ``Detections`` defaults. ``tracker_id`` goes to ``data["tracker_id"]``; list-valued
    ``data`` entries become arrays. The image-level ``metadata`` dict is not carried.
    Masks, dense (N, H, W) or supervision's ``CompactMask``, become
    ``tilewise.masks.CompactMasks`` (crop by crop for ``CompactMask``).

    Args:
        sv_det: a ``supervision.Detections``.

    Returns:
        New ``Detections`` that share no memory with ``sv_det``.

    Raises:
        TilewiseError: supervision is missing, the input is not a ``supervision.Detections``,
            its masks are malformed, or its ``data`` has a ``tracker_id`` key besides the
            field.

    Example:
        >>> import numpy as np
        >>> import pytest; sv = pytest.importorskip("supervision")  # needs tilewise[bench]
        >>> sv_det = sv.Detections(xyxy=np.array([[0.0, 0.0, 4.0, 4.0]]))
        >>> det = from_supervision(sv_det)
        >>> det.confidence.tolist(), det.class_id.tolist()
        ([1.0], [0])
    """
    sv = _import_supervision()
    if not isinstance(sv_det, sv.Detections):
        raise TilewiseError(
            f"from_supervision takes supervision.Detections, got {type(sv_det).__name__}"
        )
    masks = None if sv_det.mask is None else _from_sv_masks(sv_det.mask, sv_det.xyxy)
    data: dict[str, np.ndarray] = {
        str(key): np.array(value, copy=True) for key, value in (sv_det.data or {}).items()
    }
    if sv_det.tracker_id is not None:
        if TRACKER_ID_KEY in data:
            raise TilewiseError(
                "supervision Detections has both a tracker_id field and a "
                f"data[{TRACKER_ID_KEY!r}] entry; rename the data entry first"
            )
        data[TRACKER_ID_KEY] = np.asarray(sv_det.tracker_id, dtype=np.int64).copy()
    return Detections(
        np.array(sv_det.xyxy, copy=True),
        None if sv_det.confidence is None else np.array(sv_det.confidence, copy=True),
        None if sv_det.class_id is None else np.array(sv_det.class_id, copy=True),
        masks=masks,
        data=data,
    )


def _from_sv_masks(mask: Any, xyxy: np.ndarray) -> Any:
    from supervision.detection.compact_mask import CompactMask

    from tilewise.masks import CompactMasks

    if isinstance(mask, CompactMask):
        h, w = (int(v) for v in mask.image_shape)
        crops = [mask.crop(i) for i in range(len(mask))]
        return CompactMasks.from_crops(crops, np.asarray(mask.offsets), image_wh=(w, h))
    arr = np.asarray(mask)
    if arr.ndim != 3 or arr.shape[0] != len(xyxy):
        raise TilewiseError(
            f"supervision masks must have shape ({len(xyxy)}, H, W), got {arr.shape}"
        )
    return CompactMasks.from_dense(arr, xyxy)


# ---------------------------------------------------------------------------- COCO
def _is_int(value: object) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)


def _category_lookup(class_ids: np.ndarray, category_ids: CategoryIds | None) -> list[int]:
    """Map each class id to its COCO category id; unknown class ids raise."""
    if category_ids is None:
        return class_ids.tolist()
    if isinstance(category_ids, np.ndarray):
        category_ids = category_ids.tolist()
    unique = np.unique(class_ids).tolist()
    table: dict[int, int] = {}
    missing: list[int] = []
    if isinstance(category_ids, Mapping):
        for cid in unique:
            if cid in category_ids:
                table[cid] = category_ids[cid]
            else:
                missing.append(cid)
        known = f"known class ids: {sorted(category_ids)[:20]}"
    elif isinstance(category_ids, Sequence) and not isinstance(category_ids, (str, bytes)):
        for cid in unique:
            if 0 <= cid < len(category_ids):
                table[cid] = category_ids[cid]
            else:
                missing.append(cid)
        known = f"the sequence covers class ids 0..{len(category_ids) - 1}"
    else:
        raise TilewiseError(
            "category_ids must be a mapping or a sequence of COCO category ids, "
            f"got {type(category_ids).__name__}"
        )
    if missing:
        raise TilewiseError(f"no COCO category id for class id(s) {missing}; {known}")
    for cid, cat in table.items():
        if not _is_int(cat):
            raise TilewiseError(f"COCO category id for class {cid} must be an int, got {cat!r}")
    return [int(table[c]) for c in class_ids.tolist()]


def to_coco_results(
    det: Detections, image_id: int | str, *, category_ids: CategoryIds | None = None
) -> list[dict[str, Any]]:
    """Convert detections to COCO results entries, one dict per detection.

    Each entry has ``image_id``, ``category_id``, ``bbox`` as ``[x, y, w, h]`` floats in
    pixels and ``score``, as expected by COCO evaluation tools.

    Args:
        det: the detections of one image.
        image_id: the COCO id of that image.
        category_ids: maps class ids to COCO category ids, a dict or a sequence indexed by
            class id. By default the class id is the category id.

    Returns:
        A list of JSON-serialisable dicts, in the order of ``det``.

    Raises:
        TilewiseError: a class id has no category id, or a box or score is not finite.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> det = Detections(np.array([[10, 20, 30, 50]]), confidence=[0.75], class_id=[0])
        >>> to_coco_results(det, image_id=7, category_ids=[1])
        [{'image_id': 7, 'category_id': 1, 'bbox': [10.0, 20.0, 20.0, 30.0], 'score': 0.75}]
    """
    if not isinstance(det, Detections):
        raise TilewiseError(f"to_coco_results takes Detections, got {type(det).__name__}")
    if not (_is_int(image_id) or isinstance(image_id, str)):
        raise TilewiseError(f"image_id must be an int or a str, got {image_id!r}")
    image_id = image_id if isinstance(image_id, str) else int(image_id)
    if len(det) == 0:
        return []
    finite = det.finite_mask()
    if not finite.all():
        raise TilewiseError(
            f"COCO results need finite boxes and scores, {int((~finite).sum())} detection(s) "
            "have NaN/inf values; filter them first with det[det.finite_mask()]"
        )
    categories = _category_lookup(det.class_id, category_ids)
    xyxy = det.xyxy.astype(np.float64)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1).tolist()
    scores = det.confidence.astype(np.float64).tolist()
    return [
        {"image_id": image_id, "category_id": cat, "bbox": box, "score": score}
        for cat, box, score in zip(categories, xywh, scores, strict=True)
    ]


def _optional_column(
    annotations: Sequence[Mapping[str, Any]], key: str, default: object | None
) -> list[Any] | None:
    """Values of ``key``; None when no annotation has it; ``default`` fills gaps if given."""
    present = [key in ann for ann in annotations]
    if not any(present):
        return None
    if not all(present):
        if default is None:
            missing = present.index(False)
            raise TilewiseError(
                f"some annotations have {key!r} and some do not (annotation {missing} has "
                f"none); give it to all or none"
            )
        return [ann.get(key, default) for ann in annotations]
    return [ann[key] for ann in annotations]


def _parse_bbox(ann: Mapping[str, Any], i: int) -> list[float]:
    bbox = ann.get("bbox")
    if not isinstance(bbox, (Sequence, np.ndarray)) or isinstance(bbox, str) or len(bbox) != 4:
        raise TilewiseError(f"annotation {i}: 'bbox' must be [x, y, w, h], got {bbox!r}")
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise TilewiseError(f"annotation {i}: 'bbox' must hold numbers, got {bbox!r}") from exc
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise TilewiseError(f"annotation {i}: 'bbox' must be finite, got {bbox!r}")
    if w < 0 or h < 0:
        raise TilewiseError(f"annotation {i}: 'bbox' width and height must be >= 0, got {bbox!r}")
    return [x, y, x + w, y + h]


def from_coco_annotations(
    annotations: Sequence[Mapping[str, Any]],
    *,
    image_id: int | str | None = None,
    category_to_class: Mapping[int, int] | None = None,
) -> Detections:
    """Build ``Detections`` from COCO annotation (or results) dicts.

    ``bbox`` ``[x, y, w, h]`` becomes ``xyxy``; ``category_id`` becomes ``class_id``
    (through ``category_to_class`` when given); ``score``, when the entries have one,
    becomes ``confidence`` (otherwise 1). ``id``, ``iscrowd`` and ``area`` are kept in
    ``data`` under the same names when present (a missing ``iscrowd`` counts as 0).

    Args:
        annotations: COCO annotation dicts, e.g. ``coco["annotations"]``.
        image_id: keep only the annotations of this image; by default all are used.
        category_to_class: maps COCO category ids to class ids. By default the category id
            is the class id. To invert a ``category_ids`` sequence given to
            ``to_coco_results`` use ``{cat: i for i, cat in enumerate(category_ids)}``.

    Returns:
        Detections in the order of the (selected) annotations.

    Raises:
        TilewiseError: a malformed entry, an unknown category, or ``score``/``id``/``area``
            given for some entries only.

    Example:
        >>> anns = [{"id": 5, "image_id": 1, "category_id": 3, "bbox": [10, 20, 20, 30],
        ...          "iscrowd": 0}]
        >>> det = from_coco_annotations(anns, image_id=1, category_to_class={3: 0})
        >>> det.xyxy.tolist(), det.class_id.tolist(), det.data["id"].tolist()
        ([[10.0, 20.0, 30.0, 50.0]], [0], [5])
    """
    if isinstance(annotations, Mapping) or not isinstance(annotations, Sequence):
        raise TilewiseError(
            f"annotations must be a list of dicts, got {type(annotations).__name__}"
        )
    for i, ann in enumerate(annotations):
        if not isinstance(ann, Mapping):
            raise TilewiseError(f"annotation {i} must be a dict, got {type(ann).__name__}")
    if image_id is not None:
        for i, ann in enumerate(annotations):
            if "image_id" not in ann:
                raise TilewiseError(f"annotation {i} has no 'image_id' to select image {image_id}")
        annotations = [ann for ann in annotations if ann["image_id"] == image_id]
    if not annotations:
        return Detections.empty()

    xyxy = [_parse_bbox(ann, i) for i, ann in enumerate(annotations)]
    classes: list[int] = []
    for i, ann in enumerate(annotations):
        cat = ann.get("category_id")
        if not _is_int(cat):
            raise TilewiseError(f"annotation {i}: 'category_id' must be an int, got {cat!r}")
        if category_to_class is not None:
            if cat not in category_to_class:
                raise TilewiseError(
                    f"annotation {i}: category id {cat} is not in category_to_class "
                    f"(known: {sorted(category_to_class)[:20]})"
                )
            cat = category_to_class[cat]
        classes.append(int(cat))

    scores = _optional_column(annotations, "score", None)
    data: dict[str, np.ndarray] = {}
    ids = _optional_column(annotations, "id", None)
    if ids is not None:
        data[COCO_ID_KEY] = np.asarray(ids, dtype=np.int64)
    iscrowd = _optional_column(annotations, "iscrowd", 0)
    if iscrowd is not None:
        data[COCO_ISCROWD_KEY] = np.asarray(iscrowd, dtype=np.int64)
    area = _optional_column(annotations, "area", None)
    if area is not None:
        data[COCO_AREA_KEY] = np.asarray(area, dtype=np.float64)
    try:
        confidence = None if scores is None else np.asarray(scores, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise TilewiseError(f"'score' values must be numbers: {exc}") from exc
    return Detections(np.asarray(xyxy, dtype=np.float32), confidence, classes, data=data)
