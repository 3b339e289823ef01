"""Image sources: what the ``Slicer`` reads slices from, one window at a time.

``ImageSource`` is the protocol (size, ``read(window)`` as H x W x 3 uint8 RGB, an
optional valid-data mask, optional georeferencing). ``ArraySource`` and
``ImageFileSource`` cover in-memory arrays and image files; ``RasterSource``
(``tilewise.sources.raster``, the ``geo`` extra) reads GeoTIFFs and anything GDAL reads
window by window at bounded memory.
"""

from tilewise.sources.arrays import ArraySource
from tilewise.sources.files import ImageFileSource
from tilewise.sources.open import SourceLike, as_source
from tilewise.sources.protocol import BaseSource, ImageSource
from tilewise.sources.window import Window

__all__ = [
    "ArraySource",
    "BaseSource",
    "ImageFileSource",
    "ImageSource",
    "SourceLike",
    "Window",
    "as_source",
]
