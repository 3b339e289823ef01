"""MOTChallenge text files and track tables.

A *track table* is one ``Detections`` holding every box of a sequence, with
``data["frame"]`` (0-based frame index) and ``data["tracker_id"]`` (the track or object
ID). It is what ``read_mot`` returns and ``write_mot`` writes; ``frames_to_table`` and
``table_to_frames`` convert from and to one ``Detections`` per frame.

The file format is MOTChallenge's, one box per line::

    frame,id,x,y,w,h,conf,-1,-1,-1

with ``frame`` 1-based, ``x, y`` the top-left corner and ``w, h`` the size in pixels.
Values are written as the shortest decimal that reads back to the same float32, so a
table survives a write and a read exactly. Reading accepts 6 to 10 columns (``conf``
defaults to 1), separated by commas or white space; columns 8-10 (class, visibility, z
in the MOTChallenge ground truth) are ignored.
"""

from __future__ import annotations

import configparser
import io
import itertools
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tilewise.detections.convert import TRACKER_ID_KEY
from tilewise.detections.core import Detections
from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_path, atomic_write_text

__all__ = [
    "FRAME_KEY",
    "format_mot",
    "frames_to_table",
    "parse_mot",
    "read_mot",
    "table_to_frames",
    "write_mot",
    "write_mot_sequence",
]

FRAME_KEY = "frame"
"""``Detections.data`` key of the 0-based frame index in a track table."""


def _check_table(table: Detections, what: str = "table") -> None:
    if not isinstance(table, Detections):
        raise TilewiseError(f"{what} must be a Detections track table, got {type(table).__name__}")
    for key in (FRAME_KEY, TRACKER_ID_KEY):
        if key not in table.data:
            raise TilewiseError(
                f"{what} needs data[{key!r}] (a track table: see tilewise.tracking.mot)"
            )


def frames_to_table(
    frames: Iterable[Detections], start: int = 0, *, unassigned: bool = False
) -> Detections:
    """Stack per-frame detections (with ``data["tracker_id"]``) into one track table.

    Rows whose ``tracker_id`` is negative (no confirmed track) are left out, unless
    ``unassigned`` is true: then they are kept with ID -1, and detections without
    ``tracker_id`` are accepted (all -1), e.g. to write a MOTChallenge ``det.txt``.

    Args:
        frames: one ``Detections`` per frame, in order.
        start: the 0-based index of the first frame.
        unassigned: keep rows without a track (ID -1).

    Example:
        >>> import numpy as np
        >>> f = Detections(np.array([[0, 0, 4, 4]]), data={"tracker_id": [7]})
        >>> table = frames_to_table([f, Detections.empty(), f])
        >>> table.data["frame"].tolist(), table.data["tracker_id"].tolist()
        ([0, 2], [7, 7])
    """
    parts = []
    for k, det in enumerate(frames):
        if not isinstance(det, Detections):
            raise TilewiseError(f"frame {start + k}: expected Detections, got {type(det).__name__}")
        if not len(det):
            continue
        if TRACKER_ID_KEY in det.data:
            ids = np.asarray(det.data[TRACKER_ID_KEY], dtype=np.int64)
        elif unassigned:
            ids = np.full(len(det), -1, dtype=np.int64)
        else:
            raise TilewiseError(f"frame {start + k}: detections have no data['tracker_id']")
        keep = np.ones(len(ids), dtype=bool) if unassigned else ids >= 0
        ids = np.where(ids >= 0, ids, -1)
        parts.append(
            Detections(
                det.xyxy[keep],
                det.confidence[keep],
                det.class_id[keep],
                data={
                    FRAME_KEY: np.full(int(keep.sum()), start + k, dtype=np.int64),
                    TRACKER_ID_KEY: ids[keep],
                },
            )
        )
    if not parts:
        return _empty_table()
    return Detections.concatenate(parts)


def _empty_table() -> Detections:
    return Detections(
        np.zeros((0, 4), np.float32),
        data={FRAME_KEY: np.zeros(0, np.int64), TRACKER_ID_KEY: np.zeros(0, np.int64)},
    )


def table_to_frames(table: Detections, frames: int | None = None) -> list[Detections]:
    """Split a track table into one ``Detections`` per frame (frames 0 .. ``frames`` - 1).

    Args:
        table: a track table.
        frames: number of frames (default: up to the last frame in the table).

    Example:
        >>> import numpy as np
        >>> table = Detections(np.array([[0, 0, 4, 4]] * 2),
        ...                    data={"frame": [2, 0], "tracker_id": [1, 1]})
        >>> [len(d) for d in table_to_frames(table, 4)]
        [1, 0, 1, 0]
    """
    _check_table(table)
    frame = np.asarray(table.data[FRAME_KEY], dtype=np.int64)
    n = int(frame.max()) + 1 if frame.size else 0
    n = n if frames is None else int(frames)
    if frame.size and (frame.min() < 0 or frame.max() >= n):
        raise TilewiseError(f"table has frames {frame.min()}..{frame.max()}, outside 0..{n - 1}")
    order = np.lexsort((np.asarray(table.data[TRACKER_ID_KEY]), frame))
    table = table[order]
    bounds = np.searchsorted(frame[order], np.arange(n + 1))
    return [table[int(a) : int(b)] for a, b in itertools.pairwise(bounds)]


def _short(values: np.ndarray) -> list[str]:
    """Shortest decimal of each float32 that reads back to the same float32."""
    return [str(v) for v in values.astype(np.float32)]


def format_mot(table: Detections, *, unassigned: bool = False) -> str:
    r"""The MOTChallenge text of a track table.

    Lines are sorted by frame, then ID. Rows with a negative ID (no track) are left out,
    unless ``unassigned`` is true: then they are written with ID -1, as in the
    MOTChallenge detection files (``det/det.txt``).

    Example:
        >>> import numpy as np
        >>> table = Detections(np.array([[10, 20, 18.5, 28]]), confidence=[0.9],
        ...                    data={"frame": [0], "tracker_id": [3]})
        >>> format_mot(table)
        '1,3,10.0,20.0,8.5,8.0,0.9,-1,-1,-1\n'
    """
    _check_table(table)
    ids = np.asarray(table.data[TRACKER_ID_KEY], dtype=np.int64)
    frame = np.asarray(table.data[FRAME_KEY], dtype=np.int64)
    keep = ids >= 0
    if unassigned:
        ids = np.where(keep, ids, -1)
        keep = np.ones(len(ids), dtype=bool)
    if frame[keep].size and frame[keep].min() < 0:
        raise TilewiseError("track table has negative frame indices")
    order = np.flatnonzero(keep)[np.lexsort((ids[keep], frame[keep]))]
    xyxy = table.xyxy[order]
    x, y = _short(xyxy[:, 0]), _short(xyxy[:, 1])
    w, h = _short(xyxy[:, 2] - xyxy[:, 0]), _short(xyxy[:, 3] - xyxy[:, 1])
    conf = _short(table.confidence[order])
    lines = [
        f"{f + 1},{i},{a},{b},{c},{d},{s},-1,-1,-1\n"
        for f, i, a, b, c, d, s in zip(
            (frame[order]).tolist(), ids[order].tolist(), x, y, w, h, conf, strict=True
        )
    ]
    return "".join(lines)


def write_mot(path: str | os.PathLike[str], table: Detections, *, unassigned: bool = False) -> Path:
    """Write a track table as a MOTChallenge text file (atomically); see ``format_mot``.

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> table = Detections(np.array([[10, 20, 18.5, 28]]), confidence=[0.9],
        ...                    data={"frame": [0], "tracker_id": [3]})
        >>> path = write_mot(pathlib.Path(tempfile.mkdtemp()) / "pred.txt", table)
        >>> read_mot(path) == table
        True
    """
    return atomic_write_text(path, format_mot(table, unassigned=unassigned))


def parse_mot(text: str, source: str = "<text>") -> Detections:
    r"""Parse MOTChallenge text into a track table (see the module docstring).

    Raises:
        TilewiseError: a line that is not a MOT row, naming ``source`` and the line.

    Example:
        >>> table = parse_mot("1,3,10,20,8.5,8,0.9,-1,-1,-1\n2 3 12 20 8.5 8")
        >>> table.data["frame"].tolist(), [str(c) for c in table.confidence]
        ([0, 1], ['0.9', '1.0'])
    """
    rows: list[list[float]] = []
    for number, raw in enumerate(io.StringIO(text), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        if not 6 <= len(parts) <= 10:
            raise TilewiseError(
                f"{source}:{number}: a MOT row has 6 to 10 values "
                f"(frame,id,x,y,w,h,conf,...), got {len(parts)}: {line[:80]!r}"
            )
        try:
            values = [float(p) for p in parts[:7]]
        except ValueError:
            raise TilewiseError(f"{source}:{number}: not numbers: {line[:80]!r}") from None
        if len(values) == 6:
            values.append(1.0)
        frame, ident = values[0], values[1]
        if frame != int(frame) or frame < 1 or ident != int(ident):
            raise TilewiseError(
                f"{source}:{number}: frame must be an integer >= 1 and id an integer, "
                f"got {parts[0]!r}, {parts[1]!r}"
            )
        if not all(np.isfinite(values[2:7])) or values[4] < 0 or values[5] < 0:
            raise TilewiseError(f"{source}:{number}: box must be finite with w, h >= 0")
        rows.append(values)
    if not rows:
        return _empty_table()
    arr = np.asarray(rows, dtype=np.float64)
    x, y = arr[:, 2].astype(np.float32), arr[:, 3].astype(np.float32)
    w, h = arr[:, 4].astype(np.float32), arr[:, 5].astype(np.float32)
    xyxy = np.stack([x, y, x + w, y + h], axis=1)
    # the written width is the float32 difference; recover the exact corner it came from
    xyxy[:, 2] = _exact_far_edge(x, w)
    xyxy[:, 3] = _exact_far_edge(y, h)
    return Detections(
        xyxy,
        arr[:, 6],
        data={
            FRAME_KEY: arr[:, 0].astype(np.int64) - 1,
            TRACKER_ID_KEY: arr[:, 1].astype(np.int64),
        },
    )


def _exact_far_edge(start: np.ndarray, size: np.ndarray) -> np.ndarray:
    """``start + size`` in float32, nudged to the float32 ``e`` with ``e - start == size``.

    ``format_mot`` writes ``w = x2 - x1`` rounded to float32; ``x1 + w`` need not give
    ``x2`` back exactly, but a neighbour of it does whenever one exists.
    """
    edge = (start + size).astype(np.float32)
    for _ in range(2):
        off = (edge - start).astype(np.float32) != size
        if not off.any():
            break
        up = np.nextafter(edge, np.float32(np.inf))
        down = np.nextafter(edge, np.float32(-np.inf))
        use_up = off & ((up - start).astype(np.float32) == size)
        use_down = off & ~use_up & ((down - start).astype(np.float32) == size)
        edge = np.where(use_up, up, np.where(use_down, down, edge)).astype(np.float32)
    return edge


def read_mot(path: str | os.PathLike[str]) -> Detections:
    """Read a MOTChallenge text file into a track table.

    Raises:
        TilewiseError: the file is missing or holds a malformed line (named with its
            line number).
    """
    p = Path(path)
    if not p.is_file():
        raise TilewiseError(f"MOT file not found: {p}")
    return parse_mot(p.read_text(encoding="utf-8"), source=str(p))


def write_mot_sequence(
    out: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    ground_truth: Detections,
    *,
    fps: float = 30.0,
    name: str | None = None,
    image_ext: str = ".jpg",
    jpeg_quality: int = 95,
) -> Path:
    """Write a sequence in the MOTChallenge layout: ``img1/``, ``gt/gt.txt``, ``seqinfo.ini``.

    Args:
        out: the sequence directory (created; must be empty if it exists).
        frames: H x W x 3 uint8 RGB frames, in order.
        ground_truth: a track table (conf 1 is written for every row).
        fps: frame rate for ``seqinfo.ini``.
        name: sequence name (default: the directory's name).
        image_ext: ``.jpg`` or ``.png``.
        jpeg_quality: JPEG quality.

    Returns:
        The sequence directory.
    """
    import cv2

    root = Path(out)
    if root.exists() and any(root.iterdir()):
        raise TilewiseError(f"{root} is not empty; choose an empty or new directory")
    if image_ext not in (".jpg", ".png"):
        raise TilewiseError(f"image_ext must be '.jpg' or '.png', got {image_ext!r}")
    _check_table(ground_truth, "ground_truth")
    (root / "img1").mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if image_ext == ".jpg" else []
    count, size = 0, (0, 0)
    for count, image in enumerate(frames, start=1):
        size = (int(image.shape[1]), int(image.shape[0]))
        with atomic_path(root / "img1" / f"{count:06d}{image_ext}") as tmp:
            if not cv2.imwrite(str(tmp), image[..., ::-1], params):
                raise TilewiseError(f"could not write frame {count} to {root / 'img1'}")
    gt = Detections(
        ground_truth.xyxy,
        np.ones(len(ground_truth), np.float32),
        ground_truth.class_id,
        data={k: ground_truth.data[k] for k in (FRAME_KEY, TRACKER_ID_KEY)},
    )
    write_mot(root / "gt" / "gt.txt", gt)
    info = configparser.ConfigParser()
    info.optionxform = str  # type: ignore[assignment,method-assign]
    info["Sequence"] = {
        "name": name or root.name,
        "imDir": "img1",
        "frameRate": f"{fps:g}",
        "seqLength": str(count),
        "imWidth": str(size[0]),
        "imHeight": str(size[1]),
        "imExt": image_ext,
    }
    buf = io.StringIO()
    info.write(buf)
    atomic_write_text(root / "seqinfo.ini", buf.getvalue())
    return root
