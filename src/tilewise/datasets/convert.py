"""Reading, writing and converting datasets in any supported format."""

from __future__ import annotations

import dataclasses
import os
from enum import Enum
from pathlib import Path

import numpy as np

from tilewise.datasets.dataset import Dataset, DatasetFormatError
from tilewise.datasets.formats.coco import read_coco, write_coco
from tilewise.datasets.formats.layout import (
    ImageTransfer,
    check_unique,
    layout_name,
    split_names,
    transfer_images,
)
from tilewise.datasets.formats.policy import OnError, WriteSummary
from tilewise.datasets.formats.voc import read_voc, write_voc
from tilewise.datasets.formats.yolo import YoloTask, read_yolo, write_yolo, yolo_label_paths

__all__ = [
    "DatasetFormat",
    "convert",
    "coco_json_name",
    "detect_format",
    "layout_paths",
    "read_dataset",
    "write_dataset",
]


class DatasetFormat(str, Enum):
    """Supported dataset formats."""

    COCO = "coco"
    YOLO = "yolo"
    VOC = "voc"


def detect_format(path: str | os.PathLike[str]) -> DatasetFormat:
    """Guess a dataset's format from its path.

    A ``.json`` file or a directory with ``annotations/*.json`` is COCO; a ``.yaml`` file or a
    directory with ``data.yaml`` or ``labels/`` is YOLO; a directory with ``Annotations/`` or
    XML files is VOC.

    Example:
        >>> detect_format("train.json")
        <DatasetFormat.COCO: 'coco'>
    """
    p = Path(path)
    if p.suffix.lower() == ".json":
        return DatasetFormat.COCO
    if p.suffix.lower() in (".yaml", ".yml"):
        return DatasetFormat.YOLO
    if p.is_dir():
        if any((p / n).is_file() for n in ("data.yaml", "dataset.yaml", "data.yml")):
            return DatasetFormat.YOLO
        if (p / "annotations").is_dir() and any((p / "annotations").glob("*.json")):
            return DatasetFormat.COCO
        if (p / "Annotations").is_dir() or any(p.glob("*.xml")):
            return DatasetFormat.VOC
        if (p / "labels").is_dir():
            return DatasetFormat.YOLO
    raise DatasetFormatError(
        f"{p}: cannot tell the dataset format (expected a COCO .json or annotations/ folder, "
        "a YOLO data.yaml or labels/ folder, or a VOC Annotations/ folder); pass the format"
    )


def coco_json_name(split: str) -> str:
    """File name of a split's COCO JSON in the directory layout.

    Example:
        >>> coco_json_name("val"), coco_json_name("")
        ('instances_val.json', 'instances.json')
    """
    return f"instances_{split}.json" if split else "instances.json"


def _read_coco_dir(root: Path, on_error: OnError | str) -> Dataset:
    files = sorted((root / "annotations").glob("*.json"))
    parts = []
    for f in files:
        split = f.stem.removeprefix("instances_")
        split = split if split in ("train", "val", "test") else ""
        parts.append(read_coco(f, on_error=on_error, split=split))
    return Dataset.concatenate(parts, root=root) if len(parts) > 1 else parts[0]


def read_dataset(
    path: str | os.PathLike[str],
    format: DatasetFormat | str | None = None,
    *,
    on_error: OnError | str = OnError.RAISE,
    exif: str = "follow",
) -> Dataset:
    """Read a dataset in any supported format (detected when not given).

    YOLO images and VOC files without a ``<size>`` get their sizes from the image headers,
    in the frame ``exif`` says (``"follow"``: as displayed; ``"ignore"``: as stored).

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["car"]); b.add_box(b.add_image("a.png", 20, 10), [5, 4, 15, 6], 0)
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> _ = write_dataset(b.build(), out, "coco", images="none")
        >>> read_dataset(out).boxes.tolist()
        [[5.0, 4.0, 15.0, 6.0]]
    """
    p = Path(path)
    fmt = DatasetFormat(format) if format is not None else detect_format(p)
    if fmt is DatasetFormat.COCO:
        if p.is_dir():
            return _read_coco_dir(p, on_error)
        return read_coco(p, on_error=on_error)
    if fmt is DatasetFormat.YOLO:
        return read_yolo(p, on_error=on_error, exif=exif)
    return read_voc(p, on_error=on_error, exif=exif)


def layout_paths(
    ds: Dataset, root: str | os.PathLike[str], format: DatasetFormat | str
) -> list[Path]:
    """Where each image of ``ds`` goes in ``format``'s directory layout under ``root``.

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["a"]); _ = b.add_image("raw/x.png", 4, 4, split="val")
        >>> [p.as_posix() for p in layout_paths(b.build(), "/out", "yolo")]
        ['/out/images/val/raw/x.png']
    """
    fmt = DatasetFormat(format)
    out = Path(root)
    paths = []
    for i in range(ds.num_images):
        split = str(ds.images.split[i])
        name = layout_name(str(ds.images.file_name[i]), split)
        if fmt is DatasetFormat.VOC:
            paths.append(out / "JPEGImages" / name)
        else:
            paths.append(out / "images" / split / name if split else out / "images" / name)
    check_unique(paths, [str(n) for n in ds.images.file_name], "image path")
    return paths


def write_dataset(
    ds: Dataset,
    root: str | os.PathLike[str],
    format: DatasetFormat | str,
    *,
    images: ImageTransfer | str = ImageTransfer.COPY,
    yolo_task: YoloTask | str | None = None,
) -> WriteSummary:
    """Write ``ds`` in ``format``'s directory layout under ``root`` (every file atomically).

    COCO: ``annotations/instances_<split>.json`` with file names relative to
    ``images/<split>/``. YOLO: ``labels/<split>/*.txt`` and ``data.yaml``. VOC:
    ``Annotations/*.xml`` and ``ImageSets/Main/<split>.txt``. Images are copied, hard-linked
    or left alone (``images``) into ``images/<split>/`` (``JPEGImages/`` for VOC).

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["a"]); _ = b.add_image("x.png", 4, 4, split="train")
        >>> s = write_dataset(b.build(), pathlib.Path(tempfile.mkdtemp()), "coco", images="none")
        >>> [pathlib.Path(f).name for f in s.files]
        ['instances_train.json']
    """
    fmt = DatasetFormat(format)
    out = Path(root)
    targets = layout_paths(ds, out, fmt)
    if fmt is DatasetFormat.YOLO:
        yolo_label_paths(ds, out)  # refuses shared label files before any image is placed
    transfer_images(ds, targets, images)
    if fmt is DatasetFormat.YOLO:
        return write_yolo(ds, out, task=yolo_task)
    if fmt is DatasetFormat.VOC:
        return write_voc(ds, out)
    summary = WriteSummary()
    for split in split_names(ds):
        sub = ds.take_images(np.flatnonzero(ds.images.split == split))
        names = np.array(
            [layout_name(str(n), split).as_posix() for n in sub.images.file_name], dtype=object
        )
        sub = sub.replace(images=dataclasses.replace(sub.images, file_name=names))
        summary.files.append(write_coco(sub, out / "annotations" / coco_json_name(split)))
    return summary


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    to: DatasetFormat | str,
    *,
    src_format: DatasetFormat | str | None = None,
    images: ImageTransfer | str = ImageTransfer.COPY,
    on_error: OnError | str = OnError.RAISE,
) -> tuple[Dataset, WriteSummary]:
    r"""Convert a dataset between any two formats; returns the dataset read and what was written.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["car"]); b.add_box(b.add_image("a.png", 20, 10), [5, 4, 15, 6], 0)
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> _ = write_dataset(b.build(), tmp / "voc", "voc", images="none")
        >>> _ = convert(tmp / "voc", tmp / "yolo", "yolo", images="none")
        >>> (tmp / "yolo/labels/a.txt").read_text()
        '0 0.5 0.5 0.5 0.2\n'
    """
    ds = read_dataset(src, src_format, on_error=on_error)
    return ds, write_dataset(ds, dst, to, images=images)
