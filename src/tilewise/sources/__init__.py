"""Image sources: what the ``Slicer`` reads slices from, one window at a time.

``ImageSource`` is the protocol (size, ``read(window)`` as H x W x 3 uint8 RGB, an
optional valid-data mask, optional georeferencing). ``ArraySource`` and
``ImageFileSource`` cover in-memory arrays and image files; ``RasterSource``
(``tilewise.sources.raster``, the ``geo`` extra) reads GeoTIFFs and anything GDAL reads
window by window at bounded memory.

Frame sources (``tilewise.sources.frames``) yield the frames of videos, image sequences
and streams in order, decoded on their own thread: ``FrameSource``, ``ArrayFrames``,
``VideoFileSource`` (PyAV, the ``video`` extra), ``ImageSequenceSource``,
``CaptureSource`` (OpenCV), and ``open_frames`` to pick one.
"""

from tilewise.sources.arrays import ArraySource
from tilewise.sources.capture import CaptureSource
from tilewise.sources.files import ImageFileSource
from tilewise.sources.frame_open import VIDEO_SUFFIXES, is_frame_input, open_frames
from tilewise.sources.frames import (
    ArrayFrames,
    BaseFrameSource,
    Frame,
    FrameSelection,
    FrameSource,
    FrameStats,
)
from tilewise.sources.open import SourceLike, as_source
from tilewise.sources.protocol import BaseSource, ImageSource
from tilewise.sources.sequence import ImageSequenceSource
from tilewise.sources.video import VideoFileSource
from tilewise.sources.window import Window

__all__ = [
    "VIDEO_SUFFIXES",
    "ArrayFrames",
    "ArraySource",
    "BaseFrameSource",
    "BaseSource",
    "CaptureSource",
    "Frame",
    "FrameSelection",
    "FrameSource",
    "FrameStats",
    "ImageFileSource",
    "ImageSequenceSource",
    "ImageSource",
    "SourceLike",
    "VideoFileSource",
    "Window",
    "as_source",
    "is_frame_input",
    "open_frames",
]
