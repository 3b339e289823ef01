"""Image sizes from file headers, without decoding pixels, in the frame images are read in.

``image_size`` follows the same EXIF orientation policy as the image reader
(``tilewise.images``): by default a JPEG stored 4000x3000 with orientation 6 is 3000x4000,
as viewers (and labelling tools) show it and as ``read_image`` returns it. The small
parsers below are the fallback for files the reader's header parser does not identify.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from tilewise.errors import TilewiseError
from tilewise.images import ExifPolicy, read_header

__all__ = ["IMAGE_SUFFIXES", "image_size"]

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jp2", ".pgm", ".ppm"}
)


def _png(head: bytes) -> tuple[int, int] | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        return int(w), int(h)
    return None


def _gif(head: bytes) -> tuple[int, int] | None:
    if head[:6] in (b"GIF87a", b"GIF89a"):
        w, h = struct.unpack("<HH", head[6:10])
        return int(w), int(h)
    return None


def _bmp(head: bytes) -> tuple[int, int] | None:
    if head[:2] == b"BM" and len(head) >= 26:
        w, h = struct.unpack("<ii", head[18:26])
        return abs(int(w)), abs(int(h))
    return None


def _webp(head: bytes) -> tuple[int, int] | None:
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(head[24:27], "little") + 1
        h = int.from_bytes(head[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and head[20:21] == b"\x2f":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg(path: Path) -> tuple[int, int] | None:
    with open(path, "rb") as fh:
        if fh.read(2) != b"\xff\xd8":
            return None
        while True:
            byte = fh.read(1)
            while byte and byte != b"\xff":
                byte = fh.read(1)
            while byte == b"\xff":
                byte = fh.read(1)
            if not byte:
                return None
            marker = byte[0]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                continue
            raw = fh.read(2)
            if len(raw) < 2:
                return None
            length = struct.unpack(">H", raw)[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                data = fh.read(5)
                if len(data) < 5:
                    return None
                h, w = struct.unpack(">HH", data[1:5])
                return int(w), int(h)
            fh.seek(length - 2, os.SEEK_CUR)


def image_size(
    path: str | os.PathLike[str], *, exif: ExifPolicy | str = ExifPolicy.FOLLOW
) -> tuple[int, int]:
    """(width, height) of an image file, from its header when possible, else by decoding.

    With ``exif="follow"`` (default) the size is the displayed one (sides swapped for EXIF
    orientations 5-8); ``"ignore"`` gives the stored size.

    Raises:
        TilewiseError: the file is missing or is not a readable image.

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> _ = cv2.imwrite(str(p), np.zeros((3, 5, 3), np.uint8))
        >>> image_size(p)
        (5, 3)
    """
    p = Path(path)
    if not p.is_file():
        raise TilewiseError(f"image file not found: {p}")
    follow = ExifPolicy.parse(exif) is ExifPolicy.FOLLOW
    try:
        return read_header(p).display_wh(follow)
    except TilewiseError:
        pass  # not identified from its header: the parsers below, then a decode
    try:
        with open(p, "rb") as fh:
            head = fh.read(32)
        for parse in (_png, _gif, _bmp, _webp):
            size = parse(head)
            if size is not None and size[0] > 0 and size[1] > 0:
                return size
        size = _jpeg(p) if head[:2] == b"\xff\xd8" else None
    except (OSError, struct.error) as exc:
        raise TilewiseError(f"could not read image header of {p}: {exc}") from exc
    if size is not None and size[0] > 0 and size[1] > 0:
        return size
    import cv2

    img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise TilewiseError(f"could not decode image file: {p}")
    return int(img.shape[1]), int(img.shape[0])
