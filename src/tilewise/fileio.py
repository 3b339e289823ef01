"""Atomic file writing: a file is either fully written or not there at all."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "same_content",
]


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    The temporary file keeps ``path``'s suffix so writers that pick a format from the
    extension (OpenCV, matplotlib) work. On error the temporary file is removed and
    ``path`` is left untouched.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text()
        'done'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write(path: str | os.PathLike[str], mode: str, payload: Any, **kw: Any) -> Path:
    with atomic_path(path) as tmp:
        fh: IO[Any]
        with open(tmp, mode, **kw) as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write bytes to ``path`` atomically and return the path.

    Example:
        >>> import tempfile, pathlib
        >>> p = atomic_write_bytes(pathlib.Path(tempfile.mkdtemp()) / "b.bin", b"ab")
        >>> p.read_bytes()
        b'ab'
    """
    return _write(path, "wb", data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically and return the path.

    Example:
        >>> import tempfile, pathlib
        >>> atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "t.txt", "hi").read_text()
        'hi'
    """
    return _write(path, "w", text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """Serialise ``obj`` as JSON to ``path`` atomically and return the path.

    Example:
        >>> import tempfile, pathlib, json
        >>> p = atomic_write_json(pathlib.Path(tempfile.mkdtemp()) / "d.json", {"a": 1})
        >>> json.loads(p.read_text())
        {'a': 1}
    """
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def same_content(
    a: str | os.PathLike[str], b: str | os.PathLike[str], chunk: int = 1 << 20
) -> bool:
    """Whether two existing files hold the same bytes.

    The same file (one inode, e.g. a hard link) is identical without reading it; files of
    different sizes differ; otherwise the contents are compared chunk by chunk. Size and
    modification time alone are never taken as proof: an image rewritten with new pixels of
    the same dimensions often keeps its byte size (always, for uncompressed formats).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a").write_bytes(b"abc"); _ = (d / "b").write_bytes(b"abd")
        >>> same_content(d / "a", d / "b"), same_content(d / "a", d / "a")
        (False, True)
    """
    sa, sb = os.stat(a), os.stat(b)
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True
    if sa.st_size != sb.st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(chunk), fb.read(chunk)
            if ca != cb:
                return False
            if not ca:
                return True
