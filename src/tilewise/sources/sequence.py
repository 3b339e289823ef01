"""Image sequences (a folder or a glob of image files) as frame sources.

Each file is read by the one image reader (``tilewise.images.read_image``) on the decoding
thread; files skipped by the stride or the time range are never opened.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.images import ReadOptions, read_image
from tilewise.images.check import IMAGE_SUFFIXES
from tilewise.sources.frames import (
    BaseFrameSource,
    Decision,
    Frame,
    FrameSelection,
    FrameSelector,
)

__all__ = ["ImageSequenceSource", "is_glob", "sequence_files"]

_GLOB_CHARS = re.compile(r"[*?\[]")


def is_glob(text: str) -> bool:
    """Whether ``text`` is a glob pattern (has ``*``, ``?`` or ``[``).

    Example:
        >>> is_glob("frames/*.png"), is_glob("frames/0001.png")
        (True, False)
    """
    return bool(_GLOB_CHARS.search(text))


def _natural_key(path: Path) -> list[Any]:
    """Sort key that orders ``f2.png`` before ``f10.png``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def sequence_files(pattern: str | os.PathLike[str]) -> list[Path]:
    """The image files of a folder (not recursive) or a glob, in natural order.

    Raises:
        TilewiseError: the folder does not exist, or nothing matches.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("f10.png", "f2.png", "notes.txt"):
        ...     _ = (d / name).write_bytes(b"x")
        >>> [p.name for p in sequence_files(d)], [p.name for p in sequence_files(d / "f1*")]
        (['f2.png', 'f10.png'], ['f10.png'])
    """
    text = os.fspath(pattern)
    if is_glob(text):
        files = [Path(p) for p in glob.glob(text) if Path(p).is_file()]
        if not files:
            raise TilewiseError(f"no file matches {text}")
    else:
        folder = Path(text)
        if not folder.is_dir():
            raise TilewiseError(f"not a folder of images: {folder}")
        files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise TilewiseError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return sorted(files, key=_natural_key)


class ImageSequenceSource(BaseFrameSource):
    """The images of a folder or glob, in natural order, as frames at ``fps``.

    Frame ``i`` is the i-th file and its time is ``i / fps``. A file that cannot be read
    is dropped and counted (``stats.dropped["unreadable"]``, names in ``unreadable``),
    and reading goes on; frames may differ in size.

    Args:
        pattern: a folder (its image files, not recursive) or a glob (``"seq/*.jpg"``).
        selection: stride, time range, max frames (``FrameSelection``).
        fps: the rate that turns indices into times.
        read: how images are read (``tilewise.images.ReadOptions``).
        queue_size: frames read ahead of the consumer.

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for i in range(4):
        ...     _ = cv2.imwrite(str(d / f"{i}.png"), np.full((8, 8, 3), i, np.uint8))
        >>> src = ImageSequenceSource(d, FrameSelection(start=0.5), fps=2)
        >>> [(f.index, f.time) for f in src], src.stats.skipped_before_start
        ([(1, 0.5), (2, 1.0), (3, 1.5)], 1)
    """

    def __init__(
        self,
        pattern: str | os.PathLike[str],
        selection: FrameSelection | None = None,
        *,
        fps: float = 30.0,
        read: ReadOptions | None = None,
        queue_size: int = 4,
    ) -> None:
        super().__init__(selection, queue_size)
        if isinstance(fps, bool) or not np.isfinite(float(fps)) or float(fps) <= 0:
            raise TilewiseError(f"fps must be a number > 0, got {fps!r}")
        self.files = sequence_files(pattern)
        self.name = os.fspath(pattern)
        self.fps = float(fps)
        self.read = read or ReadOptions()
        self.unreadable: list[str] = []

    def _decode(self, selector: FrameSelector) -> Iterator[Frame]:
        stats = self.stats
        stats.expected_frames = len(self.files)
        self.unreadable = []
        for index, path in enumerate(self.files):
            time = index / self.fps
            decision = selector.decide(time)
            if decision is Decision.STOP:
                return
            stats.saw(time)
            if decision is Decision.SKIP:
                continue
            try:
                loaded = read_image(path, self.read, warn=False)
            except TilewiseError as exc:
                stats.drop("unreadable")
                self.unreadable.append(f"{path}: {exc}")
                continue
            pixels = loaded.pixels
            pixels.flags.writeable = False
            if self.frame_wh is None:
                self.frame_wh = (int(pixels.shape[1]), int(pixels.shape[0]))
            yield Frame(index, time, pixels)
            if selector.done:
                stats.stopped = "max_frames"
                return
        if self.unreadable:
            self._notes.append(
                f"{self.name}: dropped {len(self.unreadable)} unreadable image(s), e.g. "
                f"{self.unreadable[0]}"
            )

    def describe(self) -> dict[str, Any]:
        """Kind, name, rate, selection, counts, number of files and the unreadable ones."""
        return {**super().describe(), "files": len(self.files), "unreadable": self.unreadable}
