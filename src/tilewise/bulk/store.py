"""The output folder of a bulk run: settings, part files, and the final tables.

``DIR/run.json`` records the settings that decide the detections; a run in a folder
holding a run with other settings is refused, naming them, unless ``overwrite``.
Completed images are recorded in part files, ``DIR/parts/part-AAAA-SSSSSS.parquet``
(one row per image, done or failed), each written to a temporary file, fsync'd and
renamed into place, so a part is either whole or absent: a run killed at any point loses
at most the images in flight, and the next run skips every image recorded as done and
retries the failed ones. Each row records the image file's size and modification time
when it was read: an image whose file has changed since (replaced, edited, re-exported)
is not taken as done but predicted again, and counted (``RunSummary.changed``). A file
rewritten with its old size *and* its old modification time is not seen (hashing every
image again would cost a second read of the whole archive); ``--overwrite`` redoes all.
``finalize`` gathers the parts (an image recorded twice keeps one record, its latest,
unless that is a failure after a ``done`` row of the same file: ``RunStore.images``; no
row is ever duplicated) into ``DIR/predictions.parquet``,
``DIR/failures.jsonl``, ``DIR/coco_results.json`` and ``DIR/summary.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tilewise.bulk.table import IMAGE_SCHEMA, detections_table
from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_path, atomic_write_json, atomic_write_text

__all__ = ["RunStore", "RunSummary", "settings_diff"]

PREDICTIONS = "predictions.parquet"
FAILURES = "failures.jsonl"
COCO_RESULTS = "coco_results.json"
SUMMARY = "summary.json"
RUN = "run.json"
PARTS = "parts"
_OUTPUTS = (PREDICTIONS, FAILURES, COCO_RESULTS, SUMMARY, RUN)


def settings_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The settings that differ, as ``name: old -> new``, sorted by name.

    Example:
        >>> settings_diff({"conf": 0.25, "merge": "nms"}, {"conf": 0.5, "merge": "nms"})
        ['conf: 0.25 -> 0.5']
    """
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def _same_file(a: tuple[int | None, int | None], b: tuple[int | None, int | None]) -> bool:
    """Whether two rows' ``(size, mtime_ns)`` may be the same file (an unknown one may)."""
    return None in a or None in b or a == b


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class RunSummary:
    """What a bulk run did, counted.

    Attributes:
        images: images in the source.
        done: images predicted (in this run or an earlier one).
        failed: images recorded as failed (``failures.jsonl``), by stage.
        skipped: images already done when this run started.
        changed: images recorded as done whose file has changed since (size or
            modification time): predicted again by this run, not skipped.
        detections: rows of ``predictions.parquet``.
        corrupt_parts: unreadable part files set aside (their images were redone).
        progress: this run's last progress figures (``Progress.figures``: images done,
            images and detections per second, failures, ETA), as the driver saw them.
    """

    images: int = 0
    done: int = 0
    failed: int = 0
    failed_by_stage: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    changed: int = 0
    predicted_now: int = 0
    detections: int = 0
    corrupt_parts: int = 0
    seconds: float = 0.0
    engine: str = "local"
    progress: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary, with images and detections per second of this run."""
        rate = self.predicted_now / self.seconds if self.seconds > 0 else 0.0
        return {**asdict(self), "images_per_second": round(rate, 3)}

    def text(self) -> str:
        """One line for the console.

        Example:
            >>> RunSummary(images=3, done=2, failed=1, skipped=1, detections=5).text()
            '2 of 3 image(s) done (1 skipped as already done), 1 failed, 5 detection(s)'
        """
        changed = f", {self.changed} redone as changed since" if self.changed else ""
        return (
            f"{self.done} of {self.images} image(s) done ({self.skipped} skipped as already "
            f"done{changed}), {self.failed} failed, {self.detections} detection(s)"
        )


class RunStore:
    """The output folder of one bulk run (see the module docstring).

    Args:
        out: the output folder (created).
        settings: the JSON-ready settings that decide the detections.
        overwrite: replace a run with other settings instead of refusing it.

    Raises:
        TilewiseError: the folder holds a run with other settings (named) and
            ``overwrite`` is off, or its ``run.json`` is unreadable.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.bulk.table import ImageResult, image_table
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> store = RunStore(out, {"conf": 0.25})
        >>> _ = store.write_part(image_table([ImageResult("a.jpg", None, (4, 4))]))
        >>> sorted(RunStore(out, {"conf": 0.25}).completed())
        ['a.jpg']
        >>> RunStore(out, {"conf": 0.5})
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: ... holds a run with other settings (conf: 0.25 -> 0.5); ...
    """

    def __init__(
        self, out: str | os.PathLike[str], settings: Mapping[str, Any], overwrite: bool = False
    ) -> None:
        self.out = Path(out)
        self.settings = json.loads(json.dumps(dict(settings)))
        self.parts = self.out / PARTS
        self.corrupt_parts = 0
        previous = self._previous()
        if previous is not None:
            diff = settings_diff(previous.get("settings", {}), self.settings)
            if diff and not overwrite:
                raise TilewiseError(
                    f"{self.out} holds a run with other settings ({'; '.join(diff)}); use "
                    "--overwrite to replace it, or another --out"
                )
            if diff:
                self._clear()
                previous = None
        self.attempt = 1 if previous is None else int(previous.get("attempts", 0)) + 1
        self.parts.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.out / RUN, {"settings": self.settings, "attempts": self.attempt})
        self._seq = 0

    def _previous(self) -> dict[str, Any] | None:
        path = self.out / RUN
        if not path.exists():
            if self.parts.exists() and any(self.parts.iterdir()):
                raise TilewiseError(f"{self.out} holds part files without a {RUN}; remove them")
            return None
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise TilewiseError(f"cannot read {path}: {exc}; use another --out") from None

    def _clear(self) -> None:
        shutil.rmtree(self.parts, ignore_errors=True)
        shutil.rmtree(self.out / "json", ignore_errors=True)
        for name in _OUTPUTS:
            (self.out / name).unlink(missing_ok=True)

    def write_part(self, images: pa.Table) -> Path:
        """Record a table of image rows (``IMAGE_SCHEMA``) atomically; return its path."""
        if images.schema != IMAGE_SCHEMA:
            images = images.cast(IMAGE_SCHEMA)
        self._seq += 1
        path = self.parts / f"part-{self.attempt:04d}-{self._seq:06d}.parquet"
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            pq.write_table(images, fh)
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(self.parts)
        return path

    def _read_parts(self) -> list[pa.Table]:
        tables = []
        for path in sorted(self.parts.glob("part-*.parquet")):
            try:
                table = pq.read_table(path, schema=IMAGE_SCHEMA)
            except (OSError, pa.ArrowException) as exc:  # set aside; its images are redone
                path.rename(path.with_suffix(".corrupt"))
                self.corrupt_parts += 1
                import warnings

                from tilewise.errors import TilewiseWarning

                warnings.warn(
                    f"set aside unreadable part {path.name}: {exc}", TilewiseWarning, stacklevel=3
                )
                continue
            tables.append(table)
        return tables

    def images(self) -> pa.Table:
        """Every image's final record, sorted by image.

        An image's record is its latest row, with one exception: a failure after a
        ``done`` row of the *same* file (same size and mtime, or one unknown: a retry that
        failed where an earlier attempt succeeded) keeps the ``done`` row. A failure of a
        file that changed since its ``done`` row is the record: the old detections are of
        other pixels.
        """
        parts = self._read_parts()
        if not parts:
            return IMAGE_SCHEMA.empty_table()
        table = pa.concat_tables(parts)
        n = len(table)
        order = pa.array(range(n), pa.int64())
        table = table.append_column("_key", pc.subtract(pa.scalar(n, pa.int64()), order))
        table = table.sort_by([("image", "ascending"), ("_key", "ascending")])  # latest first
        names = table.column("image").to_pylist()
        status = table.column("status").to_pylist()
        stats = list(
            zip(
                table.column("source_bytes").to_pylist(),
                table.column("source_mtime_ns").to_pylist(),
                strict=True,
            )
        )
        keep: list[int] = []
        for _, group in groupby(range(n), key=names.__getitem__):
            latest, *older = group
            if status[latest] != "done":
                done = next((j for j in older if status[j] == "done"), None)
                if done is not None and _same_file(stats[latest], stats[done]):
                    latest = done
            keep.append(latest)
        return table.take(pa.array(keep, pa.int64())).drop_columns(["_key"])

    def completed(self, current: Mapping[str, tuple[int, int] | None] | None = None) -> set[str]:
        """Names of the images recorded as done (and, given ``current``, unchanged since).

        Args:
            current: each image's file ``(size, mtime_ns)`` now (``inputs.file_stat``).
                An image recorded with another one is left out (``changed``). An image
                recorded or seen without one (an older run, a file that cannot be
                statted) counts as done.
        """
        return self.done_and_changed(current)[0]

    def changed(self, current: Mapping[str, tuple[int, int] | None]) -> set[str]:
        """Names of the images recorded as done whose file's ``(size, mtime_ns)`` differs."""
        return self.done_and_changed(current)[1]

    def done_and_changed(
        self, current: Mapping[str, tuple[int, int] | None] | None
    ) -> tuple[set[str], set[str]]:
        """``completed(current)`` and ``changed(current)`` from one read of the parts."""
        table = self.images()
        done = table.filter(pc.equal(table.column("status"), "done"))
        names = done.column("image").to_pylist()
        if current is None:
            return set(names), set()
        sizes = done.column("source_bytes").to_pylist()
        times = done.column("source_mtime_ns").to_pylist()
        unchanged, changed = set(), set()
        for name, size, mtime in zip(names, sizes, times, strict=True):
            now = current.get(name)
            if size is None or mtime is None or now is None or now == (size, mtime):
                unchanged.add(name)
            else:
                changed.add(name)
        return unchanged, changed

    def finalize(self, summary: RunSummary) -> RunSummary:
        """Write the final tables from the parts; fill in ``summary``'s counts."""
        images = self.images()
        detections = detections_table(images)
        with atomic_path(self.out / PREDICTIONS) as tmp:
            pq.write_table(detections, tmp)
        failed = images.filter(pc.equal(images.column("status"), "failed"))
        lines = [
            json.dumps({"image": r["image"], "stage": r["stage"], "reason": r["reason"]})
            for r in failed.select(["image", "stage", "reason"]).to_pylist()
        ]
        atomic_write_text(self.out / FAILURES, "".join(line + "\n" for line in lines))
        atomic_write_json(self.out / COCO_RESULTS, coco_results(detections), indent=None)
        summary.done = len(images) - len(failed)
        summary.failed = len(failed)
        by_stage: dict[str, int] = {}
        for stage in failed.column("stage").to_pylist():
            by_stage[stage] = by_stage.get(stage, 0) + 1
        summary.failed_by_stage = by_stage
        summary.detections = len(detections)
        summary.corrupt_parts = self.corrupt_parts
        atomic_write_json(self.out / SUMMARY, summary.to_dict())
        return summary


def coco_results(detections: pa.Table) -> list[dict[str, Any]]:
    """COCO results entries (``image_id`` is the image's name), through the one writer.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> from tilewise.bulk.table import ImageResult, detections_table, image_table
        >>> det = Detections(np.array([[1, 2, 3, 6]]), [0.5], [2])
        >>> coco_results(detections_table(image_table([ImageResult("a", det, (8, 8))])))
        [{'image_id': 'a', 'category_id': 2, 'bbox': [1.0, 2.0, 2.0, 4.0], 'score': 0.5}]
    """
    from tilewise.bulk.exports import per_image
    from tilewise.detections import to_coco_results

    out: list[dict[str, Any]] = []
    for name, det in per_image(detections):
        out.extend(to_coco_results(det, name))
    return out
