"""Pascal VOC XML: ``Annotations/*.xml``, ``JPEGImages/`` and ``ImageSets/Main/<split>.txt``.

VOC boxes are 1-based inclusive pixel indices: ``xmin = x1 + 1`` and ``xmax = x2`` for a
pixel-edge box ``[x1, x2)``, so a round trip is exact.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from tilewise.datasets.dataset import Dataset, DatasetBuilder, DatasetFormatError
from tilewise.datasets.formats.layout import layout_name
from tilewise.datasets.formats.policy import OnError, RecordPolicy, WriteSummary
from tilewise.datasets.imagesize import image_size
from tilewise.datasets.segments import SegmentKind
from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_write_text

__all__ = ["read_voc", "write_voc"]


def _text(node: ET.Element, tag: str) -> str | None:
    child = node.find(tag)
    return child.text.strip() if child is not None and child.text is not None else None


def _splits(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    sets = root / "ImageSets" / "Main"
    for split in ("train", "val", "test"):
        f = sets / f"{split}.txt"
        if f.is_file():
            for line in f.read_text(encoding="utf-8").split():
                out.setdefault(line.strip(), split)
    return out


def read_voc(
    path: str | os.PathLike[str],
    *,
    class_names: list[str] | None = None,
    on_error: OnError | str = OnError.RAISE,
    exif: str = "follow",
) -> Dataset:
    """Read a Pascal VOC dataset directory (or a directory of XML files).

    Class names are taken in sorted order from the files unless given. ``difficult`` and
    ``truncated`` objects are read like any other. Malformed XML raises naming the file and
    line; bad objects raise naming the file and object, or are skipped and listed in
    ``Dataset.issues`` with ``on_error="skip"``.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "Annotations").mkdir()
        >>> _ = (d / "Annotations/a.xml").write_text("<annotation><filename>a.jpg</filename>"
        ...     "<size><width>20</width><height>10</height></size><object><name>car</name>"
        ...     "<bndbox><xmin>3</xmin><ymin>2</ymin><xmax>8</xmax><ymax>6</ymax></bndbox>"
        ...     "</object></annotation>")
        >>> read_voc(d).boxes.tolist()
        [[2.0, 1.0, 8.0, 6.0]]
    """
    root = Path(path)
    ann_dir = root / "Annotations" if (root / "Annotations").is_dir() else root
    files = sorted(ann_dir.glob("*.xml"))
    if not files:
        raise DatasetFormatError(f"{root}: no VOC XML files (expected Annotations/*.xml)")
    image_dir = root / "JPEGImages" if (root / "JPEGImages").is_dir() else ann_dir
    split_of = _splits(root)
    parsed = []
    for f in files:
        try:
            tree = ET.parse(f)
        except ET.ParseError as exc:
            line, col = exc.position
            raise DatasetFormatError(f"{f}:line {line} column {col}: malformed XML") from None
        parsed.append((f, tree.getroot()))
    names = class_names
    if names is None:
        names = sorted({_text(o, "name") or "" for _, r in parsed for o in r.iter("object")} - {""})
    index = {n: k for k, n in enumerate(names)}
    builder = DatasetBuilder(names)
    policy = RecordPolicy(on_error, builder)
    for f, node in parsed:
        file_name = _text(node, "filename") or f"{f.stem}.jpg"
        size = node.find("size")
        try:
            w = int(float(_text(size, "width") or 0)) if size is not None else 0
            h = int(float(_text(size, "height") or 0)) if size is not None else 0
        except ValueError:
            w = h = 0
        if w <= 0 or h <= 0:
            try:
                w, h = image_size(image_dir / file_name, exif=exif)
            except TilewiseError as exc:
                policy.bad(f, "size", f"no valid <size> and the image cannot be read: {exc}")
                continue
        i = builder.add_image(file_name, w, h, split=split_of.get(Path(file_name).stem, ""))
        for k, obj in enumerate(node.iter("object")):
            where = f"object {k + 1}"
            name = _text(obj, "name")
            if name not in index:
                policy.bad(f, where, f"unknown class {name!r}")
                continue
            bb = obj.find("bndbox")
            try:
                vals = [float(_text(bb, t) or "nan") for t in ("xmin", "ymin", "xmax", "ymax")]
            except (ValueError, TypeError, AttributeError):
                vals = [math.nan]
            if bb is None or not all(math.isfinite(v) for v in vals):
                policy.bad(f, where, "needs a <bndbox> with numeric xmin, ymin, xmax, ymax")
                continue
            box = [vals[0] - 1, vals[1] - 1, vals[2], vals[3]]
            if box[2] <= box[0] or box[3] <= box[1]:
                policy.note(f, where, "zero or negative box size")
            elif box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h:
                policy.note(f, where, "box extends outside the image")
            builder.add_box(i, box, index[name])
    policy.warn_if_skipped(root)
    return builder.build(root=image_dir)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def write_voc(ds: Dataset, root: str | os.PathLike[str]) -> WriteSummary:
    """Write ``Annotations/<name>.xml`` (and ``ImageSets/Main/<split>.txt``) under ``root``.

    Images are expected at ``root/JPEGImages/<name>``. VOC holds boxes only: polygons and
    masks are left out and counted in the summary's notes.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["car"]); b.add_box(b.add_image("a.jpg", 20, 10), [2, 1, 8, 6], 0)
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> _ = write_voc(b.build(), out)
        >>> read_voc(out).boxes.tolist()
        [[2.0, 1.0, 8.0, 6.0]]
    """
    out = Path(root)
    summary = WriteSummary()
    splits: dict[str, list[str]] = {}
    stems: set[str] = set()
    for i in range(ds.num_images):
        name = layout_name(str(ds.images.file_name[i]), str(ds.images.split[i])).as_posix()
        stem = Path(name).stem
        if stem in stems:
            raise TilewiseError(f"VOC needs unique image names; {stem!r} appears twice")
        stems.add(stem)
        if ds.images.split[i]:
            splits.setdefault(str(ds.images.split[i]), []).append(stem)
        sl = ds.annotations_of(i)
        objects = []
        for j in range(sl.start, sl.stop):
            x1, y1, x2, y2 = ds.boxes[j].tolist()
            objects.append(
                f"  <object>\n    <name>{escape(ds.class_names[int(ds.class_id[j])])}</name>\n"
                "    <pose>Unspecified</pose>\n    <truncated>0</truncated>\n"
                "    <difficult>0</difficult>\n    <bndbox>\n"
                f"      <xmin>{_num(x1 + 1)}</xmin>\n      <ymin>{_num(y1 + 1)}</ymin>\n"
                f"      <xmax>{_num(x2)}</xmax>\n      <ymax>{_num(y2)}</ymax>\n"
                "    </bndbox>\n  </object>\n"
            )
        xml = (
            "<annotation>\n  <folder>JPEGImages</folder>\n"
            f"  <filename>{escape(name)}</filename>\n  <size>\n"
            f"    <width>{int(ds.images.width[i])}</width>\n"
            f"    <height>{int(ds.images.height[i])}</height>\n    <depth>3</depth>\n"
            "  </size>\n  <segmented>0</segmented>\n" + "".join(objects) + "</annotation>\n"
        )
        target = out / "Annotations" / f"{stem}.xml"
        atomic_write_text(target, xml)
        summary.files.append(target)
    for split, members in splits.items():
        target = out / "ImageSets" / "Main" / f"{split}.txt"
        atomic_write_text(target, "\n".join(members) + "\n")
        summary.files.append(target)
    lost = int(np.sum(ds.segments.kind != SegmentKind.NONE))
    if lost:
        summary.add_note(f"{lost} polygons/masks left out (VOC holds boxes only)")
    return summary
