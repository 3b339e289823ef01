"""``--engine local``: a bulk run on this machine, chunk by chunk, resumable.

The images not yet done are cut into chunks of ``chunk`` images (in name order); each
chunk is predicted by ``predict_chunk`` (slices of its images share model batches) and
recorded as one part file. Ctrl-C or a kill loses at most the chunk in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tilewise.bulk.engine import file_item, predict_chunk
from tilewise.bulk.inputs import ImageList, file_stat
from tilewise.bulk.store import RunStore, RunSummary
from tilewise.bulk.table import image_table
from tilewise.images import ReadOptions

__all__ = ["Progress", "pending_chunks", "resume_summary", "run_local"]


@dataclass(frozen=True)
class Progress:
    """Where a run stands: items done of those to do, detections, failures, rates, ETA.

    The items are images for a bulk run, windows (slices) for a raster run in strips;
    the driver makes one as each chunk or strip finishes, wherever it ran.

    Example:
        >>> p = Progress(done=5, total=10, detections=50, failed=1, seconds=2.0)
        >>> p.images_per_second, p.eta_seconds, p.text()
        (2.5, 2.0, '5/10 image(s), 1 failed, 25.0 det/s, ETA 2 s')
        >>> Progress(3, 12, 9, 0, 1.5, unit="window").figures()["windows_per_second"]
        2.0
    """

    done: int
    total: int
    detections: int
    failed: int
    seconds: float
    start: int = 0
    unit: str = "image"

    @property
    def images_per_second(self) -> float:
        """Items finished per second by this run (those done before it not counted)."""
        return (self.done - self.start) / self.seconds if self.seconds > 0 else 0.0

    @property
    def detections_per_second(self) -> float:
        """Detections found per second by this run."""
        return self.detections / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the rate so far (None before the first item)."""
        rate = self.images_per_second
        return (self.total - self.done) / rate if rate > 0 else None

    def figures(self) -> dict[str, Any]:
        """JSON-ready figures (for ``summary.json`` and the raster report)."""
        eta = self.eta_seconds
        return {
            f"{self.unit}s_done": self.done,
            f"{self.unit}s_total": self.total,
            f"{self.unit}s_skipped_as_done": self.start,
            "failed": self.failed,
            "detections": self.detections,
            f"{self.unit}s_per_second": round(self.images_per_second, 3),
            "detections_per_second": round(self.detections_per_second, 3),
            "eta_seconds": None if eta is None else round(eta, 3),
        }

    def text(self) -> str:
        """One progress line."""
        eta = self.eta_seconds
        return (
            f"{self.done}/{self.total} {self.unit}(s), {self.failed} failed, "
            f"{self.detections_per_second:.1f} det/s, "
            f"ETA {'?' if eta is None else f'{eta:.0f} s'}"
        )


def pending_chunks(images: ImageList, done: set[str], chunk: int) -> list[list[int]]:
    """Indices of the images not in ``done``, cut into chunks of ``chunk``, in name order.

    Example:
        >>> from pathlib import Path
        >>> lst = ImageList("d", Path("d"), ("a", "b", "c"), (Path("a"), Path("b"), Path("c")))
        >>> pending_chunks(lst, {"b"}, 1), pending_chunks(lst, set(), 2)
        ([[0], [2]], [[0, 1], [2]])
    """
    todo = [i for i, name in enumerate(images.names) if name not in done]
    return [todo[k : k + chunk] for k in range(0, len(todo), chunk)]


def resume_summary(
    images: ImageList, store: RunStore, engine: str = "local"
) -> tuple[RunSummary, set[str]]:
    """A new run's summary and the images it skips: those done and unchanged since.

    Every image file is statted (``inputs.file_stat``) and compared with what its done
    record holds; a changed one is predicted again and counted in ``summary.changed``.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.bulk.inputs import ImageList
        >>> store = RunStore(pathlib.Path(tempfile.mkdtemp()), {})
        >>> summary, done = resume_summary(ImageList("d", pathlib.Path("d"), (), ()), store)
        >>> summary.skipped, summary.changed, done
        (0, 0, set())
    """
    current = {n: file_stat(p) for n, p in zip(images.names, images.paths, strict=True)}
    done, changed = store.done_and_changed(current)
    summary = RunSummary(
        images=len(images),
        skipped=sum(n in done for n in images.names),
        changed=sum(n in changed for n in images.names),
        engine=engine,
    )
    return summary, done


def run_local(
    images: ImageList,
    slicer: Any,
    store: RunStore,
    *,
    chunk: int = 8,
    read: ReadOptions | None = None,
    class_names: Sequence[str] = (),
    progress: Callable[[Progress], None] | None = None,
) -> RunSummary:
    """Predict every image of ``images`` not yet done in ``store``; finalize the outputs.

    Args:
        images: the run's images (``list_images``).
        slicer: the ``tilewise.Slicer`` (with its model).
        store: the output folder (``RunStore``), which knows what is done.
        chunk: images per part file (and per ``Slicer.stream`` call).
        read: how image files are read.
        class_names: the model's class names.
        progress: called after each chunk.

    Returns:
        The run's summary (also in ``DIR/summary.json``).

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> from tilewise import Detections, Slicer
        >>> from tilewise.bulk.inputs import list_images
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for n in ("a.png", "b.png"):
        ...     _ = cv2.imwrite(str(d / n), np.zeros((32, 64, 3), np.uint8))
        >>> model = lambda ims: [Detections(np.array([[0, 0, 8, 8]]), [0.9]) for _ in ims]
        >>> store = RunStore(d / "out", {"slice": 32})
        >>> run_local(list_images(d), Slicer(model, slice_wh=32, overlap=0), store).text()
        '2 of 2 image(s) done (0 skipped as already done), 0 failed, 4 detection(s)'
    """
    t0 = time.perf_counter()
    summary, done = resume_summary(images, store)
    chunks = pending_chunks(images, done, max(1, int(chunk)))
    finished, detections, failed = summary.skipped, 0, 0
    last = Progress(finished, len(images), 0, 0, 0.0, summary.skipped)
    for indices in chunks:
        items = [file_item(images.names[i], images.paths[i], read) for i in indices]
        results = predict_chunk(slicer, items)
        store.write_part(image_table(results, class_names))
        summary.predicted_now += len(results)
        finished += len(results)
        failed += sum(not r.ok for r in results)
        detections += sum(len(r.detections) for r in results if r.detections is not None)
        elapsed = time.perf_counter() - t0
        last = Progress(finished, len(images), detections, failed, elapsed, summary.skipped)
        if progress is not None:
            progress(last)
    summary.seconds = round(time.perf_counter() - t0, 4)
    summary.progress = last.figures()
    return store.finalize(summary)
