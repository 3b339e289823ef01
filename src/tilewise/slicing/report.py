"""What a sliced prediction did: timings per stage and counts of everything dropped or merged."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from tilewise.detections import Detections
from tilewise.images import ImageRecord
from tilewise.merge import MergeResult
from tilewise.slicing.batches import WindowStats
from tilewise.slicing.grid import SliceGrid
from tilewise.slicing.scales import ScaleStats

__all__ = ["StageTimings", "SliceReport", "SlicedPrediction"]


@dataclass
class StageTimings:
    """Seconds spent per stage. Slicing overlaps inference, so stages may not add up to total.

    Attributes:
        slicing: preparing slice batches (views, optional contiguous copies).
        preprocess: a staged model's ``prepare`` (on the prefetch thread, overlapping
            inference); 0 for plain models, whose preprocessing counts as inference.
        inference: inside model calls, or a staged model's ``forward`` (summed over
            calls; with several workers this can exceed the wall time).
        decode: a staged model's ``finish`` (overlapping the next batch's ``forward``).
        postprocess: validating, filtering and shifting model outputs.
        merge: the merge kernel and building the merged Detections.
        total: wall time of the whole call.
    """

    slicing: float = 0.0
    preprocess: float = 0.0
    inference: float = 0.0
    decode: float = 0.0
    postprocess: float = 0.0
    merge: float = 0.0
    total: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Return the timings as a plain dict of seconds."""
        return asdict(self)


@dataclass
class SliceReport:
    """Accounting of one sliced prediction: nothing is dropped or merged without a count.

    ``raw`` detections are the model's outputs shifted into image coordinates after the
    non-finite and edge-margin drops; the merge result maps every raw detection to its
    survivor, so ``raw = output + merged_or_suppressed``.

    With masks: ``masks_resized`` counts detections whose masks came at another size than
    the image the model was given (e.g. its input size) and were scaled to it;
    ``masks_clipped`` masks had pixels outside their box (``mask_pixels_clipped`` in all),
    which were cut off; ``dropped_empty_mask`` detections had no mask pixels left (in
    their box) and were dropped.

    ``image`` records how an image *file* was read (EXIF orientation, truncation,
    scaling...: a ``tilewise.images.ImageRecord``); None when the slicer got an array.

    ``source`` names what was read (a path, ``"image"`` for an array). With a source that
    has a valid-data mask (a raster's nodata), ``windows`` counts the windows read and
    those skipped with no valid pixel or under ``min_valid``; ``dropped_nodata`` counts
    detections whose centre lay on invalid pixels.

    ``zoom`` is the factor slices were resized by before the model; ``model_scale`` is
    what the network finally saw, in model input pixels per image pixel: the zoom
    composed with the model's own resize (``OnnxDetector`` letterboxes every image to its
    input size, so a 320 px slice into a 640 px graph is 2x at zoom 1), None when the
    slices differ in size. With ``scales``, one ``ScaleStats`` per scale counts what that
    scale contributed, and ``dropped_size`` the detections its size filters dropped;
    ``grid`` is then the first scale's grid and ``slices`` counts every scale's.
    """

    image_wh: tuple[int, int]
    grid: SliceGrid
    batches: int = 0
    model_calls: int = 0
    model_detections: int = 0
    full_frame_detections: int = 0
    dropped_nonfinite: int = 0
    dropped_edge: int = 0
    outside_slice: int = 0
    masks_resized: int = 0
    masks_clipped: int = 0
    mask_pixels_clipped: int = 0
    dropped_empty_mask: int = 0
    mask_overlap: str | None = None
    raw: int = 0
    output: int = 0
    merge_method: str = "none"
    merge_skipped_reason: str | None = None
    merge: MergeResult | None = None
    timings: StageTimings = field(default_factory=StageTimings)
    image: ImageRecord | None = None
    source: str | None = None
    windows: WindowStats = field(default_factory=WindowStats)
    dropped_nodata: int = 0
    zoom: float = 1.0
    model_scale: float | None = None
    scales: list[ScaleStats] = field(default_factory=list)
    dropped_size: int = 0

    @property
    def slices(self) -> int:
        """Number of slices the image was cut into (all scales together)."""
        if self.scales:
            return sum(s.slices for s in self.scales)
        return len(self.grid)

    @property
    def merged_away(self) -> int:
        """Raw detections that were suppressed by or merged into a survivor."""
        return self.raw - self.output

    def summary(self) -> str:
        """One human-readable paragraph: counts and timings.

        Example:
            >>> from tilewise import SliceGrid
            >>> r = SliceReport(image_wh=(100, 100), grid=SliceGrid((100, 100), 64, 0.2))
            >>> print(r.summary().splitlines()[0])
            100x100 image, 4 slices in 0 batches (0 model calls)
        """
        w, h = self.image_wh
        t = self.timings
        lines = [
            f"{w}x{h} image, {self.slices} slices in {self.batches} batches "
            f"({self.model_calls} model calls)",
            f"detections: {self.model_detections} from slices"
            + (f" + {self.full_frame_detections} full-frame" if self.full_frame_detections else "")
            + f", {self.dropped_nonfinite} dropped (non-finite), "
            f"{self.dropped_edge} dropped (inner-edge margin), "
            + (f"{self.dropped_nodata} dropped (centre on nodata), " if self.dropped_nodata else "")
            + (
                f"{self.dropped_empty_mask} dropped (empty mask), "
                if self.mask_overlap is not None or self.dropped_empty_mask
                else ""
            )
            + f"{self.raw} to merge, "
            f"{self.merged_away} merged/suppressed by {self.merge_method}"
            + (f" on {self.mask_overlap} overlap" if self.mask_overlap is not None else "")
            + (f" ({self.merge_skipped_reason})" if self.merge_skipped_reason else "")
            + f", {self.output} out",
        ]
        if self.windows.skipped:
            lines.insert(
                1,
                f"windows: {self.windows.read} read, {self.windows.skipped_nodata} skipped "
                f"(all nodata), {self.windows.skipped_sparse} skipped (under min_valid)",
            )
        if self.scales:
            for i, s in enumerate(self.scales):
                seen = "" if s.model_scale is None else f", model sees {s.model_scale:.2f}x"
                lines.append(
                    f"scale {i} ({s.scale.describe()}{seen}): {s.slices} slices, "
                    f"{s.model_detections} detections, {s.dropped_size} dropped (size "
                    f"filter), {s.raw} to merge, {s.output} out"
                )
        elif self.zoom != 1.0 or self.model_scale not in (None, 1.0):
            seen = "" if self.model_scale is None else f", model sees {self.model_scale:.2f}x"
            lines.append(f"scale: slices zoomed {self.zoom:g}x{seen} (zoom x model resize)")
        if self.masks_resized or self.masks_clipped:
            lines.append(
                f"masks: {self.masks_resized} resized to the image, {self.masks_clipped} "
                f"clipped to their box ({self.mask_pixels_clipped} pixels cut)"
            )
        staged = f"preprocess {t.preprocess * 1e3:.1f}, " if t.preprocess or t.decode else ""
        decoded = f"decode {t.decode * 1e3:.1f}, " if t.preprocess or t.decode else ""
        lines += [
            f"time: total {t.total * 1e3:.1f} ms = slicing {t.slicing * 1e3:.1f}, {staged}"
            f"inference {t.inference * 1e3:.1f}, {decoded}postprocess "
            f"{t.postprocess * 1e3:.1f}, merge {t.merge * 1e3:.1f} ms (stages overlap)",
        ]
        return "\n".join(lines)


@dataclass
class SlicedPrediction:
    """The result of ``Slicer.run``.

    Attributes:
        detections: merged detections in image coordinates.
        raw: detections before merging (image coordinates, after the counted drops).
        raw_slice_index: (len(raw),) int64 slice of each raw detection; -1 for full frame.
        report: counts and timings; ``report.merge`` maps raw rows to survivors.
    """

    detections: Detections
    raw: Detections
    raw_slice_index: np.ndarray
    report: SliceReport
