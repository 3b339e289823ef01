"""Image sizes from headers: every parser (PNG, JPEG, BMP, GIF, WebP) on real and crafted files.

Issue 17, item 4: the JPEG, BMP, GIF and WebP header parsers had no test. Real files come
from OpenCV and Pillow encoders; crafted headers pin the byte layouts the parsers read
(progressive JPEG, APP segments and fill bytes before the frame header, top-down BMP,
the three WebP chunk kinds). ``image_size`` must answer without decoding pixels.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise.datasets import imagesize
from tilewise.datasets.imagesize import image_size
from tilewise.errors import TilewiseError

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

SIZES = [(1, 1), (7, 3), (640, 480), (333, 1021)]


def _pixels(wh: tuple[int, int]) -> np.ndarray:
    w, h = wh
    rng = np.random.default_rng(w * 7919 + h)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def _write(path: Path, wh: tuple[int, int], **params: int) -> Path:
    flags = [v for kv in params.items() for v in (getattr(cv2, kv[0]), kv[1])]
    assert cv2.imwrite(str(path), _pixels(wh), flags)
    return path


def _pil(path: Path, wh: tuple[int, int], fmt: str, **kw: object) -> Path:
    Image.fromarray(_pixels(wh)).save(path, fmt, **kw)
    return path


def _pil_rgba_webp(path: Path, wh: tuple[int, int]) -> Path:
    """Lossless WebP with alpha: Pillow writes the extended (VP8X) layout."""
    rgb = _pixels(wh)
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])).save(
        path, "WEBP", lossless=True
    )
    return path


# (suffix, writer) for every format the parsers cover
WRITERS = {
    "png": lambda p, wh: _write(p.with_suffix(".png"), wh),
    "jpeg-baseline": lambda p, wh: _write(p.with_suffix(".jpg"), wh, IMWRITE_JPEG_QUALITY=90),
    "jpeg-progressive": lambda p, wh: _write(p.with_suffix(".jpg"), wh, IMWRITE_JPEG_PROGRESSIVE=1),
    "jpeg-pil-exif": lambda p, wh: _pil(
        p.with_suffix(".jpg"), wh, "JPEG", exif=Image.Exif(), comment=b"x" * 300
    ),
    "bmp": lambda p, wh: _write(p.with_suffix(".bmp"), wh),
    "gif": lambda p, wh: _pil(p.with_suffix(".gif"), wh, "GIF"),
    "webp-lossy": lambda p, wh: _write(p.with_suffix(".webp"), wh, IMWRITE_WEBP_QUALITY=80),
    "webp-lossless": lambda p, wh: _write(p.with_suffix(".webp"), wh, IMWRITE_WEBP_QUALITY=101),
    "webp-extended": lambda p, wh: _pil_rgba_webp(p.with_suffix(".webp"), wh),
}

# the parser each real file is read by when it has to fall back on its own header
PARSER = {
    "png": imagesize._png,
    "bmp": imagesize._bmp,
    "gif": imagesize._gif,
    "webp-lossy": imagesize._webp,
    "webp-lossless": imagesize._webp,
    "webp-extended": imagesize._webp,
}


@pytest.mark.parametrize("wh", SIZES, ids=lambda wh: f"{wh[0]}x{wh[1]}")
@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_image_size_of_real_files_without_decoding(tmp_path, monkeypatch, kind, wh) -> None:
    path = WRITERS[kind](tmp_path / "im", wh)

    def no_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("image_size decoded the pixels")

    monkeypatch.setattr(cv2, "imread", no_decode)
    assert image_size(path) == wh
    # and the module's own parser reads the same size from the header bytes
    head = path.read_bytes()[:32]
    if kind in PARSER:
        assert PARSER[kind](head) == wh
    else:
        assert imagesize._jpeg(path) == wh


# ----------------------------------------------------------------------------- crafted headers


def _jpeg_bytes(w: int, h: int, sof: int = 0xC0, prefix: bytes = b"") -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + bytes([1, 2, 0, 0, 1, 0, 1, 0, 0])
    dht = b"\xff\xc4" + struct.pack(">H", 5) + b"\x00\x00\x00"  # 0xC4 is not a frame header
    sof_seg = bytes([0xFF, sof]) + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + prefix + app0 + dht + b"\xff\xff" + sof_seg + b"\xff\xd9"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_jpeg_bytes(640, 480), (640, 480)),
        (_jpeg_bytes(3, 65535, sof=0xC2), (3, 65535)),  # progressive
        (_jpeg_bytes(17, 9, sof=0xC1), (17, 9)),  # extended sequential
        (_jpeg_bytes(5, 6, prefix=b"\xff\xd0"), (5, 6)),  # a stray RST marker is skipped
        (_jpeg_bytes(5, 6)[:35], None),  # truncated inside the frame header
        (b"\xff\xd8", None),
        (b"\x89PNG", None),  # not a JPEG
    ],
    ids=["baseline", "progressive", "sof1", "rst", "truncated", "soi-only", "png"],
)
def test_jpeg_parser_table(tmp_path, data: bytes, expected) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(data)
    assert imagesize._jpeg(path) == expected


def _bmp_bytes(w: int, h: int) -> bytes:
    return b"BM" + b"\x00" * 16 + struct.pack("<ii", w, h) + b"\x00" * 6


def _webp_vp8x(w: int, h: int) -> bytes:
    return (
        b"RIFF\x00\x00\x00\x00WEBPVP8X"
        + b"\x0a\x00\x00\x00\x10\x00\x00\x00"
        + (w - 1).to_bytes(3, "little")
        + (h - 1).to_bytes(3, "little")
    )


def _webp_vp8(w: int, h: int, scale: int = 0) -> bytes:
    return (
        b"RIFF\x00\x00\x00\x00WEBPVP8 "
        + b"\x00\x00\x00\x00"
        + b"\x00\x00\x00\x9d\x01\x2a"
        + struct.pack("<HH", w | scale << 14, h | scale << 14)
        + b"\x00\x00"
    )


def _webp_vp8l(w: int, h: int) -> bytes:
    bits = (w - 1) | (h - 1) << 14
    return b"RIFF\x00\x00\x00\x00WEBPVP8L" + b"\x00\x00\x00\x00\x2f" + bits.to_bytes(4, "little")


@pytest.mark.parametrize(
    ("parse", "head", "expected"),
    [
        (imagesize._bmp, _bmp_bytes(31, 17), (31, 17)),
        (imagesize._bmp, _bmp_bytes(31, -17), (31, 17)),  # top-down rows: negative height
        (imagesize._bmp, b"BM" + b"\x00" * 10, None),  # too short
        (imagesize._gif, b"GIF87a" + struct.pack("<HH", 300, 2), (300, 2)),
        (imagesize._gif, b"GIF89a" + struct.pack("<HH", 1, 65535), (1, 65535)),
        (imagesize._gif, b"GIF90a" + struct.pack("<HH", 1, 1), None),
        (imagesize._webp, _webp_vp8x(1, 1), (1, 1)),
        (imagesize._webp, _webp_vp8x(16_777_216, 3), (16_777_216, 3)),  # 24-bit fields
        (imagesize._webp, _webp_vp8(1000, 700), (1000, 700)),
        (imagesize._webp, _webp_vp8(1000, 700, scale=3), (1000, 700)),  # scale bits masked
        (imagesize._webp, _webp_vp8(5, 5)[:23] + b"\x00\x00\x00" + b"\x00" * 6, None),
        (imagesize._webp, _webp_vp8l(16384, 1), (16384, 1)),  # 14-bit fields, +1
        (imagesize._webp, _webp_vp8l(9, 9)[:20] + b"\x00" + b"\x00" * 4, None),  # bad signature
        (imagesize._webp, b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (imagesize._png, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 9, 4), (9, 4)),
        (imagesize._png, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIDAT" + struct.pack(">II", 9, 4), None),
    ],
)
def test_header_parser_table(parse, head: bytes, expected) -> None:
    assert parse(head) == expected


@settings(max_examples=200, deadline=None)
@given(w=st.integers(1, 16384), h=st.integers(1, 16384))
def test_webp_and_bmp_and_gif_headers_round_trip_property(w: int, h: int) -> None:
    assert imagesize._webp(_webp_vp8l(w, h)) == (w, h)
    assert imagesize._webp(_webp_vp8x(w, h)) == (w, h)
    assert imagesize._webp(_webp_vp8(w & 0x3FFF or 1, h & 0x3FFF or 1)) == (
        w & 0x3FFF or 1,
        h & 0x3FFF or 1,
    )
    assert imagesize._bmp(_bmp_bytes(w, h)) == (w, h)
    assert imagesize._bmp(_bmp_bytes(w, -h)) == (w, h)
    assert imagesize._gif(b"GIF89a" + struct.pack("<HH", w, h)) == (w, h)


@settings(max_examples=100, deadline=None)
@given(
    w=st.integers(1, 65535),
    h=st.integers(1, 65535),
    sof=st.sampled_from([0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCF]),
    junk=st.binary(max_size=40).map(lambda b: b.replace(b"\xff", b"\x00")),
)
def test_jpeg_header_property(tmp_path_factory, w: int, h: int, sof: int, junk: bytes) -> None:
    # an APPn segment of arbitrary (0xFF-free) payload before every frame-header kind
    app = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
    path = tmp_path_factory.mktemp("jpeg") / "x.jpg"
    path.write_bytes(_jpeg_bytes(w, h, sof=sof, prefix=app))
    assert imagesize._jpeg(path) == (w, h)


def test_unknown_or_missing_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(TilewiseError, match="not found"):
        image_size(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(TilewiseError):
        image_size(tmp_path / "junk.png")
