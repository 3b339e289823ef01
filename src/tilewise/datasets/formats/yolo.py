"""YOLO txt labels (detection and segmentation) with a ``data.yaml``.

Layout: ``images/<split>/<name>.<ext>``, ``labels/<split>/<name>.txt`` and ``data.yaml``
(``path``, ``train`` / ``val`` / ``test``, ``names``). A label line is
``class cx cy w h`` (normalised) for a box or ``class x1 y1 x2 y2 ...`` (normalised, at
least 3 points) for a polygon. An image without a label file has no objects.
"""

from __future__ import annotations

import math
import os
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from tilewise.datasets.dataset import Dataset, DatasetBuilder, DatasetFormatError
from tilewise.datasets.formats.layout import check_unique, layout_name, split_names
from tilewise.datasets.formats.policy import OnError, RecordPolicy, WriteSummary
from tilewise.datasets.imagesize import IMAGE_SUFFIXES, image_size
from tilewise.datasets.segments import SegmentKind
from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_write_text
from tilewise.masks.rle import rle_to_rings

__all__ = ["YoloTask", "read_yolo", "write_yolo", "yolo_image_paths"]

_SPLIT_KEYS = ("train", "val", "test")


class YoloTask(str, Enum):
    """Which label lines a YOLO dataset holds."""

    DETECT = "detect"
    SEGMENT = "segment"


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        raise DatasetFormatError(f"{path}:{where}: malformed YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DatasetFormatError(f"{path}: top level must be a mapping")
    return data


def _names(data: dict[str, Any], path: Path) -> list[str]:
    names = data.get("names")
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise DatasetFormatError(f"{path}: 'names' keys must be class ids") from None
        if keys != list(range(len(keys))):
            raise DatasetFormatError(f"{path}: 'names' ids must be 0..{len(keys) - 1}")
        return [str(names[k] if k in names else names[str(k)]) for k in keys]
    if isinstance(names, list):
        return [str(n) for n in names]
    nc = data.get("nc")
    if isinstance(nc, int):
        return [str(i) for i in range(nc)]
    raise DatasetFormatError(f"{path}: needs 'names' (a list or an id -> name mapping)")


def _find_yaml(path: Path) -> Path | None:
    if path.is_file():
        return path
    for name in ("data.yaml", "dataset.yaml", "data.yml"):
        if (path / name).is_file():
            return path / name
    return None


def _list_images(entry: Path, root: Path) -> list[Path]:
    if entry.is_dir():
        return sorted(p for p in entry.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if entry.is_file() and entry.suffix == ".txt":
        out = []
        for line in entry.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line:
                continue
            p = Path(line)
            if line.startswith("./"):
                p = entry.parent / line[2:]
            elif not p.is_absolute():
                p = root / p
            out.append(p)
        return out
    raise DatasetFormatError(f"split entry {entry} is neither a directory nor a .txt list")


def yolo_image_paths(path: str | os.PathLike[str]) -> tuple[Path, list[str], dict[str, list[Path]]]:
    r"""Resolve a YOLO dataset: (root, class names, image paths per split).

    ``path`` is a ``data.yaml`` or a directory holding one; a directory without one is read
    as ``images/`` + ``labels/`` with classes from ``classes.txt``.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "images").mkdir()
        >>> _ = (d / "data.yaml").write_text("path: .\ntrain: images\nnames: [car]\n")
        >>> root, names, splits = yolo_image_paths(d)
        >>> names, splits
        (['car'], {'train': []})
    """
    p = Path(path)
    yml = _find_yaml(p)
    if yml is None:
        if not (p / "images").is_dir():
            raise DatasetFormatError(f"{p}: no data.yaml and no images/ directory")
        classes = p / "classes.txt"
        names = (
            [n.strip() for n in classes.read_text(encoding="utf-8").splitlines() if n.strip()]
            if classes.is_file()
            else []
        )
        return p, names, {"": _list_images(p / "images", p)}
    data = _load_yaml(yml)
    names = _names(data, yml)
    base = data.get("path")
    root = yml.parent if not base else Path(str(base))
    if not root.is_absolute():
        root = (yml.parent / root).resolve()
        if not root.is_dir():
            root = yml.parent
    splits: dict[str, list[Path]] = {}
    for key in _SPLIT_KEYS:
        entries = data.get(key)
        if not entries:
            continue
        for entry in entries if isinstance(entries, list) else [entries]:
            e = Path(str(entry))
            e = e if e.is_absolute() else root / e
            if not e.exists():
                raise DatasetFormatError(f"{yml}: '{key}' entry {entry} not found at {e}")
            splits.setdefault(key, []).extend(_list_images(e, root))
    if not splits:
        raise DatasetFormatError(f"{yml}: no 'train', 'val' or 'test' entries")
    return root, names, splits


def _label_path(image: Path) -> Path:
    parts = list(image.parts)
    for k in range(len(parts) - 2, -1, -1):
        if parts[k] == "images":
            parts[k] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


SNAP_PX = 1e-3
"""Box edges this close (px) to the image border are put on it: normalised coordinates
written with limited precision land a hair outside for boxes touching the border."""


def _snap(box: list[float], w: int, h: int) -> list[float]:
    out = list(box)
    for k, (lo, hi) in enumerate(((0.0, w), (0.0, h), (0.0, w), (0.0, h))):
        v = out[k]
        if abs(v - lo) < SNAP_PX:
            out[k] = lo
        elif abs(v - hi) < SNAP_PX:
            out[k] = float(hi)
    return out


def _parse_labels(
    label: Path,
    wh: tuple[int, int],
    n_classes: int | None,
    policy: RecordPolicy,
) -> tuple[list[list[float]], list[int], list[list[np.ndarray] | None]]:
    try:
        text = label.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        policy.bad(label, "", f"cannot read label file: {exc}")
        return [], [], []
    w, h = wh
    boxes: list[list[float]] = []
    classes: list[int] = []
    polys: list[list[np.ndarray] | None] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        where = f"line {lineno}"
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            policy.bad(label, where, f"not a number in {line.strip()!r}")
            continue
        if not all(math.isfinite(v) for v in values):
            policy.bad(label, where, "non-finite value")
            continue
        cls = values[0]
        if cls != int(cls) or cls < 0 or (n_classes is not None and cls >= n_classes):
            known = f"0..{n_classes - 1}" if n_classes else "none"
            policy.bad(label, where, f"unknown class id {tokens[0]} (known ids: {known})")
            continue
        coords = values[1:]
        if len(coords) == 4:
            cx, cy, bw, bh = coords
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
            poly = None
            if bw <= 0 or bh <= 0:
                policy.note(label, where, "zero or negative box size")
        elif len(coords) >= 6 and len(coords) % 2 == 0:
            pts = np.asarray(coords, dtype=np.float64).reshape(-1, 2) * (w, h)
            poly = [pts]
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            box = [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]
        else:
            policy.bad(
                label,
                where,
                f"expected 'class cx cy w h' or 'class x1 y1 ... xn yn' (n >= 3), "
                f"got {len(tokens)} values",
            )
            continue
        box = _snap(box, w, h)
        if box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h:
            policy.note(label, where, "coordinates outside the image")
        boxes.append(box)
        classes.append(int(cls))
        polys.append(poly)
    return boxes, classes, polys


def read_yolo(
    path: str | os.PathLike[str],
    *,
    on_error: OnError | str = OnError.RAISE,
    exif: str = "follow",
) -> Dataset:
    r"""Read a YOLO detection or segmentation dataset.

    Image sizes come from the image headers, in the frame ``exif`` says (``"follow"``:
    as displayed, the default of the image reader; ``"ignore"``: as stored). A missing or
    unreadable image, a malformed line or an unknown class id raises ``DatasetFormatError``
    naming the file and line, or with ``on_error="skip"`` is skipped and listed in
    ``Dataset.issues``. Label files with no image are listed in ``issues``.

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> (d / "images").mkdir(); (d / "labels").mkdir()
        >>> _ = cv2.imwrite(str(d / "images/a.png"), np.zeros((10, 20, 3), np.uint8))
        >>> _ = (d / "labels/a.txt").write_text("0 0.5 0.5 0.5 0.2\n")
        >>> _ = (d / "data.yaml").write_text("path: .\ntrain: images\nnames: [car]\n")
        >>> read_yolo(d).boxes.tolist()
        [[5.0, 4.0, 15.0, 6.0]]
    """
    root, names, splits = yolo_image_paths(path)
    builder = DatasetBuilder(names)
    policy = RecordPolicy(on_error, builder)
    seen_labels: set[Path] = set()
    for split, images in splits.items():
        for image in images:
            try:
                wh = image_size(image, exif=exif)
            except TilewiseError as exc:
                policy.bad(image, "", str(exc))
                continue
            try:
                rel = image.relative_to(root).as_posix()
            except ValueError:
                rel = image.as_posix()
            i = builder.add_image(rel, wh[0], wh[1], split=split)
            label = _label_path(image)
            seen_labels.add(label.resolve())
            if not label.is_file():
                continue
            boxes, classes, polys = _parse_labels(label, wh, len(names) or None, policy)
            if boxes:
                builder.add_boxes(
                    i,
                    np.asarray(boxes),
                    np.asarray(classes),
                    polygons=polys if any(p is not None for p in polys) else None,
                )
    for split, images in splits.items():
        label_dirs = {_label_path(im).parent for im in images} or {root / "labels" / split}
        for d in label_dirs:
            if not d.is_dir():
                continue
            for orphan in sorted(d.glob("*.txt")):
                if orphan.resolve() not in seen_labels and orphan.name != "classes.txt":
                    policy.note(orphan, "", "label file without an image (ignored)")
    if not names:
        builder.class_names = [str(k) for k in range(builder.max_class_id() + 1)]
    policy.warn_if_skipped(path)
    return builder.build(root=root)


def _merge_rings(rings: list[np.ndarray]) -> np.ndarray:
    """One ring from several parts, joined by zero-width bridges to the first ring's start."""
    if len(rings) == 1:
        return rings[0]
    anchor = rings[0][:1]
    parts = [rings[0], anchor]
    for r in rings[1:]:
        parts += [r, r[:1], anchor]
    return np.concatenate(parts)


def _fmt(values: np.ndarray) -> str:
    return " ".join(f"{v:.8g}" for v in values.tolist())


def yolo_label_paths(ds: Dataset, root: str | os.PathLike[str]) -> list[Path]:
    """Where ``write_yolo`` puts each image's label file: ``labels/<split>/<stem>.txt``.

    Raises:
        TilewiseError: two images of a split share a label file (``a.png`` and
            ``a.jpg``), named, before anything is written.

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["a"]); _ = b.add_image("x/y.png", 4, 4, split="val")
        >>> [p.as_posix() for p in yolo_label_paths(b.build(), "out")]
        ['out/labels/val/x/y.txt']
    """
    out = Path(root)
    labels = []
    for i in range(ds.num_images):
        split = str(ds.images.split[i])
        name = layout_name(str(ds.images.file_name[i]), split).with_suffix(".txt")
        labels.append(out / "labels" / split / name if split else out / "labels" / name)
    check_unique(labels, [str(n) for n in ds.images.file_name], "label file")
    return labels


def write_yolo(
    ds: Dataset,
    root: str | os.PathLike[str],
    *,
    task: YoloTask | str | None = None,
) -> WriteSummary:
    r"""Write labels and ``data.yaml`` in the YOLO layout under ``root``, atomically per file.

    Images are expected at ``root/images/<split>/<name>`` (``convert`` places them). Boxes
    are clipped to their image (YOLO cannot hold coordinates outside it) and zero-size boxes
    are left out; both are counted in the summary's notes. With ``task="segment"`` boxes
    without a polygon are written as rectangles, RLE masks as their outer contours and
    multi-part polygons joined into one ring.

    Args:
        ds: the dataset.
        root: output directory.
        task: ``"detect"`` or ``"segment"``; default: segment when any annotation has one.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["car"]); b.add_box(b.add_image("a.png", 20, 10), [5, 4, 15, 6], 0)
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> _ = write_yolo(b.build(), out)
        >>> (out / "labels/a.txt").read_text()
        '0 0.5 0.5 0.5 0.2\n'
    """
    import yaml

    out = Path(root)
    if task is None:
        task = YoloTask.SEGMENT if np.any(ds.segments.kind != SegmentKind.NONE) else YoloTask.DETECT
    task = YoloTask(task)
    summary = WriteSummary()
    clipped = dropped = rectangles = merged = converted = 0
    labels = yolo_label_paths(ds, out)
    for i in range(ds.num_images):
        label = labels[i]
        w, h = int(ds.images.width[i]), int(ds.images.height[i])
        sl = ds.annotations_of(i)
        boxes = ds.boxes[sl]
        cb = boxes.copy()
        cb[:, [0, 2]] = np.clip(cb[:, [0, 2]], 0, w)
        cb[:, [1, 3]] = np.clip(cb[:, [1, 3]], 0, h)
        valid = (cb[:, 2] > cb[:, 0]) & (cb[:, 3] > cb[:, 1])
        clipped += int(np.sum(valid & np.any(cb != boxes, axis=1)))
        dropped += int(np.sum(~valid))
        lines = []
        for j in np.flatnonzero(valid) + sl.start:
            cls = int(ds.class_id[j])
            x1, y1, x2, y2 = cb[j - sl.start]
            kind = ds.segments.kind[j]
            if task is YoloTask.DETECT:
                cx, cy = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h
                vals = np.array([cx, cy, (x2 - x1) / w, (y2 - y1) / h])
            else:
                if kind == SegmentKind.POLYGON:
                    rings = [r for r in ds.segments.polygon(int(j)) if len(r) >= 3]
                elif kind == SegmentKind.RLE:
                    rings = rle_to_rings(ds.segments.rle(int(j)), (h, w))
                    converted += 1
                else:
                    rings = []
                if not rings:
                    rings = [np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])]
                    rectangles += 1
                merged += len(rings) > 1
                ring = _merge_rings(rings)
                ring = np.clip(ring, 0, (w, h)) / (w, h)
                vals = ring.ravel()
            lines.append(f"{cls} {_fmt(vals)}\n")
        atomic_write_text(label, "".join(lines))
        summary.files.append(label)
    yaml_data: dict[str, Any] = {"path": "."}
    splits = split_names(ds)
    for split in splits:
        key = split or "train"
        yaml_data[key] = PurePosixPath("images", split).as_posix() if split else "images"
    yaml_data["nc"] = ds.num_classes
    yaml_data["names"] = dict(enumerate(ds.class_names))
    yml = out / "data.yaml"
    atomic_write_text(yml, yaml.safe_dump(yaml_data, sort_keys=False))
    summary.files.append(yml)
    for count, what in (
        (clipped, "boxes clipped to their image"),
        (dropped, "zero-size boxes left out"),
        (rectangles, "boxes without a mask written as rectangles"),
        (converted, "RLE masks written as polygon contours"),
        (merged, "multi-part polygons joined into one ring"),
    ):
        if count:
            summary.add_note(f"{count} {what}")
    return summary
