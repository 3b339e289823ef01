"""One image cut into horizontal strips of slices, run apart, merged as one run.

A giant raster is spread over workers strip by strip (``tilewise.distributed.
predict_raster``). The result must equal ``Slicer.run`` on the whole image exactly, so
the strips are cut from the one ``SliceGrid`` of the whole image, never from grids of
their own:

* a strip is a range of whole grid *rows*; every slice of the grid belongs to exactly
  one strip (row-major, so a strip's slices are a contiguous range of slice indices);
* the pixels a strip reads are its slices' union: the full width, from its first row's
  top to its last row's bottom. Consecutive strips' extents overlap by the grid's
  vertical slice overlap (more above the last row, which the grid shifts back inside
  the image): that is the strip's halo. Objects cut by a strip boundary are seen whole
  by a slice of one strip or the other, as they are in the whole run;
* ``run_strip`` runs the slicer's own per-slice pass (reading, nodata skips, the model,
  the non-finite / edge-margin / nodata-centre drops, the shift into image
  coordinates) on the strip's slices only, and returns the kept per-slice detections
  with the slice index of each and the strip's counts, without merging;
* ``merge_strips`` concatenates the strips' detections in strip order, which is the
  grid's slice order, sums the counts, and runs the slicer's one merge on the union.

So the raw detections, their order, the merge input and hence the merged output are
those of ``Slicer.run``, and every window skipped and detection dropped is counted
once. The one condition is the model's: it must give a slice the same detections
whatever other slices share its batch (true of per-image models, and of
``OnnxDetector``, whose letterboxed inputs are padded to a fixed batch or run per
chunk).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tilewise.detections import Detections
from tilewise.errors import TilewiseError
from tilewise.slicing.batches import WindowStats
from tilewise.slicing.grid import SliceGrid
from tilewise.slicing.report import SlicedPrediction, SliceReport, StageTimings
from tilewise.slicing.slicer import Slicer, _slice_wh
from tilewise.slicing.zoom import model_scale
from tilewise.sources import ImageSource, Window

__all__ = [
    "Strip",
    "StripResult",
    "merge_strips",
    "plan_strips",
    "run_strip",
    "slicer_settings",
    "strips_for",
]

_COUNTS = (
    "batches",
    "model_calls",
    "model_detections",
    "dropped_nonfinite",
    "dropped_edge",
    "outside_slice",
    "masks_resized",
    "masks_clipped",
    "mask_pixels_clipped",
    "dropped_empty_mask",
    "dropped_nodata",
)
"""``SliceReport`` counters a strip adds to the whole run's."""

_TIMINGS = ("slicing", "preprocess", "inference", "decode", "postprocess")
"""``StageTimings`` stages a strip adds to the whole run's (summed over strips)."""


@dataclass(frozen=True)
class Strip:
    """A horizontal strip of whole grid rows.

    Attributes:
        index: the strip's number, top to bottom.
        rows: grid rows ``[first, stop)``.
        slices: grid slice indices ``[first, stop)`` (rows times columns).
        window: the pixels the strip reads (its slices' union, halo included).
        halo: rows of pixels this strip's window shares with the next strip's (0 for
            the last strip).

    Example:
        >>> grid = SliceGrid((100, 300), slice_wh=100, overlap=0.2)
        >>> [(s.rows, s.window.y, s.window.h, s.halo) for s in plan_strips(grid, strips=2)]
        [((0, 2), 0, 180, 20), ((2, 4), 160, 140, 0)]
    """

    index: int
    rows: tuple[int, int]
    slices: tuple[int, int]
    window: Window
    halo: int

    @property
    def count(self) -> int:
        """Slices in the strip."""
        return self.slices[1] - self.slices[0]


def plan_strips(
    grid: SliceGrid, *, strips: int | None = None, rows_per_strip: int | None = None
) -> list[Strip]:
    """Cut ``grid`` into strips of whole rows: ``strips`` of them, or ``rows_per_strip`` each.

    With ``strips``, rows are shared out as evenly as possible (the first strips get
    one more); more strips than rows give one strip per row.

    Raises:
        TilewiseError: neither or both given, or a count under 1.

    Example:
        >>> grid = SliceGrid((64, 200), slice_wh=32, overlap=0)  # 7 rows of 2
        >>> [s.rows for s in plan_strips(grid, strips=3)]
        [(0, 3), (3, 5), (5, 7)]
        >>> [s.slices for s in plan_strips(grid, rows_per_strip=4)]
        [(0, 8), (8, 14)]
    """
    if (strips is None) == (rows_per_strip is None):
        raise TilewiseError("give either strips or rows_per_strip")
    value = strips if strips is not None else rows_per_strip
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        name = "strips" if strips is not None else "rows_per_strip"
        raise TilewiseError(f"{name} must be an int >= 1, got {value!r}")
    rows = grid.rows
    if strips is not None:
        count = min(int(strips), rows)
        base, extra = divmod(rows, count)
        sizes = [base + (i < extra) for i in range(count)]
    else:
        per = int(rows_per_strip)  # type: ignore[arg-type]
        sizes = [min(per, rows - r) for r in range(0, rows, per)]
    cols, width = grid.columns, grid.image_wh[0]
    boxes = grid.boxes
    bounds = np.cumsum([0, *sizes]).tolist()
    out = []
    for i, (r0, r1) in enumerate(itertools.pairwise(bounds)):
        y0, y1 = int(boxes[r0 * cols][1]), int(boxes[r1 * cols - 1][3])
        halo = 0 if r1 == rows else y1 - int(boxes[r1 * cols][1])
        out.append(Strip(i, (r0, r1), (r0 * cols, r1 * cols), Window(0, y0, width, y1 - y0), halo))
    return out


def slicer_settings(slicer: Slicer) -> dict[str, Any]:
    """``Slicer`` keyword arguments that rebuild ``slicer`` around another model instance.

    Workers rebuild the driver's slicer with their own copy of the model; ``progress``
    is left off (the driver shows progress).

    Raises:
        TilewiseError: the slicer runs several scales or a full-frame pass, which strips
            cannot split (a full frame is the whole image).

    Example:
        >>> s = Slicer(lambda ims: [], slice_wh=256, overlap=0.1, merge="wbf")
        >>> Slicer(lambda ims: [], **slicer_settings(s)).merge.value
        'wbf'
    """
    if slicer.scales is not None or slicer.full_frame:
        raise TilewiseError(
            "strips split one slice grid: multi-scale slicing and the full-frame pass "
            "read the whole image and are not split across workers"
        )
    return {
        "slice_wh": slicer.slice_wh,
        "overlap": slicer.overlap,
        "batch_size": slicer.batch_size,
        "workers": slicer.workers,
        "merge": slicer.merge.value,
        "threshold": slicer.threshold,
        "metric": slicer.metric.value,
        "class_agnostic": slicer.class_agnostic,
        "edge_margin": slicer.edge_margin,
        "contiguous": slicer.contiguous,
        "mask_overlap": slicer.mask_overlap.value,
        "pipeline": slicer.pipeline,
        "min_valid": slicer.min_valid,
        "zoom": slicer.zoom,
    }


@dataclass
class StripResult:
    """What one strip gave: its kept per-slice detections and its counts (nothing merged).

    Attributes:
        strip: the strip.
        parts: per slice with detections left, its detections in image coordinates.
        part_slices: the grid slice index of each part.
        counts: the strip's ``SliceReport`` counters (model detections, drops...).
        windows: the strip's windows read and skipped.
        timings: seconds per stage in the strip.
        seconds: wall time of the strip.
    """

    strip: Strip
    parts: list[Detections]
    part_slices: list[int]
    counts: dict[str, int]
    windows: WindowStats = field(default_factory=WindowStats)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def detections(self) -> int:
        """Detections the strip sends to the merge."""
        return sum(len(p) for p in self.parts)

    @property
    def windows_done(self) -> int:
        """Windows read or skipped (the strip's share of the grid, once it is done)."""
        return self.windows.read + self.windows.skipped


class _GridRows:
    """The slices ``[first, stop)`` of a grid, with their inner edges in the whole grid."""

    def __init__(self, grid: SliceGrid, first: int, stop: int) -> None:
        self.boxes = grid.boxes[first:stop]
        self._inner = grid.inner_edges()[first:stop]

    def inner_edges(self) -> np.ndarray:
        return self._inner

    def __len__(self) -> int:
        return len(self.boxes)


def _check_grid(slicer: Slicer, source: ImageSource, strip: Strip) -> SliceGrid:
    slicer_settings(slicer)  # refuses scales and full frame
    grid = slicer.grid_for(source.image_wh)
    if strip.slices[1] > len(grid) or strip.window.w != grid.image_wh[0]:
        raise TilewiseError(
            f"strip {strip.index} ({strip.slices}) was not planned on this image's grid "
            f"({len(grid)} slices of {grid.image_wh[0]}x{grid.image_wh[1]})"
        )
    return grid


def run_strip(slicer: Slicer, source: ImageSource, strip: Strip) -> StripResult:
    """Run ``slicer``'s per-slice pass on ``strip``'s slices of ``source``; no merge.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> from tilewise.sources import ArraySource
        >>> model = lambda ims: [Detections(np.array([[0, 0, 8, 8]]), [0.9]) for _ in ims]
        >>> slicer = Slicer(model, slice_wh=32, overlap=0)
        >>> image = np.zeros((96, 64, 3), np.uint8)
        >>> strips = plan_strips(slicer.grid_for((64, 96)), strips=2)
        >>> result = run_strip(slicer, ArraySource(image), strips[1])
        >>> result.part_slices, result.counts["model_detections"]
        ([4, 5], 2)
    """
    t0 = time.perf_counter()
    grid = _check_grid(slicer, source, strip)
    report = SliceReport(image_wh=source.image_wh, grid=grid, merge_method=slicer.merge.value)
    parts: list[Detections] = []
    part_slices: list[int] = []
    rows = _GridRows(grid, *strip.slices)
    first = strip.slices[0]
    slicer._slice_pass(source, rows, None, first, report, parts, part_slices, None)  # type: ignore[arg-type]
    return StripResult(
        strip,
        parts,
        part_slices,
        {name: int(getattr(report, name)) for name in _COUNTS},
        report.windows,
        {name: float(getattr(report.timings, name)) for name in _TIMINGS},
        time.perf_counter() - t0,
    )


def merge_strips(
    slicer: Slicer,
    source: ImageSource,
    results: list[StripResult],
    *,
    t_start: float | None = None,
) -> SlicedPrediction:
    """The whole run from its strips' results: what ``slicer.run(source)`` returns.

    ``results`` may come in any order; they must cover every strip of one plan on
    ``source``'s grid exactly once.

    Raises:
        TilewiseError: a strip is missing or given twice (its slices would be lost or
            counted twice).

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> from tilewise.sources import ArraySource
        >>> model = lambda ims: [Detections(np.array([[0, 0, 8, 8]]), [0.9]) for _ in ims]
        >>> slicer = Slicer(model, slice_wh=32, overlap=0)
        >>> src = ArraySource(np.zeros((96, 64, 3), np.uint8))
        >>> plan = plan_strips(slicer.grid_for((64, 96)), strips=2)
        >>> parts = [run_strip(slicer, src, s) for s in plan]
        >>> merge_strips(slicer, src, parts).detections == slicer.run(src).detections
        True
    """
    t_start = time.perf_counter() if t_start is None else t_start
    w, h = source.image_wh
    grid = slicer.grid_for((w, h))
    ordered = sorted(results, key=lambda r: r.strip.slices[0])
    expected = 0
    for result in ordered:
        _check_grid(slicer, source, result.strip)
        if result.strip.slices[0] != expected:
            gap = "given twice" if result.strip.slices[0] < expected else "missing"
            raise TilewiseError(
                f"the strips do not cover the grid once: slices from {expected} are {gap}"
            )
        expected = result.strip.slices[1]
    if expected != len(grid):
        raise TilewiseError(f"the strips do not cover the grid: slices from {expected} are missing")
    report = SliceReport(
        image_wh=(w, h),
        grid=grid,
        merge_method=slicer.merge.value,
        image=getattr(source, "record", None),
        source=source.name,
        zoom=slicer.zoom,
    )
    report.model_scale = model_scale(slicer.model, _slice_wh(grid), slicer.zoom)
    parts: list[Detections] = []
    part_slices: list[int] = []
    windows = report.windows
    for result in ordered:
        parts += result.parts
        part_slices += result.part_slices
        for name in _COUNTS:
            setattr(report, name, getattr(report, name) + result.counts[name])
        for name in _TIMINGS:
            timings: StageTimings = report.timings
            setattr(timings, name, getattr(timings, name) + result.timings.get(name, 0.0))
        windows.read += result.windows.read
        windows.skipped_nodata += result.windows.skipped_nodata
        windows.skipped_sparse += result.windows.skipped_sparse
        windows.valid_fraction_min = min(
            windows.valid_fraction_min, result.windows.valid_fraction_min
        )
    prediction = slicer._finish_frame(source, report, parts, part_slices, t_start)
    slicer.last_report = report
    return prediction


def strips_for(grid: SliceGrid, workers: int, per_worker: int = 4) -> int:
    """A default strip count: ``per_worker`` strips per worker (for progress and balance).

    Example:
        >>> strips_for(SliceGrid((100, 1000), 100, 0), workers=2)
        8
    """
    return max(1, min(grid.rows, int(workers) * int(per_worker)))
