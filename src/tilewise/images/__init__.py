"""Reading images: every image file is read as its viewer shows it, or refused loudly.

``read_image`` / ``load_image`` are the one reader used by prediction, the ``Slicer`` on
paths, dataset tiling and health, evaluation and ``tilewise check``; ``ReadOptions`` is
its policy (EXIF orientation, truncated files, 16-bit/float scaling, alpha, pixel limit);
``read_header`` reads a file's metadata without decoding; ``check_images`` scans files.
"""

from tilewise.images.arrays import ImageLike, as_rgb
from tilewise.images.check import CheckReport, FileCheck, check_images, image_files
from tilewise.images.header import ImageHeader, read_header
from tilewise.images.options import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    ExifPolicy,
    ReadOptions,
    Scaling,
)
from tilewise.images.orientation import display_wh, orient, unorient
from tilewise.images.reader import (
    ImageRecord,
    ImageTruncatedError,
    LoadedImage,
    check_pixel_limit,
    load_image,
    read_image,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "CheckReport",
    "ExifPolicy",
    "FileCheck",
    "ImageHeader",
    "ImageLike",
    "ImageRecord",
    "ImageTruncatedError",
    "LoadedImage",
    "ReadOptions",
    "Scaling",
    "as_rgb",
    "check_images",
    "check_pixel_limit",
    "display_wh",
    "image_files",
    "load_image",
    "orient",
    "read_header",
    "read_image",
    "unorient",
]
