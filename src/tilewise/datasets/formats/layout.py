"""On-disk layout shared by the writers: ``images/<split>/...`` and image transfer."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from enum import Enum
from pathlib import Path, PurePath, PurePosixPath

from tilewise.datasets.dataset import Dataset
from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_path, same_content

__all__ = ["ImageTransfer", "check_unique", "layout_name", "split_names", "transfer_images"]


class ImageTransfer(str, Enum):
    """How ``convert`` places image files in the new layout."""

    COPY = "copy"
    LINK = "link"
    NONE = "none"


def split_names(ds: Dataset) -> list[str]:
    """The dataset's split names in a stable order (``""`` when unassigned).

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["a"]); _ = b.add_image("x", 1, 1, split="val")
        >>> _ = b.add_image("y", 1, 1, split="train"); split_names(b.build())
        ['train', 'val']
    """
    order = {"train": 0, "val": 1, "test": 2, "": 3}
    return sorted({str(s) for s in ds.images.split}, key=lambda s: (order.get(s, 4), s))


def layout_name(file_name: str, split: str) -> PurePosixPath:
    """An image's path below ``images/<split>/``: a leading ``images/<split>/`` is dropped.

    Example:
        >>> layout_name("images/train/a/b.png", "train").as_posix()
        'a/b.png'
    """
    parts = list(PurePosixPath(str(file_name).replace("\\", "/")).parts)
    if parts and parts[0] == "images":
        parts = parts[1:]
        if split and parts and parts[0] == split:
            parts = parts[1:]
    parts = [p for p in parts if p not in ("..", ".", "/")]
    if not parts:
        raise TilewiseError(f"cannot place image {file_name!r} in a dataset layout")
    return PurePosixPath(*parts)


def check_unique(paths: Sequence[PurePath], sources: Sequence[str], what: str) -> None:
    """Refuse two images written to one path, naming the path and both images.

    Without it the second would replace the first without a word (YOLO labels of
    ``a.png`` and ``a.jpg``; ``../a/x.png`` and ``a/x.png`` once ``..`` is dropped).

    Example:
        >>> from pathlib import PurePosixPath as P  # doctest: +ELLIPSIS
        >>> check_unique([P("a.txt"), P("a.txt")], ["a.png", "a.jpg"], "label file")
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: images 'a.png' and 'a.jpg' would share one label ...
    """
    seen: dict[PurePath, int] = {}
    for i, path in enumerate(paths):
        first = seen.setdefault(path, i)
        if first != i:
            raise TilewiseError(
                f"images {sources[first]!r} and {sources[i]!r} would share one {what}, "
                f"{path.as_posix()}: rename one of them"
            )


def transfer_images(
    ds: Dataset, targets: list[Path], mode: ImageTransfer | str = ImageTransfer.COPY
) -> int:
    """Copy or hard-link every image of ``ds`` to ``targets[i]``; returns how many were placed.

    An existing target is left alone only when it holds the same bytes as its source (or is
    the same file); any other existing target is replaced. Hard links fall back to copies
    across devices.

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> transfer_images(DatasetBuilder(["a"]).build(), [], "none")
        0
    """
    mode = ImageTransfer(mode)
    if mode is ImageTransfer.NONE:
        return 0
    placed = 0
    for i, target in enumerate(targets):
        src = ds.image_path(i)
        if not src.is_file():
            raise TilewiseError(f"image file not found: {src}")
        if target.is_file() and same_content(src, target):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode is ImageTransfer.LINK:
            try:
                target.unlink(missing_ok=True)
                os.link(src, target)
                placed += 1
                continue
            except OSError:
                pass
        with atomic_path(target) as tmp:
            shutil.copyfile(src, tmp)
        placed += 1
    return placed
