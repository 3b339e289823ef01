"""Uploaded images: saved under a size limit, then read by the one image reader.

Nothing here decodes pixels itself. The upload is written to a private temporary file
(``save_upload``) and read by ``tilewise.images.read_image``, the reader every command
uses (header first, pixel limit from the header, truncation detection, EXIF policy).
``read_upload`` splits the reader's refusals into HTTP reasons: empty (400), not an
accepted format (415), over the pixel limit from the header (413, before decoding),
truncated (400) or corrupt (400: undecodable, or an accepted format's magic number with a
damaged header). Messages name the client's file name, never the
server's temporary path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, Any

from tilewise.errors import TilewiseError
from tilewise.images import (
    ImageTruncatedError,
    LoadedImage,
    ReadOptions,
    read_header,
    read_image,
)
from tilewise.serve.errors import Refusal, ServeError

__all__ = [
    "FORMATS",
    "clean_filename",
    "read_upload",
    "record_dict",
    "save_upload",
    "sniff_format",
]

FORMATS: dict[str, str] = {
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "PNG": "PNG",
    "TIFF": "TIFF",
    "WEBP": "WebP",
}
"""Container formats accepted (as Pillow names them) -> what the client is told."""

_EXPECTED = "expected a JPEG, PNG, TIFF or WebP image"
_CHUNK = 1 << 20


def clean_filename(name: str | None) -> str:
    r"""The client's file name, safe to echo: no directories, printable, at most 200 chars.

    Example:
        >>> clean_filename("../../etc/pass\nwd.jpg"), clean_filename(None)
        ('pass_wd.jpg', 'upload')
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^\w.\- ]", "_", base).strip()[:200]
    return base or "upload"


def save_upload(source: IO[bytes], target: Path, limit: int) -> int:
    """Copy an upload to ``target`` in chunks, refusing it past ``limit`` bytes.

    Returns:
        Bytes written.

    Raises:
        ServeError: ``upload_too_large`` (413).

    Example:
        >>> import io, tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "u"
        >>> save_upload(io.BytesIO(b"abc"), p, limit=10)
        3
    """
    written = 0
    with open(target, "wb") as out:
        while True:
            chunk = source.read(_CHUNK)
            if not chunk:
                return written
            written += len(chunk)
            if written > limit:
                raise ServeError(
                    Refusal.UPLOAD_TOO_LARGE,
                    f"the upload is over this server's limit of {limit:,} bytes",
                )
            out.write(chunk)


_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"II+\x00", 0, "TIFF"),
    (b"MM\x00+", 0, "TIFF"),
    (b"WEBP", 8, "WebP"),
)


def sniff_format(path: Path) -> str | None:
    r"""The accepted format a file's first bytes announce (its magic number), else None.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "u"
        >>> _ = p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(8))
        >>> sniff_format(p)
        'PNG'
    """
    with open(path, "rb") as fh:
        head = fh.read(16)
    for magic, offset, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def _named(exc: BaseException, path: Path, filename: str) -> str:
    return str(exc).replace(str(path), filename)


def read_upload(path: Path, filename: str, options: ReadOptions) -> LoadedImage:
    """Read a saved upload through ``tilewise.images.read_image``, or refuse it.

    Args:
        path: the saved upload.
        filename: the client's name for it (used in messages and the record).
        options: the reading policy (its pixel limit is the server's).

    Raises:
        ServeError: ``empty_file``, ``unsupported_media_type``, ``too_many_pixels``,
            ``truncated_image`` or ``corrupt_image``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "u"
        >>> _ = p.write_text("hello")
        >>> try:
        ...     read_upload(p, "photo.jpg", ReadOptions())
        ... except ServeError as e:
        ...     print(e.status, e.reason.value)
        415 unsupported_media_type
    """
    if path.stat().st_size == 0:
        raise ServeError(Refusal.EMPTY_FILE, f"{filename} is empty (0 bytes); {_EXPECTED}")
    try:
        header = read_header(path)
    except TilewiseError as exc:
        claimed = sniff_format(path)
        if claimed is not None:  # it says it is an accepted format, but its header is broken
            raise ServeError(
                Refusal.CORRUPT_IMAGE,
                f"{filename} starts like a {claimed} file but its header is damaged: "
                f"{_named(exc, path, filename)}",
            ) from None
        raise ServeError(
            Refusal.UNSUPPORTED_MEDIA_TYPE, f"{_named(exc, path, filename)}; {_EXPECTED}"
        ) from None
    if header.format.upper() not in FORMATS:
        raise ServeError(
            Refusal.UNSUPPORTED_MEDIA_TYPE, f"{filename} is a {header.format} image; {_EXPECTED}"
        )
    limit = options.pixel_limit
    if header.pixels > limit:
        w, h = header.stored_wh
        raise ServeError(
            Refusal.TOO_MANY_PIXELS,
            f"{filename}: its header says {w}x{h} = {header.pixels:,} pixels, over this "
            f"server's limit of {limit:,} decoded pixels (refused before decoding)",
        )
    try:
        loaded = read_image(path, options, warn=False)
    except ImageTruncatedError as exc:
        raise ServeError(Refusal.TRUNCATED_IMAGE, _truncated(exc, path, filename)) from None
    except TilewiseError as exc:
        raise ServeError(Refusal.CORRUPT_IMAGE, _named(exc, path, filename)) from None
    except Exception as exc:  # a decoder's own failure on hostile input is still a bad file
        raise ServeError(
            Refusal.CORRUPT_IMAGE,
            f"could not decode {filename} ({header.format}): {type(exc).__name__}: {exc}"[:500],
        ) from None
    return loaded


def _truncated(exc: BaseException, path: Path, filename: str) -> str:
    return (
        f"{filename} is truncated: the image data ends early; the file was probably cut "
        "short while copying or uploading. Send the whole file"
        if str(path) in str(exc)
        else _named(exc, path, filename)
    )


def record_dict(loaded: LoadedImage, filename: str) -> dict[str, Any]:
    """The read record as ``predict`` writes it (``image_read``), naming the client's file.

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "u"
        >>> _ = cv2.imwrite(str(p) + ".png", np.zeros((2, 3, 3), np.uint8))
        >>> rec = record_dict(read_image(str(p) + ".png"), "a.png")
        >>> rec["path"], rec["image_wh"]
        ('a.png', [3, 2])
    """
    record = loaded.record.to_dict()
    record["path"] = filename
    return record
