"""Generated image files for the input-integrity tests: every bad input a user really has.

Each maker writes one file into a directory and returns its path. ``BAD_INPUTS`` is the
issue-16 table: the file, what reading it must give (an error matching a pattern, or
pixels of a given displayed size), and the record fields that must be set.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

W, H = 48, 32  # stored size of the generated photos (landscape)


def scene(w: int = W, h: int = H, seed: int = 0) -> np.ndarray:
    """A smooth RGB test picture with a white square marker in its top-left quarter."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur((rng.random((h, w, 3)) * 100).astype(np.uint8), (5, 5), 2)
    img[4:10, 6:12] = 255
    return img


def _jpeg_bytes(rgb: np.ndarray, **kw: Any) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def exif_jpeg(d: Path, orientation: int, displayed: np.ndarray | None = None) -> Path:
    """A JPEG whose *displayed* view is ``displayed`` (stored turned by ``orientation``)."""
    from tilewise.images import unorient

    shown = scene() if displayed is None else displayed
    stored = unorient(shown, orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = d / f"exif{orientation}.jpg"
    path.write_bytes(_jpeg_bytes(stored, exif=exif.tobytes(), subsampling=0))
    return path


def truncated_jpeg(d: Path) -> Path:
    data = _jpeg_bytes(scene(96, 96))
    path = d / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    return path


def truncated_png(d: Path) -> Path:
    ok, buf = cv2.imencode(".png", scene(96, 96))
    assert ok
    data = buf.tobytes()
    path = d / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    return path


def zero_bytes(d: Path) -> Path:
    path = d / "empty.jpg"
    path.write_bytes(b"")
    return path


def text_as_jpg(d: Path) -> Path:
    path = d / "notes.jpg"
    path.write_text("these are my field notes, not a picture\n")
    return path


def gray16(d: Path) -> Path:
    ramp = np.linspace(0, 65535, W * H).reshape(H, W).astype(np.uint16)
    path = d / "gray16.png"
    cv2.imwrite(str(path), ramp)
    return path


def rgb16(d: Path) -> Path:
    rgb = scene().astype(np.uint16) * 257  # 8-bit scene in the 16-bit full range
    path = d / "rgb16.png"
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def float_tiff(d: Path) -> Path:
    values = np.linspace(0.0, 1.0, W * H, dtype=np.float32).reshape(H, W)
    path = d / "float.tif"
    cv2.imwrite(str(path), values)
    return path


def rgba_transparent(d: Path) -> Path:
    rgba = np.dstack([scene(), np.full((H, W), 255, np.uint8)])
    rgba[:, : W // 2, 3] = 0  # left half fully transparent
    rgba[:, W // 2 : W // 2 + 4, 3] = 128  # a half-transparent band
    path = d / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def cmyk_jpeg(d: Path) -> Path:
    path = d / "cmyk.jpg"
    Image.new("CMYK", (W, H), (0, 255, 255, 0)).save(path, quality=95)  # pure red
    return path


def palette_png(d: Path) -> Path:
    path = d / "palette.png"
    Image.fromarray(scene()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(path)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def huge_png_header(d: Path, side: int = 100_000) -> Path:
    """A 1 kB PNG whose header claims side x side RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    body = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
    path = d / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + png_chunk(b"IEND", b""))
    return path


def one_pixel(d: Path) -> Path:
    path = d / "one.png"
    cv2.imwrite(str(path), np.full((1, 1, 3), 200, np.uint8))
    return path


@dataclass(frozen=True)
class BadInput:
    """One row of the bad-input table.

    ``error`` is a regex the error must match (reading must fail); otherwise reading must
    give pixels of ``wh`` (displayed width, height) and the record must hold ``record``.
    """

    name: str
    make: Callable[[Path], Path]
    error: str | None = None
    wh: tuple[int, int] | None = None
    record: dict[str, Any] = field(default_factory=dict)


BAD_INPUTS: tuple[BadInput, ...] = (
    BadInput("truncated_jpeg", truncated_jpeg, error="truncated"),
    BadInput("truncated_png", truncated_png, error="truncated"),
    BadInput("zero_bytes", zero_bytes, error=r"empty \(0 bytes\)"),
    BadInput("text_named_jpg", text_as_jpg, error="not a known image format"),
    BadInput("exif3", lambda d: exif_jpeg(d, 3), wh=(W, H), record={"orientation": 3}),
    BadInput("exif6", lambda d: exif_jpeg(d, 6), wh=(W, H), record={"orientation": 6}),
    BadInput("exif8", lambda d: exif_jpeg(d, 8), wh=(W, H), record={"orientation": 8}),
    BadInput("gray16", gray16, wh=(W, H), record={"bits": 16, "converted_from": "grey"}),
    BadInput("rgb16", rgb16, wh=(W, H), record={"bits": 16, "bands": 3}),
    BadInput("float_tiff", float_tiff, wh=(W, H), record={"bits": 32}),
    BadInput("rgba", rgba_transparent, wh=(W, H), record={"bands": 4}),
    BadInput("cmyk", cmyk_jpeg, wh=(W, H), record={"converted_from": "CMYK"}),
    BadInput("palette", palette_png, wh=(W, H), record={"converted_from": "P"}),
    BadInput("huge_header", huge_png_header, error=r"100000x100000.*limit.*--max-pixels"),
    BadInput("one_pixel", one_pixel, wh=(1, 1), record={}),
)
"""The issue-16 table: at least 12 generated files, each with its documented result."""
