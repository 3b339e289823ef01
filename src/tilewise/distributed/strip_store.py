"""A raster run in strips that resumes: each finished strip recorded in the output folder.

``StripStore(folder, settings)`` claims ``folder`` (``DIR/<stem>.strips`` for
``tilewise predict RASTER --engine local|ray --out DIR``) through the bulk runs' own
``RunStore``: ``folder/run.json`` records the settings that decide the strips' results
(the raster's fingerprint, the source and model options given, the slicer's settings
that decide detections and the strip plan, added by ``run_strips``; batch size, workers
and pipelining may change between runs), and a folder holding a run with other
settings is refused, naming them, unless ``overwrite`` (which clears it).

Each finished strip's raw result (``StripResult``: per-slice detections and counts,
nothing merged) is written to ``folder/parts/strip-KKKKKK.npz`` through a temporary
file, fsync'd and renamed into place (then the folder is fsync'd), so a part is whole
or absent. A part holds arrays only (its slices' detections concatenated, through
``tilewise.detections.arrays``, the slice index and length of each, and a JSON header
with the strip and its counts) and is read with ``allow_pickle=False``: loading a
folder never runs code from it. A rerun of the same command loads the recorded strips,
runs only the others, and merges all of them once: the same output as an
uninterrupted run. An unreadable part, or one that is not a strip of this run's plan,
is set aside as ``.corrupt`` with a warning and its strip is run again.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.bulk.store import RunStore, _fsync_dir
from tilewise.detections import Detections
from tilewise.detections.arrays import detections_from_arrays, detections_to_arrays
from tilewise.errors import TilewiseError, TilewiseWarning
from tilewise.fileio import atomic_write_bytes
from tilewise.images.check import file_sample_sha256
from tilewise.slicing.batches import WindowStats
from tilewise.slicing.strips import Strip, StripResult

__all__ = ["PART_FORMAT", "StripStore", "decode_strip", "encode_strip", "raster_fingerprint"]


def raster_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What identifies a raster file: its absolute path, size, mtime and a sampled hash.

    The hash (``images.check.file_sample_sha256``) reads 64 blocks of 64 KiB spread
    through the file, not the whole raster, so deciding a resume stays cheap; it tells a
    raster rewritten at its old size and mtime from the one the parts were made from
    whenever the change reaches a sampled block (in a compressed tiled GeoTIFF, the tile
    byte counts in its header almost always do). A GDAL URL (``/vsis3/...``) or another
    path that is not a local file is kept as given.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
        >>> _ = p.write_bytes(b"1234")
        >>> raster_fingerprint(p)["bytes"]
        4
    """
    p = Path(path)
    if not p.is_file():
        return {"path": str(path)}
    stat = p.stat()
    return {
        "path": str(p.resolve()),
        "bytes": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sample_sha256": file_sample_sha256(p),
    }


PART_FORMAT = "tilewise.strip/1"
"""The ``format`` in a strip part's header."""


def encode_strip(result: StripResult) -> bytes:
    """``result`` as the bytes of an ``.npz`` file of plain arrays (no pickle).

    Example:
        >>> import numpy as np
        >>> from tilewise.slicing.strips import Strip, StripResult
        >>> from tilewise.sources import Window
        >>> strip = Strip(0, (0, 1), (0, 2), Window(0, 0, 64, 32), 0)
        >>> det = Detections(np.array([[1, 2, 3, 4]]), [0.5])
        >>> result = StripResult(strip, [det, det], [0, 1], {"model_detections": 2})
        >>> back = decode_strip(encode_strip(result), {0: strip})
        >>> back.part_slices, back.parts == [det, det], back.counts
        ([0, 1], True, {'model_detections': 2})
    """
    lengths = [len(p) for p in result.parts]
    header = {
        "format": PART_FORMAT,
        "strip": _json_ready(dataclasses.asdict(result.strip)),
        "counts": result.counts,
        "windows": dataclasses.asdict(result.windows),
        "timings": result.timings,
        "seconds": result.seconds,
    }
    arrays = detections_to_arrays(Detections.concatenate(result.parts), "parts_")
    buf = io.BytesIO()
    np.savez(
        buf,
        header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
        part_slices=np.asarray(result.part_slices, dtype=np.int64),
        part_lengths=np.asarray(lengths, dtype=np.int64),
        **arrays,
    )
    return buf.getvalue()


def decode_strip(data: bytes, plan: Mapping[int, Strip]) -> StripResult:
    """The ``StripResult`` that ``encode_strip`` wrote, checked against the run's ``plan``.

    Raises:
        ValueError: the bytes are not a strip part of this format, or its strip is not
            the plan's strip of the same index.
    """
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    header = json.loads(arrays["header"].tobytes().decode())
    if header.get("format") != PART_FORMAT:
        raise ValueError(f"format {header.get('format')!r}, expected {PART_FORMAT!r}")
    stored = header["strip"]
    strip = plan.get(stored["index"])
    if strip is None or _json_ready(dataclasses.asdict(strip)) != stored:
        raise ValueError("not a strip of this run's plan")
    det = detections_from_arrays(arrays, "parts_")
    ends = np.cumsum(arrays["part_lengths"]).tolist()
    starts = [0, *ends][: len(ends)]
    if (ends[-1] if ends else 0) != len(det) or len(ends) != len(arrays["part_slices"]):
        raise ValueError("part lengths do not add up to the stored detections")
    return StripResult(
        strip,
        [det[a:b] for a, b in zip(starts, ends, strict=True)],
        arrays["part_slices"].tolist(),
        {k: int(v) for k, v in header["counts"].items()},
        WindowStats(**header["windows"]),
        {k: float(v) for k, v in header["timings"].items()},
        float(header["seconds"]),
    )


def _json_ready(value: Any) -> Any:
    """``value`` as JSON (anything JSON cannot hold as its ``repr``), to compare settings."""
    return json.loads(json.dumps(value, default=repr))


class StripStore:
    """The record of one raster's strip run (see the module docstring).

    Args:
        folder: where the run is recorded (created).
        settings: JSON-ready settings that decide the strips' results besides the
            slicer's and the plan's (e.g. the raster's fingerprint, bands, model, conf).
        overwrite: replace a run with other settings instead of refusing it.

    Example:
        >>> import tempfile, pathlib
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> from tilewise.slicing import Slicer
        >>> from tilewise.slicing.strips import plan_strips, run_strip
        >>> from tilewise.sources import ArraySource
        >>> model = lambda ims: [Detections(np.array([[0, 0, 8, 8]]), [0.9]) for _ in ims]
        >>> slicer = Slicer(model, slice_wh=32, overlap=0)
        >>> plan = plan_strips(slicer.grid_for((64, 96)), strips=3)
        >>> store = StripStore(pathlib.Path(tempfile.mkdtemp()), {"raster": "a.tif"})
        >>> store.claim({"slice_wh": 32}, plan)
        {}
        >>> image = ArraySource(np.zeros((96, 64, 3), np.uint8))
        >>> _ = store.record(run_strip(slicer, image, plan[1]))
        >>> sorted(StripStore(store.folder, {"raster": "a.tif"}).claim({"slice_wh": 32}, plan))
        [1]
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        settings: Mapping[str, Any],
        *,
        overwrite: bool = False,
    ) -> None:
        self.folder = Path(folder)
        self.settings = _json_ready(dict(settings))
        self.overwrite = overwrite
        self.corrupt = 0
        self._run: RunStore | None = None

    @property
    def parts(self) -> Path:
        """The folder of the strips' part files."""
        return self.folder / "parts"

    def _path(self, index: int) -> Path:
        return self.parts / f"strip-{index:06d}.npz"

    def claim(
        self, slicer_settings: Mapping[str, Any], plan: list[Strip]
    ) -> dict[int, StripResult]:
        """Claim the folder for this run; the strips already recorded, by strip index.

        Raises:
            TilewiseError: the folder holds a run with other settings (named) and
                ``overwrite`` is off, or part files without the run's settings.
        """
        settings = {
            **self.settings,
            "slicer": _json_ready(dict(slicer_settings)),
            "strips": [[s.rows[0], s.rows[1]] for s in plan],
        }
        self._run = RunStore(self.folder, settings, overwrite=self.overwrite)
        done: dict[int, StripResult] = {}
        by_index = {s.index: s for s in plan}
        for path in sorted(self.parts.glob("strip-*.npz")):
            try:
                result = decode_strip(path.read_bytes(), by_index)
            except Exception as exc:  # set aside; its strip is run again
                path.rename(path.with_suffix(".corrupt"))
                self.corrupt += 1
                warnings.warn(
                    f"set aside unreadable strip part {path.name}: {exc}",
                    TilewiseWarning,
                    stacklevel=2,
                )
                continue
            done[result.strip.index] = result
        return done

    def record(self, result: StripResult) -> Path:
        """Record a finished strip atomically (temporary file, fsync, rename); its path."""
        if self._run is None:
            raise TilewiseError("StripStore.record before claim")
        path = atomic_write_bytes(self._path(result.strip.index), encode_strip(result))
        _fsync_dir(self.parts)
        return path
