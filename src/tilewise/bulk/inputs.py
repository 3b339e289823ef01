"""Which images a bulk run covers: a folder, a glob, or a text file listing paths.

Every image gets a *name*: its path relative to the source's root (the folder; the glob's
fixed part; the list file's folder), with ``/`` separators. Names identify images in the
output table and in resumed runs, so they never depend on the current directory.
"""

from __future__ import annotations

import glob as globlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tilewise.errors import TilewiseError
from tilewise.images.check import IMAGE_SUFFIXES

__all__ = ["LIST_SUFFIXES", "ImageList", "file_stat", "is_image_list", "list_images"]

LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})
"""Suffixes of text files read as lists of image paths (one a line, ``#`` comments)."""

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class ImageList:
    """The images of a bulk run, in name order.

    Attributes:
        source: the SOURCE as given (folder, glob or list file).
        root: the folder names are relative to.
        names: each image's path relative to ``root`` (``/`` separators), sorted.
        paths: each image's file, in the order of ``names``.

    Example:
        >>> lst = ImageList("d", Path("d"), ("a.jpg",), (Path("d/a.jpg"),))
        >>> len(lst), lst.names[0]
        (1, 'a.jpg')
    """

    source: str
    root: Path
    names: tuple[str, ...]
    paths: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.names)


def file_stat(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(size in bytes, modification time in ns)`` of a file, or None if it cannot be read.

    A bulk run records it for each image it predicts; a rerun redoes a recorded image
    whose file no longer has it (replaced, edited), instead of skipping it as done.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> _ = p.write_bytes(b"1234")
        >>> file_stat(p)[0], file_stat(p.with_name("b.png"))
        (4, None)
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return int(st.st_size), int(st.st_mtime_ns)


def is_image_list(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` is a text file of image paths (by its suffix).

    Example:
        >>> is_image_list("paths.txt"), is_image_list("a.jpg"), is_image_list("images/")
        (True, False, False)
    """
    return Path(source).suffix.lower() in LIST_SUFFIXES


def _name(path: Path, root: Path) -> str:
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:  # listed outside the list's folder: keep the path as absolute
        return PurePosixPath(path.resolve()).as_posix()
    return PurePosixPath(*rel.parts).as_posix()


def _glob_root(pattern: str) -> Path:
    parts = Path(pattern).parts
    fixed = [p for p in parts[: next(i for i, p in enumerate(parts) if _GLOB_CHARS & set(p))]]
    return Path(*fixed) if fixed else Path(".")


def _read_list(path: Path) -> list[Path]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TilewiseError(f"cannot read the image list {path}: {exc}") from None
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            p = Path(line)
            out.append(p if p.is_absolute() else path.parent / p)
    return out


def list_images(source: str | os.PathLike[str]) -> ImageList:
    r"""The images ``source`` names: a folder (recursively), a glob, or a list file.

    A folder gives its image files (by suffix, recursively); a glob (``*``, ``?``, ``[``)
    the files it matches; a ``.txt``/``.lst``/``.list`` file the paths it lists, one a
    line, relative to its own folder (listed files are taken whatever their suffix, and
    ones that do not exist are kept: reading them fails and is recorded per image).

    Raises:
        TilewiseError: the source does not exist, or names no image; a list names one
            image twice.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for n in ("b.png", "sub/a.jpg", "notes.md"):
        ...     (d / n).parent.mkdir(exist_ok=True); _ = (d / n).write_bytes(b"")
        >>> list_images(d).names
        ('b.png', 'sub/a.jpg')
        >>> _ = (d / "list.txt").write_text("sub/a.jpg\n# a comment\nb.png\n")
        >>> list_images(d / "list.txt").names
        ('b.png', 'sub/a.jpg')
    """
    text = os.fspath(source)
    path = Path(text)
    if _GLOB_CHARS & set(text) and not path.exists():
        root = _glob_root(text)
        files = [
            Path(p)
            for p in globlib.glob(text, recursive=True)
            if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_SUFFIXES
        ]
        kind = "glob"
    elif path.is_dir():
        root = path
        files = [f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
        kind = "folder"
    elif path.is_file() and is_image_list(path):
        root = path.parent
        files = _read_list(path)
        kind = "list"
    elif path.exists():
        raise TilewiseError(
            f"{text} is not a folder, a glob or a list of image paths "
            f"({'/'.join(sorted(LIST_SUFFIXES))})"
        )
    else:
        raise TilewiseError(f"no such folder, glob or image list: {text}")
    named: dict[str, Path] = {}
    for f in files:
        name = _name(f, root)
        if name in named:
            raise TilewiseError(f"the image list {text} names {name} twice")
        named[name] = f
    if not named:
        raise TilewiseError(f"the {kind} {text} holds no image (looked for {_suffixes()})")
    order = sorted(named)
    return ImageList(text, root, tuple(order), tuple(named[n] for n in order))


def _suffixes() -> str:
    return ", ".join(sorted(IMAGE_SUFFIXES))
