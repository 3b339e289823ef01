"""Which path ``tilewise predict INPUT`` takes: the one rule, in one place.

``input_kind`` decides, in this order (the first that holds wins):

1. no INPUT: the bundled sample scene, with its report (``sample``);
2. a ``.txt``/``.lst``/``.list`` file of image paths: an image archive (``archive``);
3. a folder or a glob: an image *sequence* (``sequence``: frames of a video, through
   ``tilewise.cli.video_cmd``) when a video or tracking option is given (``--track``,
   ``--stride``, ``--fps``, ``--save-video``...), else an image *archive* (``archive``:
   every image apart, ``DIR/predictions.parquet``, ``--engine local`` unless another
   is given). Both at once is refused;
4. a video file, a stream URL or a camera number: ``video``;
5. a raster (GDAL reads it and it has a CRS, or it is over ``--max-pixels``):
   ``raster`` (window by window, here), or ``raster-strips`` with ``--engine local|ray``
   (strips of slice rows, merged once: the same outputs);
6. any other file: one image (``image``); ``--engine`` is refused there.

``with_bulk`` (``tilewise.cli.bulk_cmd``) applies it before any other route: it runs
``archive`` and ``raster-strips`` itself and leaves the rest to the routes below it
(``with_video`` takes ``sequence`` and ``video``; ``predict`` the others).
"""

from __future__ import annotations

import os
from pathlib import Path

from tilewise.choices import Choice
from tilewise.errors import TilewiseError

__all__ = ["InputKind", "input_kind"]


class InputKind(Choice):
    """Where ``predict`` sends an input (see the module's rule)."""

    SAMPLE = "sample"
    ARCHIVE = "archive"
    SEQUENCE = "sequence"
    VIDEO = "video"
    RASTER = "raster"
    RASTER_STRIPS = "raster-strips"
    IMAGE = "image"


def input_kind(
    image: str | os.PathLike[str] | None,
    *,
    engine: str | None = None,
    sequence_options: tuple[str, ...] = (),
    pixel_limit: int | None = None,
) -> InputKind:
    """The path ``predict`` takes for ``image``.

    Args:
        image: the INPUT argument (None: none given).
        engine: ``--engine``, or None when not given.
        sequence_options: the video/tracking options given (e.g. ``("--track",)``).
        pixel_limit: ``--max-pixels`` as the image reader applies it (rasters are the
            files over it, or GDAL-readable with a CRS); default the reader's.

    Raises:
        TilewiseError: ``--engine`` together with video options on a folder or glob, or
            ``--engine`` on a single image or a video.

    Example:
        >>> input_kind(None).value, input_kind("runs.txt").value
        ('sample', 'archive')
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> input_kind(folder).value, input_kind(folder, sequence_options=("--track",)).value
        ('archive', 'sequence')
        >>> input_kind("clip.mp4").value, input_kind("photo.jpg").value
        ('video', 'image')
    """
    if image is None:
        return InputKind.SAMPLE
    from tilewise.bulk.inputs import is_image_list
    from tilewise.cli.video_cmd import restore_url
    from tilewise.sources import is_frame_input
    from tilewise.sources.sequence import is_glob

    text = restore_url(os.fspath(image))  # typer's Path collapses rtsp:// to rtsp:/
    if is_image_list(text):
        return InputKind.ARCHIVE
    if Path(text).is_dir() or (is_glob(text) and not Path(text).exists()):
        if not sequence_options:
            return InputKind.ARCHIVE
        if engine is not None:
            raise TilewiseError(
                f"{', '.join(sequence_options)} make {text} an image sequence (video frames), "
                "while --engine makes it an image archive; give one or the other"
            )
        return InputKind.SEQUENCE
    kind = InputKind.IMAGE
    if is_frame_input(text):
        kind = InputKind.VIDEO
    else:
        from tilewise.cli.predict_raster import is_raster
        from tilewise.images import ReadOptions

        limit = ReadOptions().pixel_limit if pixel_limit is None else pixel_limit
        if is_raster(text, limit):
            return InputKind.RASTER if engine is None else InputKind.RASTER_STRIPS
    if engine is not None:
        what = "a video" if kind is InputKind.VIDEO else "one image"
        raise TilewiseError(
            f"--engine applies to many images (a folder, a glob or a .txt list of paths) "
            f"or to a raster; {text} is read as {what}"
        )
    return kind
