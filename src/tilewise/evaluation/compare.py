"""Compare inference strategies on one dataset and one model, in one call.

A *run* is a way to turn an image into detections: the model on the full frame, or the
model behind a ``Slicer`` with given settings (slice size, overlap, merge, full-frame
pass...). ``compare_runs`` runs each on every image, times it, evaluates it with COCO
metrics (``evaluate``) and TIDE-style errors (``analyze_errors``), and ``Comparison``
renders the result as a table, markdown, JSON, PNG plots and a self-contained HTML page.

Slicers are built by a factory, ``slicer_factory(model, **settings)``, which defaults to
``tilewise.Slicer``; pass your own to compare other pipelines or to test.
"""

from __future__ import annotations

import base64
import html
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from tilewise.detections import Detections
from tilewise.errors import ModelOutputError, TilewiseError
from tilewise.evaluation.buckets import AreaRange
from tilewise.evaluation.dataset import EvalDataset
from tilewise.evaluation.error_analysis import ErrorAnalysis, analyze_errors
from tilewise.evaluation.metrics import DEFAULT_MAX_DETS, evaluate
from tilewise.evaluation.result import EvaluationResult, stat_key
from tilewise.evaluation.tables import html_table, markdown_table, text_table
from tilewise.fileio import atomic_write_json, atomic_write_text
from tilewise.slicing import Slicer

__all__ = [
    "Comparison",
    "Predictor",
    "RunResult",
    "RunSpec",
    "SlicerFactory",
    "compare_runs",
    "default_slicer_factory",
    "predict_dataset",
    "standard_runs",
]

Predictor: TypeAlias = Callable[[Any], Detections]
"""One image (H x W x 3 uint8 RGB) in, its detections in image pixels out."""

SlicerFactory: TypeAlias = Callable[..., Predictor]
"""``factory(model, **settings)`` returns a predictor (e.g. a ``tilewise.Slicer``)."""


def default_slicer_factory(model: Callable[..., Any], **settings: Any) -> Predictor:
    """Build a ``tilewise.Slicer`` for ``model`` with ``settings`` as keyword arguments."""
    return Slicer(model, **settings)


def _full_frame(model: Callable[..., Any]) -> Predictor:
    def predict(image: Any) -> Detections:
        out = model([image])
        if not isinstance(out, (list, tuple)) or len(out) != 1:
            raise ModelOutputError(
                f"the model must return a list with one Detections per image, got {out!r:.80}"
            )
        if not isinstance(out[0], Detections):
            raise ModelOutputError(f"the model returned {type(out[0]).__name__}, not Detections")
        return out[0]

    return predict


@dataclass(frozen=True)
class RunSpec:
    """One inference strategy to compare.

    Attributes:
        name: label in tables and plots (unique within a comparison).
        settings: keyword arguments for the slicer factory; ``None`` runs the model once
            on the full frame, without slicing.

    Example:
        >>> RunSpec("sliced", {"slice_wh": 512, "overlap": 0.2}).describe()
        'slice_wh=512, overlap=0.2'
        >>> RunSpec("plain").describe()
        'model on the full frame'
    """

    name: str
    settings: Mapping[str, Any] | None = None

    def describe(self) -> str:
        """The settings as ``key=value`` text."""
        if self.settings is None:
            return "model on the full frame"
        return ", ".join(f"{k}={v}" for k, v in self.settings.items())


def standard_runs(
    *,
    slice_wh: int | tuple[int, int] = 640,
    overlap: float = 0.2,
    merges: Sequence[str] = ("nms",),
    **slicer_kwargs: Any,
) -> tuple[RunSpec, ...]:
    """Full frame, then per merge strategy: sliced, and sliced plus a full-frame pass.

    A merge is a method name, optionally with the overlap metric: ``"nms"``,
    ``"greedy_nmm:ios"``.

    Example:
        >>> [r.name for r in standard_runs(merges=("nms", "wbf:ios"))]
        ['full-frame', 'sliced nms', 'sliced+full nms', 'sliced wbf:ios', 'sliced+full wbf:ios']
        >>> standard_runs(merges=("wbf:ios",))[1].settings["metric"]
        'ios'
    """
    runs = [RunSpec("full-frame")]
    for merge in merges:
        method, _, metric = str(merge).partition(":")
        base = {"slice_wh": slice_wh, "overlap": overlap, "merge": method, **slicer_kwargs}
        if metric:
            base["metric"] = metric
        runs.append(RunSpec(f"sliced {merge}", {**base, "full_frame": False}))
        runs.append(RunSpec(f"sliced+full {merge}", {**base, "full_frame": True}))
    return tuple(runs)


def predict_dataset(
    dataset: EvalDataset, predictor: Predictor, *, progress: bool = False, desc: str = ""
) -> tuple[dict[int, Detections], float]:
    """Run ``predictor`` on every image of ``dataset``.

    Returns:
        Detections by image id, and the seconds spent inside the predictor (image
        loading excluded).

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> gt = {"images": [{"id": 1}], "categories": [], "annotations": []}
        >>> ds = EvalDataset.from_arrays(gt, {1: np.zeros((2, 2, 3), np.uint8)})
        >>> dets, seconds = predict_dataset(ds, lambda im: Detections.empty())
        >>> len(dets[1]), seconds >= 0
        (0, True)
    """
    out: dict[int, Detections] = {}
    seconds = 0.0
    items: Any = iter(dataset)
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, total=len(dataset), desc=desc or "predict", unit="img", leave=False)
    for image_id, image in items:
        t0 = time.perf_counter()
        det = predictor(image)
        seconds += time.perf_counter() - t0
        if not isinstance(det, Detections):
            raise ModelOutputError(
                f"the predictor returned {type(det).__name__} for image {image_id}, "
                "expected Detections"
            )
        out[image_id] = det
    return out, seconds


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run.

    Attributes:
        spec: what was run.
        evaluation: COCO metrics.
        errors: TIDE-style error counts (``None`` if not requested).
        wall_time_s: seconds spent predicting (all images).
        num_images: images predicted.
        num_detections: detections produced (before evaluation caps).
    """

    spec: RunSpec
    evaluation: EvaluationResult
    errors: ErrorAnalysis | None
    wall_time_s: float
    num_images: int
    num_detections: int

    @property
    def detections_per_image(self) -> float:
        """Mean detections per image."""
        return self.num_detections / max(self.num_images, 1)

    @property
    def ms_per_image(self) -> float:
        """Mean prediction time per image in milliseconds."""
        return 1000.0 * self.wall_time_s / max(self.num_images, 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.spec.name,
            "settings": None if self.spec.settings is None else dict(self.spec.settings),
            "wall_time_s": self.wall_time_s,
            "ms_per_image": self.ms_per_image,
            "num_images": self.num_images,
            "num_detections": self.num_detections,
            "detections_per_image": self.detections_per_image,
            "evaluation": self.evaluation.to_dict(),
            "errors": None if self.errors is None else self.errors.to_dict(),
        }


_REPORT_FILES = {
    "pr": "pr_curves.png",
    "ap_buckets": "ap_per_bucket.png",
    "ar_buckets": "ar_per_bucket.png",
    "errors": "errors_per_bucket.png",
    "delta_ap": "delta_ap_per_bucket.png",
}


@dataclass(frozen=True)
class Comparison:
    """Results of several runs on the same dataset, with report renderers.

    Attributes:
        runs: one ``RunResult`` per run, in the order given.
        dataset_name: label of the dataset.
    """

    runs: tuple[RunResult, ...]
    dataset_name: str = "dataset"
    notes: tuple[str, ...] = field(default=())

    def run(self, name: str) -> RunResult:
        """The result of one run by name.

        Raises:
            TilewiseError: no such run.
        """
        for r in self.runs:
            if r.spec.name == name:
                return r
        raise TilewiseError(f"no run {name!r}; have {[r.spec.name for r in self.runs]}")

    def _metric_columns(self) -> list[tuple[str, str]]:
        """``(header, stat key)`` pairs, from the first run's parameters."""
        ev = self.runs[0].evaluation
        m = ev.primary_max_dets
        cols = [(k, stat_key(k, "all", m)) for k in ("AP", "AP50", "AP75")]
        cols += [(f"AP_{r.name}", stat_key("AP", r.name, m)) for r in ev.area_ranges[1:]]
        cols += [(f"AR@{c}", f"AR@{c}") for c in ev.eval_max_dets]
        cols += [(f"AR_{r.name}", stat_key("AR", r.name, m)) for r in ev.area_ranges[1:]]
        cols += [(f"AP@{c}", stat_key("AP", "all", c)) for c in ev.max_dets[1:]]
        return cols

    def _rows(self) -> tuple[list[str], list[list[Any]]]:
        cols = self._metric_columns()
        headers = ["run", *(h for h, _ in cols), "time s", "ms/img", "dets/img"]
        rows = [
            [
                r.spec.name,
                *(r.evaluation.stats.get(k, float("nan")) for _, k in cols),
                f"{r.wall_time_s:.2f}",
                f"{r.ms_per_image:.1f}",
                f"{r.detections_per_image:.1f}",
            ]
            for r in self.runs
        ]
        return headers, rows

    def _error_rows(self) -> tuple[list[str], list[list[Any]]]:
        analysed = [r for r in self.runs if r.errors is not None]
        if not analysed:
            return [], []
        first = analysed[0].errors
        assert first is not None
        headers = ["run", "bucket", *first.column_headers()]
        rows = []
        for r in analysed:
            assert r.errors is not None
            for b in r.errors.buckets:
                rows.append([r.spec.name, b.area_range.name, *r.errors.bucket_cells(b)])
        return headers, rows

    def _error_legend(self) -> str:
        return next((r.errors.legend() for r in self.runs if r.errors is not None), "")

    def _advice(self) -> list[str]:
        """Per run, the error type whose fix gains the most AP in each bucket."""
        return [
            f"{r.spec.name}: {r.errors.advice()}"
            for r in self.runs
            if r.errors is not None and r.errors.advice()
        ]

    def _caption(self) -> str:
        ev = self.runs[0].evaluation
        return (
            f"{self.dataset_name}: {ev.num_images} images, {ev.num_gt} objects; "
            f"AP/AR at maxDets={ev.primary_max_dets} unless marked @N; "
            "time = seconds inside the predictor"
        )

    def table(self) -> str:
        """Terminal table: one row per run (metrics, time, detections per image).

        Example:
            >>> import numpy as np
            >>> from tilewise import Detections
            >>> from tilewise.evaluation.synthetic import bright_squares, SquareDetector
            >>> gt, images = bright_squares(num_images=1, image_size=(256, 192))
            >>> ds = EvalDataset.from_arrays(gt, images)
            >>> cmp = compare_runs(ds, SquareDetector(), [RunSpec("full-frame")],
            ...                    class_to_category={0: 1, 1: 2})
            >>> cmp.table().splitlines()[2].split()[:4]
            ['run', 'AP', 'AP50', 'AP75']
        """
        headers, rows = self._rows()
        parts = [self._caption(), "", text_table(headers, rows)]
        eh, er = self._error_rows()
        if er:
            parts += ["", text_table(eh, er, title="TIDE-style errors per size bucket")]
            if self._error_legend():
                parts.append(self._error_legend())
            parts += self._advice()
        return "\n".join(parts)

    def to_markdown(self, images: Mapping[str, str] | None = None) -> str:
        """Markdown summary; ``images`` maps a caption to a relative PNG path to embed."""
        headers, rows = self._rows()
        lines = ["## Run comparison", "", self._caption(), ""]
        lines += [f"- **{r.spec.name}**: {r.spec.describe()}" for r in self.runs]
        lines += ["", markdown_table(headers, rows)]
        eh, er = self._error_rows()
        if er:
            lines += ["", "### Errors per size bucket (TIDE-style)", "", markdown_table(eh, er)]
            if self._error_legend():
                lines += ["", self._error_legend()]
            if self._advice():
                lines += ["", *(f"- {line}" for line in self._advice())]
        for caption, rel in (images or {}).items():
            lines += ["", f"![{caption}]({rel})"]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)

    def to_html(self, images: Mapping[str, Path] | None = None) -> str:
        """A self-contained HTML page; PNGs in ``images`` are embedded as base64."""
        headers, rows = self._rows()
        body = [
            "<h1>Run comparison</h1>",
            f"<p>{html.escape(self._caption())}</p>",
            "<ul>",
            *(
                f"<li><b>{html.escape(r.spec.name)}</b>: {html.escape(r.spec.describe())}</li>"
                for r in self.runs
            ),
            "</ul>",
            html_table(headers, rows),
        ]
        eh, er = self._error_rows()
        if er:
            body += ["<h2>Errors per size bucket (TIDE-style)</h2>", html_table(eh, er)]
            if self._error_legend():
                body.append(f"<p>{html.escape(self._error_legend())}</p>")
            body += [f"<p>{html.escape(line)}</p>" for line in self._advice()]
        for caption, path in (images or {}).items():
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            body += [
                f"<h2>{html.escape(caption)}</h2>",
                f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">',
            ]
        style = (
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px}td.num{text-align:right}"
            "img{max-width:100%}"
        )
        return (
            "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>tilewise comparison"
            f"</title><style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with every run's full results."""
        return {
            "dataset": self.dataset_name,
            "runs": [r.to_dict() for r in self.runs],
            "notes": list(self.notes),
        }

    def write_report(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``comparison.{md,html,json}`` and the PNG plots into ``out_dir``.

        Returns:
            Written paths by kind (``markdown``, ``html``, ``json``, ``pr``,
            ``ap_buckets``, ``ar_buckets``, and ``errors`` and ``delta_ap`` when errors
            were analysed).
        """
        from tilewise.evaluation.plots import (
            plot_bucket_metrics,
            plot_delta_ap,
            plot_errors,
            plot_pr_curves,
        )

        out = Path(out_dir)
        evals = {r.spec.name: r.evaluation for r in self.runs}
        paths: dict[str, Path] = {
            "pr": plot_pr_curves(evals, out / _REPORT_FILES["pr"]),
            "ap_buckets": plot_bucket_metrics(evals, out / _REPORT_FILES["ap_buckets"]),
            "ar_buckets": plot_bucket_metrics(
                evals, out / _REPORT_FILES["ar_buckets"], metric="AR"
            ),
        }
        errs = {r.spec.name: r.errors for r in self.runs if r.errors is not None}
        if errs:
            paths["errors"] = plot_errors(errs, out / _REPORT_FILES["errors"])
            if all(e.impact is not None for e in errs.values()):
                paths["delta_ap"] = plot_delta_ap(errs, out / _REPORT_FILES["delta_ap"])
        captions = {
            "pr": "Precision-recall (IoU 0.50)",
            "ap_buckets": "AP per size bucket",
            "ar_buckets": "AR per size bucket",
            "errors": "Errors per size bucket",
            "delta_ap": "AP gained if each error type were fixed",
        }
        images = {captions[k]: p for k, p in paths.items()}
        paths["markdown"] = atomic_write_text(
            out / "comparison.md",
            self.to_markdown({c: p.name for c, p in images.items()}) + "\n",
        )
        paths["html"] = atomic_write_text(out / "comparison.html", self.to_html(images))
        paths["json"] = atomic_write_json(out / "comparison.json", self.to_dict())
        return paths


def compare_runs(
    dataset: EvalDataset,
    model: Callable[..., Any],
    runs: Sequence[RunSpec] | None = None,
    *,
    class_to_category: Mapping[int, int] | None = None,
    slicer_factory: SlicerFactory | None = None,
    max_dets: str | int | Sequence[int] = DEFAULT_MAX_DETS,
    tiny: bool = True,
    area_ranges: Sequence[AreaRange | str] | None = None,
    errors: bool = True,
    fix_impact: bool = True,
    progress: bool = False,
) -> Comparison:
    """Run, time and evaluate several inference strategies on one dataset.

    Args:
        dataset: images and ground truth.
        model: the batch model (list of RGB images in, list of ``Detections`` out).
        runs: strategies to compare; ``standard_runs()`` by default (full frame, sliced,
            sliced + full frame, with NMS).
        class_to_category: model class id to COCO category id (identity by default).
        slicer_factory: builds a predictor from ``(model, **settings)``;
            ``tilewise.Slicer`` by default.
        max_dets: detection caps to report (see ``evaluate``).
        tiny: add the tiny size buckets.
        area_ranges: size buckets (see ``evaluate``).
        errors: also count TIDE-style errors per bucket.
        fix_impact: with ``errors``, also measure each error type's dAP (``fixes`` of
            ``analyze_errors``: 8 more COCO evaluations per run).
        progress: show progress bars.

    Returns:
        A ``Comparison``.

    Raises:
        TilewiseError: run names repeat, or evaluation input is bad.
        ModelOutputError: the model broke its contract.
    """
    specs = tuple(standard_runs() if runs is None else runs)
    names = [s.name for s in specs]
    if not specs:
        raise TilewiseError("no runs to compare")
    if len(set(names)) != len(names):
        raise TilewiseError(f"run names must be unique, got {names}")
    factory = slicer_factory or default_slicer_factory
    results = []
    for spec in specs:
        predictor = _full_frame(model) if spec.settings is None else factory(model, **spec.settings)
        dets, seconds = predict_dataset(dataset, predictor, progress=progress, desc=spec.name)
        evaluation = evaluate(
            dataset.ground_truth,
            dets,
            max_dets=max_dets,
            area_ranges=area_ranges,
            tiny=tiny,
            class_to_category=class_to_category,
        )
        analysis = None
        if errors:
            analysis = analyze_errors(
                dataset.ground_truth,
                dets,
                area_ranges=[r for r in evaluation.area_ranges[1:]],
                max_dets=evaluation.primary_max_dets,
                class_to_category=class_to_category,
                fixes=fix_impact,
            )
        results.append(
            RunResult(
                spec=spec,
                evaluation=evaluation,
                errors=analysis,
                wall_time_s=seconds,
                num_images=len(dets),
                num_detections=sum(len(d) for d in dets.values()),
            )
        )
    return Comparison(runs=tuple(results), dataset_name=dataset.name)
