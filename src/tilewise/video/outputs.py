"""Per-frame outputs of a video run: JSON Lines, MOTChallenge tracks, class counts over time.

Every file is written under a temporary name next to its target and moved into place by
``commit`` (``discard`` removes it), so a target is complete or absent.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from tilewise.detections import Detections
from tilewise.detections.convert import TRACKER_ID_KEY
from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_path
from tilewise.tracking import format_mot, frames_to_table

__all__ = [
    "ClassCounts",
    "StagedTextFile",
    "frame_json",
    "mot_lines",
    "read_jsonl",
]


class StagedTextFile:
    r"""A text file written line by line under a temporary name, moved into place on commit.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> staged = StagedTextFile(target)
        >>> staged.write("one\n"); target.exists()
        False
        >>> staged.commit().read_text()
        'one\n'
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
        except OSError as exc:
            raise TilewiseError(f"cannot write {self.path}: {exc}") from None
        self._tmp = Path(tmp)
        self._fh: IO[str] | None = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        os.chmod(self._tmp, 0o644)

    def write(self, text: str) -> None:
        """Append ``text``."""
        if self._fh is None:
            raise TilewiseError(f"{self.path} is already closed")
        self._fh.write(text)

    def commit(self) -> Path:
        """Flush, sync and move the file into place; returns its path."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Close and remove the temporary file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._tmp.unlink(missing_ok=True)


def _class_name(names: Sequence[str], cls: int) -> str:
    return names[cls] if 0 <= cls < len(names) else str(cls)


def frame_json(
    index: int, time: float, det: Detections, names: Sequence[str] = ()
) -> dict[str, Any]:
    """One JSON Lines record: ``{"frame", "time", "detections": [...]}``.

    Detections have the image JSON's fields (``xyxy``, ``confidence``, ``class_id``,
    ``class_name``) plus ``tracker_id`` (None without tracking, -1 for a detection not
    matched to a confirmed track).

    Example:
        >>> import numpy as np
        >>> det = Detections(np.array([[1, 2, 3, 4]]), [0.5], [1], data={"tracker_id": [7]})
        >>> frame_json(4, 0.16, det, ["a", "b"])["detections"][0]["tracker_id"]
        7
        >>> sorted(frame_json(4, 0.16, det, ["a", "b"])["detections"][0])
        ['class_id', 'class_name', 'confidence', 'tracker_id', 'xyxy']
    """
    ids = det.data.get(TRACKER_ID_KEY)
    id_list: list[int | None] = (
        [None] * len(det) if ids is None else np.asarray(ids, np.int64).tolist()
    )
    rows = [
        {
            "xyxy": [round(v, 2) for v in box],
            "confidence": round(conf, 4),
            "class_id": int(cls),
            "class_name": _class_name(names, int(cls)),
            "tracker_id": tid,
        }
        for box, conf, cls, tid in zip(
            det.xyxy.tolist(), det.confidence.tolist(), det.class_id.tolist(), id_list, strict=True
        )
    ]
    return {"frame": int(index), "time": round(float(time), 6), "detections": rows}


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, float, Detections]]:
    """Read a video run's JSON Lines back as ``(frame, time, Detections)`` per line.

    ``tracker_id`` comes back in ``data`` when the run tracked.

    Raises:
        TilewiseError: a line is not a frame record (the message names the line).
    """
    p = Path(path)
    with open(p, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                rec = json.loads(line)
                rows = rec["detections"]
                xyxy = np.asarray([r["xyxy"] for r in rows], np.float32).reshape(-1, 4)
                det = Detections(
                    xyxy,
                    [r["confidence"] for r in rows],
                    [r["class_id"] for r in rows],
                )
                ids = [r.get("tracker_id") for r in rows]
                if rows and all(i is not None for i in ids):
                    det.data[TRACKER_ID_KEY] = np.asarray(ids, np.int64)
                yield int(rec["frame"]), float(rec["time"]), det
            except (KeyError, TypeError, ValueError) as exc:
                raise TilewiseError(f"{p}:{number}: not a frame record ({exc})") from None


def mot_lines(index: int, det: Detections) -> str:
    r"""MOTChallenge lines of one frame's tracked detections (``frame`` = ``index`` + 1).

    Example:
        >>> import numpy as np
        >>> mot_lines(0, Detections(np.array([[10, 20, 18, 28]]), [0.9], data={"tracker_id": [3]}))
        '1,3,10.0,20.0,8.0,8.0,0.9,-1,-1,-1\n'
    """
    if not len(det):
        return ""
    return format_mot(frames_to_table([det], start=int(index)))


class ClassCounts:
    """Detections per class and frame, written as CSV and drawn as a PNG plot.

    Counts are kept as one small int row per frame (a few bytes per frame).

    Example:
        >>> import numpy as np
        >>> counts = ClassCounts(["car", "person"])
        >>> counts.add(0, 0.0, Detections(np.zeros((3, 4)), class_id=[0, 1, 1]))
        >>> counts.add(1, 0.5, Detections.empty())
        >>> print(counts.csv_text(), end="")
        frame,time,car,person,total
        0,0.0,1,2,3
        1,0.5,0,0,0
    """

    def __init__(self, class_names: Sequence[str] = ()) -> None:
        self.names = list(class_names)
        self.frames: list[int] = []
        self.times: list[float] = []
        self.rows: list[np.ndarray] = []

    def add(self, index: int, time: float, det: Detections) -> None:
        """Count one frame's detections by class."""
        ids = det.class_id.astype(np.int64)
        if ids.size and ids.min() < 0:
            ids = ids[ids >= 0]
        self.frames.append(int(index))
        self.times.append(round(float(time), 6))
        self.rows.append(np.bincount(ids).astype(np.int32) if ids.size else np.zeros(0, np.int32))

    def table(self) -> tuple[list[str], np.ndarray]:
        """Column names (one per class) and the (frames, classes) count matrix."""
        width = max([len(self.names)] + [len(r) for r in self.rows])
        matrix = np.zeros((len(self.rows), width), np.int64)
        for k, row in enumerate(self.rows):
            matrix[k, : len(row)] = row
        return [_class_name(self.names, c) for c in range(width)], matrix

    def totals(self) -> dict[str, int]:
        """Detections per class over the whole run (classes never seen left out)."""
        names, matrix = self.table()
        sums = matrix.sum(axis=0).tolist()
        return {n: int(s) for n, s in zip(names, sums, strict=True) if s}

    def csv_text(self) -> str:
        """``frame,time,<class>...,total`` with one line per frame."""
        names, matrix = self.table()
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(["frame", "time", *names, "total"])
        for f, t, row in zip(self.frames, self.times, matrix.tolist(), strict=True):
            out.writerow([f, t, *row, sum(row)])
        return buf.getvalue()

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the CSV atomically."""
        from tilewise.fileio import atomic_write_text

        return atomic_write_text(path, self.csv_text())

    def write_plot(self, path: str | os.PathLike[str], title: str = "") -> Path:
        """Draw the count of every class seen over time (seconds) as a PNG, atomically."""
        try:
            import matplotlib

            matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError:
            raise TilewiseError(
                "the count plot needs matplotlib: pip install 'tilewise[eval]'"
            ) from None
        names, matrix = self.table()
        fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
        try:
            times = np.asarray(self.times)
            for c in np.flatnonzero(matrix.sum(axis=0)).tolist():
                ax.plot(times, matrix[:, c], label=names[c], linewidth=1.2)
            if matrix.size and matrix.sum():
                ax.plot(times, matrix.sum(axis=1), label="total", color="black", linewidth=0.8,
                        linestyle="--")  # fmt: skip
                ax.legend(loc="upper right", fontsize=8, ncol=min(4, len(names) + 1))
            ax.set_xlabel("time (s)")
            ax.set_ylabel("detections")
            ax.set_title(title or "detections per class over time", fontsize=10)
            ax.grid(alpha=0.3)
            fig.tight_layout()
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png")
        finally:
            plt.close(fig)
        return Path(path)
