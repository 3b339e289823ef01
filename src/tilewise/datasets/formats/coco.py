"""COCO JSON: boxes, polygons and RLE masks (compressed and uncompressed)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.datasets.dataset import Dataset, DatasetBuilder, DatasetFormatError
from tilewise.datasets.formats.policy import OnError, RecordPolicy
from tilewise.datasets.segments import SegmentKind
from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_write_text
from tilewise.masks.rle import rle_area, rle_bbox, rle_from_string, rle_to_string

__all__ = ["coco_dict", "read_coco", "write_coco"]


def load_json(path: Path) -> Any:
    """Parse a JSON file; malformed or truncated JSON raises naming the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(f"{path}: cannot read: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(
            f"{path}:line {exc.lineno} column {exc.colno}: malformed JSON: {exc.msg}"
        ) from None


def _image_root(path: Path, images: list[dict[str, Any]], image_dir: Path | None) -> Path:
    if image_dir is not None:
        return image_dir
    stem = path.stem.removeprefix("instances_")
    candidates = [
        path.parent,
        path.parent.parent / "images" / stem,
        path.parent / "images",
        path.parent.parent / "images",
        path.parent.parent,
    ]
    probe = next((im.get("file_name") for im in images if isinstance(im, dict)), None)
    if isinstance(probe, str):
        for cand in candidates:
            if (cand / probe).is_file():
                return cand
    return path.parent


def _number_list(value: Any) -> list[float] | None:
    if not isinstance(value, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        return None
    if not all(math.isfinite(v) for v in value):
        return None
    return value


def _parse_segmentation(
    seg: Any, hw: tuple[int, int]
) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
    """Return (rings, rle); raises TilewiseError with a reason when malformed."""
    if seg is None or (isinstance(seg, list) and len(seg) == 0):
        return None, None
    if isinstance(seg, list):
        rings = []
        for k, ring in enumerate(seg):
            values = _number_list(ring)
            if values is None:
                raise TilewiseError(f"polygon {k} must be a list of finite numbers")
            if len(values) % 2:
                raise TilewiseError(f"polygon {k} has an odd number of coordinates")
            rings.append(np.asarray(values, dtype=np.float64).reshape(-1, 2))
        return rings, None
    if isinstance(seg, dict):
        size = seg.get("size")
        counts = seg.get("counts")
        if not (isinstance(size, list) and len(size) == 2):
            raise TilewiseError("RLE needs a 'size' of [height, width]")
        if tuple(int(v) for v in size) != hw:
            raise TilewiseError(f"RLE size {size} does not match the image size {list(hw)}")
        if isinstance(counts, str):
            runs = rle_from_string(counts)
        else:
            values = _number_list(counts)
            if values is None or any(v < 0 for v in values):
                raise TilewiseError("RLE 'counts' must be a string or a list of counts >= 0")
            runs = np.asarray(values, dtype=np.uint32)
        if int(runs.astype(np.int64).sum()) != hw[0] * hw[1]:
            raise TilewiseError(f"RLE runs do not cover the {hw[0]}x{hw[1]} image")
        return None, runs
    raise TilewiseError("segmentation must be a list of polygons or an RLE dict")


def read_coco(
    path: str | os.PathLike[str],
    *,
    image_dir: str | os.PathLike[str] | None = None,
    on_error: OnError | str = OnError.RAISE,
    split: str = "",
) -> Dataset:
    """Read a COCO JSON file (boxes, polygons, RLE).

    Bad records (unknown image or category ids, malformed boxes or segmentations) raise a
    ``DatasetFormatError`` naming the file and record, or with ``on_error="skip"`` are
    skipped and listed in ``Dataset.issues``. Boxes outside their image and zero-size boxes
    are kept and listed in ``issues``; tiling and the health check count them.

    Args:
        path: the JSON file.
        image_dir: directory ``file_name`` is relative to (default: found next to the file).
        on_error: ``"raise"`` or ``"skip"``.
        split: split name given to every image (e.g. ``"train"``).

    Example:
        >>> import tempfile, pathlib, json
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"
        >>> _ = p.write_text(json.dumps({"images": [{"id": 1, "file_name": "x.png",
        ...     "width": 10, "height": 8}], "categories": [{"id": 3, "name": "car"}],
        ...     "annotations": [{"id": 7, "image_id": 1, "category_id": 3,
        ...     "bbox": [1, 2, 3, 4]}]}))
        >>> ds = read_coco(p)
        >>> ds.boxes.tolist(), ds.class_names, ds.category_ids.tolist()
        ([[1.0, 2.0, 4.0, 6.0]], ('car',), [3])
    """
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict):
        raise DatasetFormatError(f"{path}: top level must be a JSON object")
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetFormatError(f"{path}: missing or invalid '{key}' list")
    anns = data.get("annotations", [])
    if not isinstance(anns, list):
        raise DatasetFormatError(f"{path}: 'annotations' must be a list")

    cat_index: dict[int, int] = {}
    names: list[str] = []
    for k, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int):
            raise DatasetFormatError(f"{path}:categories[{k}]: needs an integer 'id'")
        if cat["id"] in cat_index:
            raise DatasetFormatError(f"{path}:categories[{k}]: duplicate category id {cat['id']}")
        cat_index[cat["id"]] = len(names)
        names.append(str(cat.get("name", cat["id"])))
    builder = DatasetBuilder(names, list(cat_index))
    policy = RecordPolicy(on_error, builder)

    img_index: dict[int, int] = {}
    sizes: list[tuple[int, int]] = []
    for k, im in enumerate(data["images"]):
        where = f"images[{k}]"
        if not isinstance(im, dict):
            policy.bad(path, where, "image record must be an object")
            continue
        iid, name, w, h = im.get("id"), im.get("file_name"), im.get("width"), im.get("height")
        if not isinstance(iid, int) or not isinstance(name, str):
            policy.bad(path, where, "needs an integer 'id' and a string 'file_name'")
            continue
        where = f"images[{k}] (id {iid})"
        if iid in img_index:
            policy.bad(path, where, f"duplicate image id {iid}")
            continue
        if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
            policy.bad(path, where, f"needs positive integer 'width' and 'height', got {w}, {h}")
            continue
        prov = im.get("tilewise") if isinstance(im.get("tilewise"), dict) else {}
        offset = prov.get("offset", (0, 0))
        img_index[iid] = builder.add_image(
            name,
            w,
            h,
            image_id=iid,
            split=str(prov.get("split", split)),
            source=str(prov.get("source", "")),
            offset=(int(offset[0]), int(offset[1])),
        )
        sizes.append((w, h))

    cols = _annotations_fast(anns, img_index, cat_index)
    if cols is None:
        cols = _annotations_slow(path, anns, img_index, cat_index, sizes, policy)
    boxes = cols.boxes
    img_arr = cols.image
    size_arr = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)[img_arr]
    bad_size = ~((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))
    oob = ~bad_size & (
        (boxes[:, 0] < 0)
        | (boxes[:, 1] < 0)
        | (boxes[:, 2] > size_arr[:, 0])
        | (boxes[:, 3] > size_arr[:, 1])
    )
    for flags, message in (
        (bad_size, "zero or negative box size"),
        (oob, "box extends outside the image"),
    ):
        for r in np.flatnonzero(flags).tolist():
            k = int(cols.record[r])
            policy.note(path, _where(k, anns[k]), message)
    has_seg = cols.polygons is not None and (
        any(p is not None for p in cols.polygons) or any(r is not None for r in cols.rles or [])
    )
    builder.add_boxes(
        img_arr,
        boxes,
        cols.class_id,
        iscrowd=cols.iscrowd,
        ann_id=cols.ann_id,
        polygons=cols.polygons if has_seg else None,
        rles=cols.rles if has_seg else None,
    )
    policy.warn_if_skipped(path)
    root = _image_root(path, data["images"], Path(image_dir) if image_dir else None)
    return builder.build(root=root)


@dataclass
class _Columns:
    image: np.ndarray
    boxes: np.ndarray
    class_id: np.ndarray
    iscrowd: np.ndarray
    ann_id: np.ndarray
    record: np.ndarray
    polygons: list[list[np.ndarray] | None] | None
    rles: list[np.ndarray | None] | None


def _annotations_slow(
    path: Path,
    anns: list[Any],
    img_index: dict[int, int],
    cat_index: dict[int, int],
    sizes: list[tuple[int, int]],
    policy: RecordPolicy,
) -> _Columns:
    """Record by record, with an error or a reported skip naming each bad record."""
    img_l: list[int] = []
    cls_l: list[int] = []
    box_l: list[tuple[float, float, float, float]] = []
    crowd_l: list[bool] = []
    id_l: list[int] = []
    where_l: list[int] = []
    poly_l: list[list[np.ndarray] | None] = []
    rle_l: list[np.ndarray | None] = []
    for k, ann in enumerate(anns):
        if not isinstance(ann, dict):
            policy.bad(path, f"annotations[{k}]", "annotation record must be an object")
            continue
        image = img_index.get(ann.get("image_id"))  # type: ignore[arg-type]
        cls = cat_index.get(ann.get("category_id"))  # type: ignore[arg-type]
        if image is None or cls is None:
            key = "image_id" if image is None else "category_id"
            policy.bad(path, _where(k, ann), f"unknown {key} {ann.get(key)!r}")
            continue
        w, h = sizes[image]
        seg = ann.get("segmentation")
        rings = rle = None
        if seg:
            try:
                rings, rle = _parse_segmentation(seg, (h, w))
            except TilewiseError as exc:
                policy.bad(path, _where(k, ann), f"bad segmentation: {exc}")
                continue
        bbox = ann.get("bbox")
        if _is_box(bbox):
            x, y, bw, bh = bbox  # type: ignore[misc]
            xyxy = (x, y, x + bw, y + bh)
        elif "bbox" not in ann and (rings is not None or rle is not None):
            xyxy = _segmentation_box(rings, rle, (h, w))
        else:
            policy.bad(path, _where(k, ann), f"'bbox' must be 4 finite numbers, got {bbox!r}")
            continue
        ann_id = ann.get("id")
        img_l.append(image)
        cls_l.append(cls)
        box_l.append(xyxy)
        crowd_l.append(bool(ann.get("iscrowd", 0)))
        id_l.append(ann_id if type(ann_id) is int else -1)
        where_l.append(k)
        poly_l.append(rings)
        rle_l.append(rle)
    return _Columns(
        np.asarray(img_l, dtype=np.int64),
        np.asarray(box_l, dtype=np.float64).reshape(-1, 4),
        np.asarray(cls_l, dtype=np.int64),
        np.asarray(crowd_l, dtype=bool),
        np.asarray(id_l, dtype=np.int64),
        np.asarray(where_l, dtype=np.int64),
        poly_l,
        rle_l,
    )


def _annotations_fast(
    anns: list[Any], img_index: dict[int, int], cat_index: dict[int, int]
) -> _Columns | None:
    """Whole-column parsing of a box-only file; None when anything needs the slow path."""
    try:
        if any(a.get("segmentation") or "bbox" not in a for a in anns):
            return None
        img = [img_index[a["image_id"]] for a in anns]
        cls = [cat_index[a["category_id"]] for a in anns]
        raw = np.array([a["bbox"] for a in anns])
        crowd = np.array([a.get("iscrowd", 0) for a in anns], dtype=bool)
        ids = [a.get("id", -1) for a in anns]
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    n = len(anns)
    if raw.shape != (n, 4) or raw.dtype.kind not in "iuf" or not np.all(np.isfinite(raw)):
        return None
    if not all(type(i) is int for i in ids):
        return None
    xywh = raw.astype(np.float64)
    boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    return _Columns(
        np.asarray(img, dtype=np.int64).reshape(n),
        boxes.reshape(n, 4),
        np.asarray(cls, dtype=np.int64).reshape(n),
        crowd.reshape(n),
        np.asarray(ids, dtype=np.int64).reshape(n),
        np.arange(n, dtype=np.int64),
        None,
        None,
    )


def _where(k: int, ann: Any) -> str:
    if isinstance(ann, dict) and "id" in ann:
        return f"annotations[{k}] (id {ann['id']})"
    return f"annotations[{k}]"


_NUMBER = (int, float)


def _is_box(bbox: Any) -> bool:
    if type(bbox) is not list or len(bbox) != 4:
        return False
    x, y, w, h = bbox
    if not (
        type(x) in _NUMBER and type(y) in _NUMBER and type(w) in _NUMBER and type(h) in _NUMBER
    ):
        return False
    return math.isfinite(x + y + w + h)


def _segmentation_box(
    rings: list[np.ndarray] | None, rle: np.ndarray | None, hw: tuple[int, int]
) -> tuple[float, float, float, float]:
    if rings:
        pts = np.concatenate(rings)
        x1, y1 = pts.min(axis=0)
        x2, y2 = pts.max(axis=0)
        return float(x1), float(y1), float(x2), float(y2)
    box = rle_bbox(rle, hw) if rle is not None else None
    return box if box is not None else (0.0, 0.0, 0.0, 0.0)


def _polygon_area(rings: list[np.ndarray]) -> float:
    total = 0.0
    for r in rings:
        x, y = r[:, 0], r[:, 1]
        total += 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    return total


_POLYGON = int(SegmentKind.POLYGON)
_RLE = int(SegmentKind.RLE)


def _plain(values: np.ndarray) -> list[Any]:
    """``tolist`` with ints when every value is integral (tidier JSON), else floats."""
    if values.size and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        return values.astype(np.int64).tolist()
    return values.tolist()


def coco_dict(ds: Dataset, *, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dataset as a COCO dict (tile provenance goes under each image's ``tilewise`` key).

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["car"]); b.add_box(b.add_image("x.png", 9, 9), [1, 1, 3, 4], 0)
        >>> coco_dict(b.build())["annotations"][0]["bbox"]
        [1, 1, 2, 3]
    """
    t = ds.images
    images = []
    for iid, name, w, h, src, off, split in zip(
        t.image_id.tolist(),
        t.file_name.tolist(),
        t.width.tolist(),
        t.height.tolist(),
        t.source.tolist(),
        t.offset.tolist(),
        t.split.tolist(),
        strict=True,
    ):
        rec: dict[str, Any] = {"id": iid, "file_name": name, "width": w, "height": h}
        if src:
            rec["tilewise"] = {"source": src, "offset": off, "split": split}
        images.append(rec)
    boxes = ds.boxes
    wh = boxes[:, 2:] - boxes[:, :2]
    xywh = _plain(np.column_stack([boxes[:, :2], wh]))
    areas = np.clip(wh[:, 0], 0, None) * np.clip(wh[:, 1], 0, None)
    kinds = ds.segments.kind
    segs: list[Any] = [[]] * ds.num_annotations
    for j in np.flatnonzero(kinds == _POLYGON).tolist():
        rings = ds.segments.polygon(j)
        segs[j] = [_plain(r.ravel()) for r in rings]
        areas[j] = _polygon_area(rings)
    for j in np.flatnonzero(kinds == _RLE).tolist():
        i = int(ds.image_index[j])
        runs = ds.segments.rle(j)
        segs[j] = {
            "size": [int(ds.images.height[i]), int(ds.images.width[i])],
            "counts": rle_to_string(runs),
        }
        areas[j] = rle_area(runs)
    annotations = [
        {
            "id": ann_id,
            "image_id": image_id,
            "category_id": cat_id,
            "bbox": bbox,
            "area": area,
            "iscrowd": crowd,
            "segmentation": seg,
        }
        for ann_id, image_id, cat_id, bbox, area, crowd, seg in zip(
            ds.ann_id.tolist(),
            ds.images.image_id[ds.image_index].tolist(),
            ds.category_ids[ds.class_id].tolist(),
            xywh,
            _plain(areas),
            ds.iscrowd.astype(np.int64).tolist(),
            segs,
            strict=True,
        )
    ]
    categories = [
        {"id": int(cid), "name": name}
        for cid, name in zip(ds.category_ids.tolist(), ds.class_names, strict=True)
    ]
    out: dict[str, Any] = {"images": images, "annotations": annotations, "categories": categories}
    if info:
        out["info"] = info
    return out


def write_coco(
    ds: Dataset, path: str | os.PathLike[str], *, info: dict[str, Any] | None = None
) -> Path:
    """Write the dataset as one COCO JSON file, atomically; returns the path.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["car"]); b.add_box(b.add_image("x.png", 9, 9), [1, 1, 3, 4], 0)
        >>> p = write_coco(b.build(), pathlib.Path(tempfile.mkdtemp()) / "a.json")
        >>> read_coco(p).boxes.tolist()
        [[1.0, 1.0, 3.0, 4.0]]
    """
    return atomic_write_text(path, json.dumps(coco_dict(ds, info=info), separators=(",", ":")))
