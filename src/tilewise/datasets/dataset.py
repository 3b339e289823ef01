"""The columnar in-memory dataset: an image table plus per-annotation arrays.

No Python object is created per box: annotations are parallel arrays sorted by image, and
``Dataset.ann_offsets`` gives each image's annotation range (CSR layout).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.datasets.segments import Segments
from tilewise.errors import TilewiseError

__all__ = ["Dataset", "DatasetBuilder", "DatasetFormatError", "ImageTable", "Issue", "Split"]


class Split(str, Enum):
    """A dataset split; ``NONE`` means not assigned."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"
    NONE = ""


class DatasetFormatError(TilewiseError):
    """A dataset file is missing, malformed or inconsistent; the message names file and place."""


@dataclass(frozen=True)
class Issue:
    """A problem found while reading or processing a dataset, with where it happened.

    Example:
        >>> str(Issue("labels/a.txt", "line 3", "unknown class id 7"))
        'labels/a.txt:line 3: unknown class id 7'
    """

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        where = f":{self.where}" if self.where else ""
        return f"{self.file}{where}: {self.message}"


def _object_array(values: Sequence[Any] | np.ndarray, n: int, default: str = "") -> np.ndarray:
    out = np.empty(n, dtype=object)
    if values is None:
        out[:] = default
    else:
        if len(values) != n:
            raise TilewiseError(f"expected {n} values, got {len(values)}")
        out[:] = [str(v) for v in values]
    return out


@dataclass(frozen=True, eq=False)
class ImageTable:
    """Per-image columns.

    Attributes:
        file_name: (M,) object array of paths relative to the dataset root.
        width: (M,) int64 image widths.
        height: (M,) int64 image heights.
        image_id: (M,) int64 ids (COCO ids; otherwise 1..M).
        split: (M,) object array of split names ("" when unassigned).
        source: (M,) object array; for a tile, the file name of the image it was cut from.
        offset: (M, 2) int64; for a tile, its top-left corner in the source image.
    """

    file_name: np.ndarray
    width: np.ndarray
    height: np.ndarray
    image_id: np.ndarray
    split: np.ndarray
    source: np.ndarray
    offset: np.ndarray

    @classmethod
    def create(
        cls,
        file_name: Sequence[str],
        width: Sequence[int] | np.ndarray,
        height: Sequence[int] | np.ndarray,
        *,
        image_id: Sequence[int] | np.ndarray | None = None,
        split: Sequence[str] | None = None,
        source: Sequence[str] | None = None,
        offset: np.ndarray | None = None,
    ) -> ImageTable:
        """Build and validate an image table.

        Example:
            >>> ImageTable.create(["a.png"], [4], [3]).image_id.tolist()
            [1]
        """
        m = len(file_name)
        w = np.asarray(width, dtype=np.int64).reshape(m)
        h = np.asarray(height, dtype=np.int64).reshape(m)
        if m and (w.min() <= 0 or h.min() <= 0):
            bad = int(np.flatnonzero((w <= 0) | (h <= 0))[0])
            raise TilewiseError(
                f"image {file_name[bad]!r} has a non-positive size {w[bad]}x{h[bad]}"
            )
        ids = (
            np.arange(1, m + 1, dtype=np.int64)
            if image_id is None
            else np.asarray(image_id, dtype=np.int64).reshape(m)
        )
        splits = _object_array(
            [Split(s).value if isinstance(s, Split) else s for s in split] if split else None, m
        )
        off = (
            np.zeros((m, 2), dtype=np.int64)
            if offset is None
            else np.asarray(offset, dtype=np.int64).reshape(m, 2)
        )
        return cls(_object_array(file_name, m), w, h, ids, splits, _object_array(source, m), off)

    def __len__(self) -> int:
        return int(self.width.shape[0])

    def take(self, index: np.ndarray) -> ImageTable:
        """Select rows by an int index array.

        Example:
            >>> t = ImageTable.create(["a", "b"], [1, 2], [1, 2])
            >>> t.take(np.array([1])).file_name.tolist()
            ['b']
        """
        idx = np.asarray(index, dtype=np.int64)
        return ImageTable(*(getattr(self, f.name)[idx] for f in dataclasses.fields(self)))

    @classmethod
    def concatenate(cls, parts: Sequence[ImageTable]) -> ImageTable:
        """Stack image tables.

        Example:
            >>> t = ImageTable.create(["a"], [1], [1])
            >>> len(ImageTable.concatenate([t, t]))
            2
        """
        return cls(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls))
        )

    def equals(self, other: ImageTable) -> bool:
        """Exact equality of every column.

        Example:
            >>> t = ImageTable.create(["a"], [1], [1]); t.equals(t)
            True
        """
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name))
            for f in dataclasses.fields(self)
        )


@dataclass(frozen=True, eq=False)
class Dataset:
    """An object-detection / instance-segmentation dataset held as columns.

    Attributes:
        images: the image table (M rows).
        image_index: (N,) int64, the image of each annotation; sorted ascending.
        boxes: (N, 4) float64 boxes as xyxy in image pixels.
        class_id: (N,) int64 index into ``class_names``.
        class_names: the class names; class ``i`` is ``class_names[i]``.
        category_ids: (C,) int64 original category ids (COCO ids; else 0..C-1).
        iscrowd: (N,) bool COCO crowd flags.
        ann_id: (N,) int64 annotation ids (COCO ids; else 1..N).
        segments: per-annotation polygons / RLE masks.
        root: directory that ``images.file_name`` is relative to (None: unknown).
        issues: problems met while reading (skipped records, suspicious values).

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["car", "person"])
        >>> i = b.add_image("a.png", 100, 80)
        >>> b.add_box(i, [10, 10, 20, 30], 1)
        >>> ds = b.build()
        >>> ds.num_images, ds.num_annotations, ds.class_names[int(ds.class_id[0])]
        (1, 1, 'person')
    """

    images: ImageTable
    image_index: np.ndarray
    boxes: np.ndarray
    class_id: np.ndarray
    class_names: tuple[str, ...]
    category_ids: np.ndarray
    iscrowd: np.ndarray
    ann_id: np.ndarray
    segments: Segments
    root: Path | None = None
    issues: tuple[Issue, ...] = ()
    ann_offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = self.image_index.shape[0]
        m = len(self.images)
        if self.boxes.shape != (n, 4):
            raise TilewiseError(f"boxes must have shape ({n}, 4), got {self.boxes.shape}")
        for name in ("class_id", "iscrowd", "ann_id"):
            if getattr(self, name).shape != (n,):
                raise TilewiseError(f"{name} must have shape ({n},)")
        if len(self.segments) != n:
            raise TilewiseError(f"segments must have {n} entries, got {len(self.segments)}")
        if len(self.category_ids) != len(self.class_names):
            raise TilewiseError("category_ids must have one id per class name")
        if n:
            if np.any(np.diff(self.image_index) < 0):
                raise TilewiseError("annotations must be sorted by image_index")
            if self.image_index[0] < 0 or self.image_index[-1] >= m:
                raise TilewiseError("image_index out of range of the image table")
            if self.class_id.min() < 0 or self.class_id.max() >= len(self.class_names):
                raise TilewiseError(
                    f"class ids must be in [0, {len(self.class_names)}), got "
                    f"[{self.class_id.min()}, {self.class_id.max()}]"
                )
        offsets = np.searchsorted(self.image_index, np.arange(m + 1), side="left")
        object.__setattr__(self, "ann_offsets", offsets.astype(np.int64))

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_arrays(
        cls,
        images: ImageTable,
        image_index: np.ndarray,
        boxes: np.ndarray,
        class_id: np.ndarray,
        class_names: Sequence[str],
        *,
        category_ids: np.ndarray | None = None,
        iscrowd: np.ndarray | None = None,
        ann_id: np.ndarray | None = None,
        segments: Segments | None = None,
        root: str | os.PathLike[str] | None = None,
        issues: Sequence[Issue] = (),
    ) -> Dataset:
        """Build a dataset from arrays, sorting annotations by image (stable).

        Example:
            >>> imgs = ImageTable.create(["a.png", "b.png"], [10, 10], [10, 10])
            >>> ds = Dataset.from_arrays(imgs, np.array([1, 0]),
            ...     np.array([[0, 0, 1, 1], [2, 2, 3, 3]]), np.array([0, 0]), ["x"])
            >>> ds.image_index.tolist(), ds.boxes[0].tolist()
            ([0, 1], [2.0, 2.0, 3.0, 3.0])
        """
        image_index = np.asarray(image_index, dtype=np.int64).ravel()
        n = image_index.shape[0]
        boxes = np.asarray(boxes, dtype=np.float64).reshape(n, 4)
        order = np.argsort(image_index, kind="stable")
        if n and np.all(order == np.arange(n)):
            order = None  # type: ignore[assignment]

        def pick(a: np.ndarray) -> np.ndarray:
            return a if order is None else a[order]

        seg = segments if segments is not None else Segments.empty(n)
        return cls(
            images=images,
            image_index=pick(image_index),
            boxes=np.ascontiguousarray(pick(boxes)),
            class_id=pick(np.asarray(class_id, dtype=np.int64).reshape(n)),
            class_names=tuple(str(c) for c in class_names),
            category_ids=(
                np.arange(len(class_names), dtype=np.int64)
                if category_ids is None
                else np.asarray(category_ids, dtype=np.int64)
            ),
            iscrowd=pick(
                np.zeros(n, bool) if iscrowd is None else np.asarray(iscrowd, bool).reshape(n)
            ),
            ann_id=pick(
                np.arange(1, n + 1, dtype=np.int64)
                if ann_id is None
                else np.asarray(ann_id, np.int64).reshape(n)
            ),
            segments=seg if order is None else seg.take(order),
            root=Path(root) if root is not None else None,
            issues=tuple(issues),
        )

    # ----------------------------------------------------------------- properties
    @property
    def num_images(self) -> int:
        """Number of images."""
        return len(self.images)

    @property
    def num_annotations(self) -> int:
        """Number of annotations."""
        return int(self.image_index.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def __len__(self) -> int:
        return self.num_images

    def annotations_of(self, image: int) -> slice:
        """The slice of annotation rows belonging to image ``image``.

        Example:
            >>> from tilewise.datasets import DatasetBuilder
            >>> b = DatasetBuilder(["x"]); i = b.add_image("a.png", 9, 9)
            >>> b.add_box(i, [0, 0, 1, 1], 0); b.build().annotations_of(0)
            slice(0, 1, None)
        """
        return slice(int(self.ann_offsets[image]), int(self.ann_offsets[image + 1]))

    def counts_per_image(self) -> np.ndarray:
        """(M,) number of annotations of every image.

        Example:
            >>> from tilewise.datasets import DatasetBuilder
            >>> b = DatasetBuilder(["x"]); _ = b.add_image("a.png", 9, 9)
            >>> b.build().counts_per_image().tolist()
            [0]
        """
        return np.diff(self.ann_offsets)

    def image_path(self, image: int) -> Path:
        """Path of image ``image`` (joined with ``root`` when known).

        Example:
            >>> from tilewise.datasets import DatasetBuilder
            >>> b = DatasetBuilder(["x"]); _ = b.add_image("a.png", 9, 9)
            >>> b.build(root="/data").image_path(0).as_posix()
            '/data/a.png'
        """
        name = Path(str(self.images.file_name[image]))
        return name if self.root is None else self.root / name

    def class_counts(self) -> np.ndarray:
        """(C,) number of annotations per class.

        Example:
            >>> from tilewise.datasets import DatasetBuilder
            >>> b = DatasetBuilder(["a", "b"]); i = b.add_image("x.png", 9, 9)
            >>> b.add_box(i, [0, 0, 1, 1], 1); b.build().class_counts().tolist()
            [0, 1]
        """
        return np.bincount(self.class_id, minlength=self.num_classes)

    # ----------------------------------------------------------------- selection
    def replace(self, **changes: Any) -> Dataset:
        """A copy with some fields replaced (validated again).

        Example:
            >>> from tilewise.datasets import DatasetBuilder
            >>> DatasetBuilder(["a"]).build().replace(root=Path("/x")).root.as_posix()
            '/x'
        """
        changes.pop("ann_offsets", None)
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        fields.update(changes)
        return Dataset(**fields)

    def take_annotations(self, index: np.ndarray) -> Dataset:
        """Keep some annotations (bool mask or sorted int index); all images stay.

        Example:
            >>> from tilewise.datasets import DatasetBuilder
            >>> b = DatasetBuilder(["a"]); i = b.add_image("x.png", 9, 9)
            >>> b.add_box(i, [0, 0, 1, 1], 0); b.add_box(i, [0, 0, 2, 2], 0)
            >>> b.build().take_annotations(np.array([False, True])).boxes.tolist()
            [[0.0, 0.0, 2.0, 2.0]]
        """
        idx = np.asarray(index)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)
        return self.replace(
            image_index=self.image_index[idx],
            boxes=self.boxes[idx],
            class_id=self.class_id[idx],
            iscrowd=self.iscrowd[idx],
            ann_id=self.ann_id[idx],
            segments=self.segments.take(idx),
        )

    def take_images(self, index: np.ndarray) -> Dataset:
        """Keep some images (bool mask or int index, any order) and their annotations.

        Example:
            >>> from tilewise.datasets import DatasetBuilder
            >>> b = DatasetBuilder(["a"]); _ = b.add_image("x.png", 9, 9)
            >>> i = b.add_image("y.png", 9, 9); b.add_box(i, [0, 0, 1, 1], 0)
            >>> sub = b.build().take_images(np.array([1]))
            >>> sub.images.file_name.tolist(), sub.image_index.tolist()
            (['y.png'], [0])
        """
        idx = np.asarray(index)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)
        starts = self.ann_offsets[idx]
        ends = self.ann_offsets[idx + 1]
        from tilewise.datasets.segments import gather_ranges

        rows = gather_ranges(starts, ends)
        new_image = np.repeat(np.arange(idx.size, dtype=np.int64), ends - starts)
        return self.replace(
            images=self.images.take(idx),
            image_index=new_image,
            boxes=self.boxes[rows],
            class_id=self.class_id[rows],
            iscrowd=self.iscrowd[rows],
            ann_id=self.ann_id[rows],
            segments=self.segments.take(rows),
        )

    @classmethod
    def concatenate(
        cls, parts: Sequence[Dataset], root: str | os.PathLike[str] | None = None
    ) -> Dataset:
        """Stack datasets with the same classes; file names are re-rooted at ``root``.

        Image ids are renumbered 1..M if they collide across parts.

        Example:
            >>> from tilewise.datasets import DatasetBuilder
            >>> b = DatasetBuilder(["a"]); b.add_box(b.add_image("x.png", 9, 9), [0, 0, 1, 1], 0)
            >>> ds = b.build(root="/d/train")
            >>> both = Dataset.concatenate([ds, ds], root="/d")
            >>> both.images.file_name.tolist(), both.image_index.tolist()
            (['train/x.png', 'train/x.png'], [0, 1])
        """
        if not parts:
            raise TilewiseError("nothing to concatenate")
        first = parts[0]
        for p in parts[1:]:
            if p.class_names != first.class_names or not np.array_equal(
                p.category_ids, first.category_ids
            ):
                raise TilewiseError(
                    f"cannot concatenate datasets with different classes: {first.class_names} "
                    f"vs {p.class_names}"
                )
        new_root = Path(root) if root is not None else first.root
        tables = []
        for p in parts:
            names = p.images.file_name
            if new_root is not None and p.root is not None and p.root != new_root:
                names = np.array(
                    [Path(os.path.relpath(p.root / str(n), new_root)).as_posix() for n in names],
                    dtype=object,
                )
            tables.append(dataclasses.replace(p.images, file_name=names))
        images = ImageTable.concatenate(tables)
        ids = images.image_id
        if len(np.unique(ids)) != len(ids):
            images = dataclasses.replace(images, image_id=np.arange(1, len(ids) + 1))
        shift = np.cumsum([0] + [p.num_images for p in parts[:-1]])
        return Dataset.from_arrays(
            images,
            np.concatenate([p.image_index + s for p, s in zip(parts, shift, strict=True)]),
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            first.class_names,
            category_ids=first.category_ids,
            iscrowd=np.concatenate([p.iscrowd for p in parts]),
            ann_id=np.concatenate([p.ann_id for p in parts]),
            segments=Segments.concatenate([p.segments for p in parts]),
            root=new_root,
            issues=[i for p in parts for i in p.issues],
        )

    def equals(self, other: Dataset, *, atol: float = 0.0) -> bool:
        """Same images, classes and annotations (boxes within ``atol``).

        Example:
            >>> from tilewise.datasets import DatasetBuilder
            >>> ds = DatasetBuilder(["a"]).build(); ds.equals(ds)
            True
        """
        return (
            self.images.equals(other.images)
            and self.class_names == other.class_names
            and np.array_equal(self.image_index, other.image_index)
            and np.array_equal(self.class_id, other.class_id)
            and self.boxes.shape == other.boxes.shape
            and bool(np.allclose(self.boxes, other.boxes, atol=atol, rtol=0))
            and np.array_equal(self.iscrowd, other.iscrowd)
            and self.segments.equals(other.segments)
        )

    def __repr__(self) -> str:
        return (
            f"Dataset(images={self.num_images}, annotations={self.num_annotations}, "
            f"classes={self.num_classes}, segments={self.segments!r}, root={self.root})"
        )


class DatasetBuilder:
    """Collects images and annotations record by record (for format readers) into a Dataset.

    Args:
        class_names: the class names.
        category_ids: original category ids per class (default 0..C-1).

    Example:
        >>> b = DatasetBuilder(["car"])
        >>> i = b.add_image("a.png", 64, 48, split="train")
        >>> b.add_box(i, [1, 2, 10, 12], 0, polygon=[np.array([[1, 2], [10, 2], [10, 12]])])
        >>> ds = b.build()
        >>> ds.images.split.tolist(), ds.segments.kind.tolist()
        (['train'], [1])
    """

    def __init__(
        self, class_names: Sequence[str], category_ids: Sequence[int] | None = None
    ) -> None:
        self.class_names = [str(c) for c in class_names]
        self.category_ids = list(category_ids) if category_ids is not None else None
        self._img: dict[str, list[Any]] = {
            k: [] for k in ("file_name", "width", "height", "image_id", "split", "source", "offset")
        }
        self._box_parts: list[np.ndarray] = []
        self._cls_parts: list[np.ndarray] = []
        self._img_parts: list[np.ndarray] = []
        self._crowd: list[np.ndarray] = []
        self._ann_ids: list[np.ndarray] = []
        self._polys: list[Sequence[np.ndarray] | None] = []
        self._rles: list[np.ndarray | None] = []
        self.issues: list[Issue] = []

    @property
    def num_images(self) -> int:
        """Images added so far."""
        return len(self._img["file_name"])

    def max_class_id(self) -> int:
        """The largest class id added so far (-1 when none).

        Example:
            >>> DatasetBuilder([]).max_class_id()
            -1
        """
        return max((int(c.max()) for c in self._cls_parts if c.size), default=-1)

    def add_image(
        self,
        file_name: str,
        width: int,
        height: int,
        *,
        image_id: int | None = None,
        split: str | Split = Split.NONE,
        source: str = "",
        offset: tuple[int, int] = (0, 0),
    ) -> int:
        """Add an image; returns its index.

        Example:
            >>> DatasetBuilder(["a"]).add_image("x.png", 4, 4)
            0
        """
        index = self.num_images
        self._img["file_name"].append(file_name)
        self._img["width"].append(int(width))
        self._img["height"].append(int(height))
        self._img["image_id"].append(index + 1 if image_id is None else int(image_id))
        self._img["split"].append(split.value if isinstance(split, Split) else str(split))
        self._img["source"].append(source)
        self._img["offset"].append(tuple(offset))
        return index

    def add_box(
        self,
        image: int,
        xyxy: Sequence[float] | np.ndarray,
        class_id: int,
        *,
        polygon: Sequence[np.ndarray] | None = None,
        rle: np.ndarray | None = None,
        iscrowd: bool = False,
        ann_id: int | None = None,
    ) -> None:
        """Add one annotation to image ``image``.

        Example:
            >>> b = DatasetBuilder(["a"]); b.add_box(b.add_image("x", 4, 4), [0, 0, 1, 1], 0)
            >>> b.build().num_annotations
            1
        """
        self.add_boxes(
            image,
            np.asarray(xyxy, dtype=np.float64).reshape(1, 4),
            np.array([class_id]),
            iscrowd=np.array([iscrowd]),
            ann_id=None if ann_id is None else np.array([ann_id]),
            polygons=[polygon],
            rles=[rle],
        )

    def add_boxes(
        self,
        image: int | np.ndarray,
        xyxy: np.ndarray,
        class_id: np.ndarray,
        *,
        iscrowd: np.ndarray | None = None,
        ann_id: np.ndarray | None = None,
        polygons: Sequence[Sequence[np.ndarray] | None] | None = None,
        rles: Sequence[np.ndarray | None] | None = None,
    ) -> None:
        """Add K annotations at once (of one image, or ``image`` is a (K,) index array).

        Example:
            >>> b = DatasetBuilder(["a"]); i = b.add_image("x", 4, 4)
            >>> b.add_boxes(i, np.zeros((3, 4)), np.zeros(3, int)); b.build().num_annotations
            3
        """
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        k = boxes.shape[0]
        images = np.broadcast_to(np.asarray(image, dtype=np.int64), (k,))
        if k and (images.min() < 0 or images.max() >= self.num_images):
            raise TilewiseError(f"image index out of range (images: {self.num_images})")
        self._box_parts.append(boxes)
        self._cls_parts.append(np.asarray(class_id, dtype=np.int64).reshape(k))
        self._img_parts.append(images.copy())
        self._crowd.append(
            np.zeros(k, bool) if iscrowd is None else np.asarray(iscrowd, bool).reshape(k)
        )
        self._ann_ids.append(
            np.full(k, -1, np.int64) if ann_id is None else np.asarray(ann_id, np.int64).reshape(k)
        )
        self._polys.extend(polygons if polygons is not None else [None] * k)
        self._rles.extend(rles if rles is not None else [None] * k)

    def add_issue(self, file: str | os.PathLike[str], where: str, message: str) -> None:
        """Record a reported (and counted) problem, e.g. a skipped record.

        Example:
            >>> b = DatasetBuilder(["a"]); b.add_issue("f.txt", "line 2", "skipped")
            >>> str(b.build().issues[0])
            'f.txt:line 2: skipped'
        """
        self.issues.append(Issue(str(file), where, message))

    def build(self, root: str | os.PathLike[str] | None = None) -> Dataset:
        """Assemble the dataset.

        Example:
            >>> DatasetBuilder(["a"]).build().num_images
            0
        """
        img = self._img
        table = ImageTable.create(
            img["file_name"],
            img["width"],
            img["height"],
            image_id=img["image_id"],
            split=img["split"],
            source=img["source"],
            offset=np.asarray(img["offset"], dtype=np.int64).reshape(-1, 2),
        )

        def cat(parts: list[np.ndarray], shape: tuple[int, ...], dtype: Any) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(shape, dtype=dtype)

        ann_id = cat(self._ann_ids, (0,), np.int64)
        missing = ann_id < 0
        if missing.any():
            ann_id = ann_id.copy()
            top = int(ann_id.max()) if (~missing).any() else 0
            ann_id[missing] = top + 1 + np.arange(int(missing.sum()))
        rles = self._rles if any(r is not None for r in self._rles) else None
        has_poly = any(p is not None for p in self._polys)
        n = len(self._polys)
        segments = Segments.from_lists(self._polys, rles) if has_poly or rles else Segments.empty(n)
        return Dataset.from_arrays(
            table,
            cat(self._img_parts, (0,), np.int64),
            cat(self._box_parts, (0, 4), np.float64),
            cat(self._cls_parts, (0,), np.int64),
            self.class_names,
            category_ids=None if self.category_ids is None else np.asarray(self.category_ids),
            iscrowd=cat(self._crowd, (0,), bool),
            ann_id=ann_id,
            segments=segments,
            root=root,
            issues=self.issues,
        )
