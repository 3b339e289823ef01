"""Image metadata from the file header, before any pixel is decoded.

``read_header`` opens the file with Pillow's format plugins, which parse only the header
(size, mode, EXIF), and refines what Pillow's mode hides: a PNG's bit depth comes from its
IHDR chunk, a TIFF's bits, bands and sample format from its tags. Pillow's own
decompression-bomb check is bypassed: tilewise applies its own limit (``ReadOptions``),
from this header, before decoding. Files Pillow cannot represent (16-bit RGB, float RGB
TIFF) are marked for OpenCV's decoder; a TIFF Pillow cannot open at all still gets its
size from a small IFD parser.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from tilewise.errors import TilewiseError
from tilewise.images.orientation import display_wh, is_valid_orientation

__all__ = ["ImageHeader", "open_with_pillow", "read_header"]

Decoder = Literal["pillow", "opencv"]

_MODE_BANDS_BITS: dict[str, tuple[int, int, str]] = {
    "1": (1, 1, "uint"),
    "L": (1, 8, "uint"),
    "P": (1, 8, "uint"),
    "LA": (2, 8, "uint"),
    "La": (2, 8, "uint"),
    "PA": (2, 8, "uint"),
    "RGB": (3, 8, "uint"),
    "YCbCr": (3, 8, "uint"),
    "LAB": (3, 8, "uint"),
    "HSV": (3, 8, "uint"),
    "RGBA": (4, 8, "uint"),
    "RGBa": (4, 8, "uint"),
    "RGBX": (4, 8, "uint"),
    "CMYK": (4, 8, "uint"),
    "I;16": (1, 16, "uint"),
    "I;16L": (1, 16, "uint"),
    "I;16B": (1, 16, "uint"),
    "I;16N": (1, 16, "uint"),
    "I": (1, 32, "int"),
    "F": (1, 32, "float"),
}
_PNG_BANDS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_TIFF_SAMPLE = {1: "uint", 2: "int", 3: "float"}


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says.

    Attributes:
        path: the file.
        format: container format as Pillow names it (``"JPEG"``, ``"PNG"``, ``"TIFF"``...).
        stored_wh: (width, height) of the pixels as stored in the file.
        orientation: EXIF orientation 1..8 (1 when the file has none).
        mode: Pillow's mode (``"RGB"``, ``"I;16"``, ``"CMYK"``...), or a description such
            as ``"3x16-bit"`` for files only OpenCV decodes.
        bands: samples per pixel, alpha included.
        bits: bits per sample.
        sample: ``"uint"``, ``"int"`` or ``"float"``.
        decoder: which library decodes the pixels (``"pillow"`` or ``"opencv"``).
        file_bytes: file size in bytes.
    """

    path: Path
    format: str
    stored_wh: tuple[int, int]
    orientation: int
    mode: str
    bands: int
    bits: int
    sample: str
    decoder: Decoder
    file_bytes: int

    @property
    def pixels(self) -> int:
        """Decoded pixels (width x height)."""
        return self.stored_wh[0] * self.stored_wh[1]

    @property
    def rotated(self) -> bool:
        """Whether the EXIF orientation asks viewers to turn or mirror the image."""
        return self.orientation != 1

    def display_wh(self, follow_exif: bool = True) -> tuple[int, int]:
        """(width, height) as read: as displayed when following EXIF, else as stored."""
        return display_wh(self.stored_wh, self.orientation) if follow_exif else self.stored_wh

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "path": str(self.path),
            "format": self.format,
            "stored_wh": list(self.stored_wh),
            "orientation": self.orientation,
            "mode": self.mode,
            "bands": self.bands,
            "bits": self.bits,
            "sample": self.sample,
            "decoder": self.decoder,
            "file_bytes": self.file_bytes,
        }


def open_with_pillow(fh: IO[bytes], path: str | os.PathLike[str]) -> Any | None:
    """Identify ``fh`` with Pillow's plugins (header only); None when none accepts it.

    Like ``PIL.Image.open`` but without Pillow's global decompression-bomb check (tilewise
    checks its own limit from the header) and without taking ownership of ``fh``.
    """
    from PIL import Image

    prefix = fh.read(16)
    tried: set[str] = set()
    for loader in (Image.preinit, Image.init):
        loader()
        for fmt in list(Image.ID):
            if fmt in tried:
                continue
            tried.add(fmt)
            factory, accept = Image.OPEN[fmt]
            try:
                verdict = accept(prefix) if accept else True
                if not verdict or isinstance(verdict, str):
                    continue
                fh.seek(0)
                return factory(fh, os.fspath(path))
            except (SyntaxError, IndexError, TypeError, ValueError, struct.error, OSError):
                continue
    return None


def _png_depth(head: bytes) -> tuple[int, int] | None:
    """(bit depth, bands) from a PNG's IHDR."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 26:
        return head[24], _PNG_BANDS.get(head[25], 1)
    return None


def _tiff_ifd(fh: IO[bytes]) -> dict[int, tuple[int, ...]] | None:
    """The first IFD's numeric tags of a classic (non-Big) TIFF, or None."""
    fh.seek(0)
    head = fh.read(8)
    if head[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    end = "<" if head[:2] == b"II" else ">"
    (offset,) = struct.unpack(end + "I", head[4:8])
    fh.seek(offset)
    raw = fh.read(2)
    if len(raw) < 2:
        return None
    (count,) = struct.unpack(end + "H", raw)
    sizes = {1: ("B", 1), 3: ("H", 2), 4: ("I", 4)}
    tags: dict[int, tuple[int, ...]] = {}
    entries = fh.read(12 * count)
    for k in range(len(entries) // 12):
        tag, kind, n = struct.unpack(end + "HHI", entries[12 * k : 12 * k + 8])
        if kind not in sizes or n < 1:
            continue
        code, size = sizes[kind]
        data = entries[12 * k + 8 : 12 * k + 12]
        if n * size > 4:
            here = fh.tell()
            (pointer,) = struct.unpack(end + "I", data)
            fh.seek(pointer)
            data = fh.read(n * size)
            fh.seek(here)
        if len(data) >= n * size:
            tags[tag] = struct.unpack(end + code * n, data[: n * size])
    return tags


def _from_tiff_tags(path: Path, tags: dict[int, tuple[int, ...]], nbytes: int) -> ImageHeader:
    try:
        w, h = tags[256][0], tags[257][0]
    except KeyError:
        raise TilewiseError(f"{path}: TIFF without image width/length tags") from None
    bits = max(tags.get(258, (1,)))
    bands = tags.get(277, (1,))[0]
    sample = _TIFF_SAMPLE.get(tags.get(339, (1,))[0], "uint")
    orientation = tags.get(274, (1,))[0]
    return ImageHeader(
        path,
        "TIFF",
        (int(w), int(h)),
        orientation if is_valid_orientation(orientation) else 1,
        f"{bands}x{bits}-bit {sample}",
        int(bands),
        int(bits),
        sample,
        "opencv",
        nbytes,
    )


def _orientation(im: Any) -> int:
    value: Any = None
    if getattr(im, "format", None) == "TIFF":
        value = im.tag_v2.get(0x0112)
    else:
        raw = im.info.get("exif")  # present when the EXIF block precedes the pixel data
        if raw:
            from PIL import Image

            exif = Image.Exif()
            try:
                exif.load(raw)
                value = exif.get(0x0112)
            except Exception:  # malformed EXIF: no orientation, as viewers do
                value = None
    return value if is_valid_orientation(value) else 1


def _describe(path: Path, head: bytes) -> str:
    if not head:
        return f"{path} is empty (0 bytes)"
    shown = head[:12]
    return (
        f"could not decode image file {path}: its content is not a known image format "
        f"(it starts with {shown!r})"
    )


def read_header(path: str | os.PathLike[str]) -> ImageHeader:
    """Read an image file's header: size, EXIF orientation, mode, bands, bits; no pixels.

    Raises:
        TilewiseError: the file is missing, empty, or not an image this build can read.

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> _ = cv2.imwrite(str(p), np.zeros((3, 5), np.uint16))
        >>> h = read_header(p)
        >>> h.format, h.stored_wh, h.bits, h.bands, h.orientation
        ('PNG', (5, 3), 16, 1, 1)
    """
    p = Path(path)
    if not p.is_file():
        raise TilewiseError(f"image file not found: {p}")
    try:
        nbytes = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(64)
            if not head:
                raise TilewiseError(_describe(p, head))
            fh.seek(0)
            im = open_with_pillow(fh, p)
            if im is None:
                tags = _tiff_ifd(fh)
                if tags is None:
                    raise TilewiseError(_describe(p, head))
                return _from_tiff_tags(p, tags, nbytes)
            return _from_pillow(p, im, head, nbytes)
    except (OSError, struct.error) as exc:
        raise TilewiseError(f"could not read the image header of {p}: {exc}") from exc


def _from_pillow(p: Path, im: Any, head: bytes, nbytes: int) -> ImageHeader:
    mode = str(im.mode)
    bands, bits, sample = _MODE_BANDS_BITS.get(mode, (len(im.getbands()), 8, "uint"))
    wh = (int(im.size[0]), int(im.size[1]))
    orientation = _orientation(im)
    decoder: Decoder = "pillow"
    fmt = str(im.format)
    if fmt == "PNG":
        depth = _png_depth(head)
        if depth is not None:
            bits, bands = max(depth[0], 1), depth[1]
            if bits == 16 and bands > 1:
                decoder = "opencv"  # Pillow keeps only the high byte of 16-bit colour
            if mode == "I" and bits == 16:
                sample = "uint"
    elif fmt == "TIFF":
        tags = im.tag_v2
        bits = max(tags.get(258, (bits,)) or (bits,))
        bands = int(tags.get(277, bands))
        sample = _TIFF_SAMPLE.get(int((tags.get(339) or (1,))[0]), sample)
        wh = (int(tags.get(256, wh[0])), int(tags.get(257, wh[1])))  # stored, not displayed
        if bits > 8 and bands > 1:
            decoder = "opencv"
    if decoder == "opencv":
        mode = f"{bands}x{bits}-bit {sample}"
    return ImageHeader(p, fmt, wh, orientation, mode, bands, bits, sample, decoder, nbytes)
