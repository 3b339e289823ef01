"""The one image reader: every path that reads image files comes through ``read_image``.

Order of work, so a bad file costs as little as possible:

1. the header (``read_header``): size, orientation, bits, bands; nothing decoded;
2. the decoded-pixel limit, from the header;
3. decoding, asking the decoder whether the data was complete (Pillow raises on a
   truncated JPEG/PNG/BMP/GIF stream; the partial image is kept only when allowed);
4. conversion to H x W x 3 uint8 RGB: 16-bit/float scaling, palette/CMYK/grey conversion,
   alpha compositing;
5. EXIF orientation.

Normal 8-bit RGB files give exactly the pixels OpenCV's ``imread`` gives (both use
libjpeg-turbo, libpng...; checked in the tests).
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError, TilewiseWarning
from tilewise.images.arrays import ImageLike, as_rgb
from tilewise.images.header import ImageHeader, open_with_pillow, read_header
from tilewise.images.options import ExifPolicy, ReadOptions
from tilewise.images.orientation import orient, unorient
from tilewise.images.pixels import composite, scale_to_uint8, scaling_range

__all__ = [
    "RASTER_HINT",
    "ImageRecord",
    "ImageTruncatedError",
    "LoadedImage",
    "check_pixel_limit",
    "load_image",
    "read_image",
]

RASTER_HINT = (
    "huge rasters (orthomosaics, satellite scenes) must be read window by window rather than "
    "decoded whole: give them as a tiled GeoTIFF/COG, which `tilewise predict` (with the geo "
    "extra) and tilewise.sources.RasterSource read by windows"
)
"""Where the pixel-limit error points larger inputs."""

_GREY_MODES = {"1", "L", "I;16", "I;16L", "I;16B", "I;16N", "I", "F"}
_TO_RGB = {"CMYK", "YCbCr", "LAB", "HSV", "RGBX"}
_TO_RGBA = {"LA", "La", "PA", "RGBa"}


class ImageTruncatedError(TilewiseError):
    """An image file ends before its pixel data does (and truncated files are not allowed)."""


@dataclass
class ImageRecord:
    """How one image file was read: what its header said and what was done to it.

    Attributes:
        header: the file's header.
        image_wh: (width, height) of the pixels returned.
        exif: the orientation policy applied.
        oriented: whether the pixels were turned/mirrored to the EXIF orientation.
        truncated: the file ended early; the missing rows are black (only with
            ``allow_truncated``).
        scaling: for samples wider than 8 bits, the rule and the range mapped to 0..255.
        alpha: for images with transparency, the background colour composited on.
        converted_from: the colour model converted to RGB (``"CMYK"``, ``"P"``, grey...).
    """

    header: ImageHeader
    image_wh: tuple[int, int]
    exif: str = ExifPolicy.FOLLOW.value
    oriented: bool = False
    truncated: bool = False
    scaling: dict[str, Any] | None = None
    alpha: dict[str, Any] | None = None
    converted_from: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (what prediction and tiling outputs carry per image).

        Example:
            >>> import tempfile, pathlib, numpy as np, cv2
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
            >>> _ = cv2.imwrite(str(p), np.zeros((2, 3, 3), np.uint8))
            >>> rec = read_image(p).record.to_dict()
            >>> rec["image_wh"], rec["truncated"], rec["orientation"]
            ([3, 2], False, 1)
        """
        h = self.header
        return {
            "path": str(h.path),
            "format": h.format,
            "stored_wh": list(h.stored_wh),
            "image_wh": list(self.image_wh),
            "orientation": h.orientation,
            "exif": self.exif,
            "oriented": self.oriented,
            "mode": h.mode,
            "bits": h.bits,
            "bands": h.bands,
            "truncated": self.truncated,
            "scaling": self.scaling,
            "alpha": self.alpha,
            "converted_from": self.converted_from,
        }


@dataclass
class LoadedImage:
    """Pixels (H x W x 3 uint8 RGB) and the record of how they were read."""

    pixels: np.ndarray
    record: ImageRecord


def check_pixel_limit(header: ImageHeader, limit: int) -> None:
    """Refuse an image whose header claims more than ``limit`` decoded pixels.

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> _ = cv2.imwrite(str(p), np.zeros((20, 30), np.uint8))
        >>> try:
        ...     check_pixel_limit(read_header(p), 100)
        ... except TilewiseError as e:
        ...     print(str(e).split(": ", 1)[1][:60])
        its header says 30x20 = 600 pixels, over the decoded-pixel l
    """
    if header.pixels <= limit:
        return
    w, h = header.stored_wh
    raise TilewiseError(
        f"{header.path}: its header says {w}x{h} = {_megapixels(header.pixels)}, over the "
        f"decoded-pixel limit of {_megapixels(limit)}; "
        f"{RASTER_HINT}; if this image is genuine and fits in memory, raise the limit with "
        "--max-pixels N or TILEWISE_MAX_PIXELS=N"
    )


def _megapixels(n: int) -> str:
    return f"{n / 1e6:,.1f} MP ({n:,} pixels)" if n >= 10**6 else f"{n:,} pixels"


def _is_truncation(exc: BaseException) -> bool:
    return "truncated" in str(exc).lower()


def _truncated_error(path: Path, exc: BaseException) -> ImageTruncatedError:
    return ImageTruncatedError(
        f"{path} is truncated: the image data ends early ({exc}); the file was probably "
        "cut short while copying. Copy it again, or read what is there with "
        "--allow-truncated (allow_truncated=True): missing rows come out black"
    )


def _decode_pillow(header: ImageHeader, options: ReadOptions) -> tuple[Any, bool, bool]:
    """Decode with Pillow; returns (image, truncated, already_oriented)."""
    path = header.path
    with open(path, "rb") as fh:
        im = open_with_pillow(fh, path)
        if im is None:
            raise TilewiseError(f"could not decode image file: {path}")
        truncated = False
        try:
            im.load()
        except OSError as exc:
            if not _is_truncation(exc):
                raise TilewiseError(f"could not decode image file {path}: {exc}") from exc
            if not options.allow_truncated:
                raise _truncated_error(path, exc) from exc
            truncated = True
            im.tile = []  # keep the rows decoded so far; the rest stay black
        except (ValueError, SyntaxError, struct.error) as exc:
            raise TilewiseError(f"could not decode image file {path}: {exc}") from exc
        # Pillow turns TIFFs to their EXIF orientation while loading, and drops the tag.
        oriented = header.format == "TIFF" and header.rotated and 0x0112 not in im.tag_v2
        return im, truncated, oriented


def _pillow_pixels(im: Any, header: ImageHeader, options: ReadOptions, rec: ImageRecord) -> Any:
    mode = im.mode
    if mode == "RGB":
        return np.array(im)
    if mode == "P":
        has_alpha = "transparency" in im.info or im.palette.mode == "RGBA"
        rec.converted_from = "P"
        return _pillow_pixels(im.convert("RGBA" if has_alpha else "RGB"), header, options, rec)
    if mode in _TO_RGB:
        rec.converted_from = mode
        return np.array(im.convert("RGB"))
    if mode in _TO_RGBA:
        rec.converted_from = rec.converted_from or mode
        return _pillow_pixels(im.convert("RGBA"), header, options, rec)
    if mode == "RGBA":
        rgba = np.array(im)
        return _with_alpha(rgba[..., :3], rgba[..., 3], options, rec)
    if mode in _GREY_MODES:
        grey = np.array(im)
        if mode == "1":
            grey = grey.astype(np.uint8) * np.uint8(255)
        rec.converted_from = rec.converted_from or "grey"
        if grey.dtype != np.uint8:
            grey = _scaled(grey, header, options, rec)
        return np.repeat(grey[:, :, None], 3, axis=2)
    rec.converted_from = mode
    return np.array(im.convert("RGB"))


def _scaled(values: np.ndarray, header: ImageHeader, options: ReadOptions, rec: ImageRecord):
    lo, hi, record = scaling_range(values, options.scaling, bits=header.bits, sample=header.sample)
    rec.scaling = record
    return scale_to_uint8(values, lo, hi)


def _alpha_to_uint8(alpha: np.ndarray, bits: int) -> np.ndarray:
    if alpha.dtype == np.uint8:
        return alpha
    if alpha.dtype.kind == "f":
        return scale_to_uint8(alpha, 0.0, 1.0)
    return scale_to_uint8(alpha, 0.0, float(2 ** min(bits, 32) - 1))


def _with_alpha(
    rgb: np.ndarray, alpha: np.ndarray, options: ReadOptions, rec: ImageRecord
) -> np.ndarray:
    if rgb.dtype != np.uint8 or alpha.dtype != np.uint8:
        raise AssertionError("scale colour and alpha to uint8 first")
    transparent = int(np.count_nonzero(alpha != 255))
    rec.alpha = {"background": list(options.background), "transparent_pixels": transparent}
    if not transparent:
        return np.ascontiguousarray(rgb)
    return composite(rgb, alpha, options.background)


def _decode_opencv(header: ImageHeader, options: ReadOptions, rec: ImageRecord) -> np.ndarray:
    import cv2

    try:
        raw = cv2.imread(str(header.path), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise TilewiseError(f"could not decode image file {header.path}: {exc}") from exc
    if raw is None:
        raise TilewiseError(
            f"could not decode image file {header.path} (corrupt or truncated {header.format})"
        )
    if raw.ndim == 2:
        raw = raw[:, :, None]
    colour = raw[:, :, :3][:, :, ::-1] if raw.shape[2] >= 3 else raw[:, :, :1]
    if raw.dtype == np.uint8:
        colour8 = np.ascontiguousarray(colour)
    else:
        colour8 = _scaled(colour, header, options, rec)
    if colour8.shape[2] == 1:
        colour8 = np.repeat(colour8, 3, axis=2)
        rec.converted_from = "grey"
    if raw.shape[2] in (2, 4):
        alpha = _alpha_to_uint8(raw[:, :, -1], header.bits)
        return _with_alpha(colour8, alpha, options, rec)
    return colour8


def read_image(
    path: str | os.PathLike[str], options: ReadOptions | None = None, *, warn: bool = True
) -> LoadedImage:
    """Read an image file as a viewer shows it: H x W x 3 uint8 RGB plus a record.

    See the module docstring for the order of work and ``ReadOptions`` for the policy
    (EXIF orientation, truncated files, 16-bit/float scaling, alpha, pixel limit). A
    truncated file read with ``allow_truncated`` is warned about (``TilewiseWarning``)
    unless ``warn=False`` (the caller reports ``record.truncated`` itself).

    Raises:
        ImageTruncatedError: the file is truncated and ``allow_truncated`` is off.
        TilewiseError: missing, empty, unreadable or over the pixel limit; the message
            names the file and the reason.

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> _ = cv2.imwrite(str(p), np.full((2, 3), 65535, np.uint16))
        >>> img = read_image(p)
        >>> img.pixels.shape, int(img.pixels.max()), img.record.scaling["range"]
        ((2, 3, 3), 255, [0.0, 65535.0])
    """
    opts = options or ReadOptions()
    header = read_header(path)
    check_pixel_limit(header, opts.pixel_limit)
    rec = ImageRecord(header, header.stored_wh, exif=opts.exif.value)
    already_oriented = False
    if header.decoder == "pillow":
        im, rec.truncated, already_oriented = _decode_pillow(header, opts)
        try:
            pixels = _pillow_pixels(im, header, opts, rec)
        finally:
            im.close()
    else:
        pixels = _decode_opencv(header, opts, rec)
    follow = opts.exif is ExifPolicy.FOLLOW
    if already_oriented and not follow:
        pixels = unorient(pixels, header.orientation)
    elif follow and header.rotated and not already_oriented:
        pixels = orient(pixels, header.orientation)
    rec.oriented = follow and header.rotated
    rec.image_wh = (int(pixels.shape[1]), int(pixels.shape[0]))
    if rec.truncated and warn:
        warnings.warn(
            f"{header.path} is truncated: read anyway (allow_truncated), the rows past the "
            "end of its data are black",
            TilewiseWarning,
            stacklevel=2,
        )
    return LoadedImage(pixels, rec)


def load_image(source: ImageLike, options: ReadOptions | None = None) -> np.ndarray:
    """An image file read by ``read_image``, or an array validated by ``as_rgb``: RGB uint8.

    Arrays are taken as the caller's pixels: they are validated, never rotated or
    rescaled.

    Example:
        >>> import numpy as np
        >>> load_image(np.zeros((2, 2, 4), dtype=np.uint8)).shape
        (2, 2, 3)
    """
    if isinstance(source, np.ndarray):
        return as_rgb(source)
    if not isinstance(source, (str, os.PathLike)):
        raise TilewiseError(f"image must be an array or a path, got {type(source).__name__}")
    return read_image(source, options).pixels
