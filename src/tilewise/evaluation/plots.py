"""PNG plots of evaluation results: PR curves, per-bucket bars, error breakdowns.

matplotlib is imported only inside these functions, and only its object-oriented API with
the Agg canvas is used: no pyplot, no global backend switch, no windows. Every file is
written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.evaluation.error_analysis import ErrorAnalysis, ErrorType
from tilewise.evaluation.result import EvaluationResult
from tilewise.fileio import atomic_path

__all__ = ["plot_bucket_metrics", "plot_delta_ap", "plot_errors", "plot_pr_curves"]


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise TilewiseError("plots need matplotlib: pip install 'tilewise[eval]'") from None
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise TilewiseError(f"plots are written as PNG; use a .png path, got {target.name}")
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    return target


def _count_axis(ax: Any, top: float, headroom: float = 1.08) -> None:
    """Counts start at 0, use whole-number ticks, and show 0..1 when all are zero."""
    from matplotlib.ticker import MaxNLocator

    ax.set_ylim(0, max(1.0, top * headroom))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _named(
    results: EvaluationResult | ErrorAnalysis | Mapping[str, Any], kind: type
) -> dict[str, Any]:
    if isinstance(results, kind):
        return {"": results}
    if not isinstance(results, Mapping) or not results:
        raise TilewiseError(f"expected a {kind.__name__} or a non-empty mapping name -> result")
    for name, r in results.items():
        if not isinstance(r, kind):
            raise TilewiseError(f"{name!r} is a {type(r).__name__}, expected {kind.__name__}")
    return dict(results)


def plot_pr_curves(
    results: EvaluationResult | Mapping[str, EvaluationResult],
    path: str | os.PathLike[str],
    *,
    iou: float = 0.5,
    area: str = "all",
    max_dets: int | None = None,
) -> Path:
    """Plot class-averaged precision-recall curves (COCO's interpolated precision).

    Args:
        results: one result or several by run name (one curve each).
        path: output ``.png``.
        iou: IoU threshold of the curves (one of COCO's .50:.05:.95).
        area: size bucket.
        max_dets: detection cap; each result's primary cap by default.

    Returns:
        The written path.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.evaluation import evaluate
        >>> from tilewise.evaluation.synthetic import synthetic_coco
        >>> res = evaluate(*synthetic_coco(num_images=2))
        >>> out = plot_pr_curves({"run": res}, pathlib.Path(tempfile.mkdtemp()) / "pr.png")
        >>> out.read_bytes()[1:4]
        b'PNG'
    """
    named = _named(results, EvaluationResult)
    fig = _figure(6.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    for name, res in named.items():
        rec, prec = res.pr_curve(iou=iou, area=area, max_dets=max_dets)
        cap = res.primary_max_dets if max_dets is None else max_dets
        ap = res.stats.get(f"AP50@{cap}") if math.isclose(iou, 0.5) and area == "all" else None
        label = name or "predictions"
        if ap is not None and not math.isnan(ap):
            label += f" (AP50 {ap:.3f})"
        prec = np.asarray(prec, dtype=np.float64)
        if np.all(np.isnan(prec)):  # undefined (no objects in the bucket): not a 0 curve
            label += " (n/a: no objects)"
        ax.plot(rec, prec, label=label)  # NaN points are gaps, never zeros
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Precision-recall, IoU={iou:.2f}, area={area}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    return _save(fig, path)


def plot_bucket_metrics(
    results: EvaluationResult | Mapping[str, EvaluationResult],
    path: str | os.PathLike[str],
    *,
    metric: str = "AP",
    max_dets: int | None = None,
) -> Path:
    """Grouped bars of one metric (``AP`` or ``AR``) per size bucket, one bar per run.

    Undefined values (no objects in a bucket) get no bar but an "n/a" label, so they are
    never read as a score of 0.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.evaluation import evaluate
        >>> from tilewise.evaluation.synthetic import synthetic_coco
        >>> res = evaluate(*synthetic_coco(num_images=2), tiny=True)
        >>> plot_bucket_metrics(res, pathlib.Path(tempfile.mkdtemp()) / "b.png").suffix
        '.png'
    """
    if metric not in ("AP", "AR"):
        raise TilewiseError(f"metric must be 'AP' or 'AR', got {metric!r}")
    named = _named(results, EvaluationResult)
    first = next(iter(named.values()))
    buckets = [r.name for r in first.area_ranges]
    fig = _figure(max(6.0, 1.0 + 0.9 * len(buckets) * max(1, len(named)) ** 0.5), 4.5)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(named)
    x = np.arange(len(buckets))
    for i, (name, res) in enumerate(named.items()):
        vals = []
        for b in buckets:
            try:
                vals.append(res.get(metric, b, max_dets))
            except TilewiseError:
                vals.append(math.nan)
        bars = ax.bar(x + (i - (len(named) - 1) / 2) * width, np.nan_to_num(vals), width)
        bars.set_label(name or metric)
        for rect, v in zip(bars, vals, strict=True):
            undefined = math.isnan(v)
            if undefined:  # no objects in the bucket: no bar (a 0 would read as a score)
                rect.set_visible(False)
            ax.annotate(
                "n/a" if undefined else f"{v:.2f}",
                (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
                color="0.45" if undefined else "black",
                rotation=90 if undefined else 0,
            )
    ax.set_xticks(x)
    ax.set_xticklabels(buckets, rotation=20)
    ax.set_ylim(0, 1.05)
    cap = first.primary_max_dets if max_dets is None else max_dets
    ax.set_ylabel(f"{metric}@{cap}")
    ax.set_title(f"{metric} per object size bucket")
    ax.grid(axis="y", alpha=0.3)
    if len(named) > 1 or next(iter(named)):
        ax.legend(fontsize="small")
    return _save(fig, path)


def plot_errors(
    analyses: ErrorAnalysis | Mapping[str, ErrorAnalysis],
    path: str | os.PathLike[str],
) -> Path:
    """Bar chart of TIDE-style error counts per size bucket.

    One analysis: one panel, error types grouped per bucket. Several (by run name): one
    panel per error type, runs side by side per bucket, so a glance shows whether a run
    has fewer misses or more duplicates in the small buckets.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.evaluation.error_analysis import analyze_errors
        >>> from tilewise.evaluation.synthetic import synthetic_coco
        >>> errs = analyze_errors(*synthetic_coco(num_images=2), fixes=False)
        >>> plot_errors(errs, pathlib.Path(tempfile.mkdtemp()) / "e.png").suffix
        '.png'
    """
    named = _named(analyses, ErrorAnalysis)
    first = next(iter(named.values()))
    return _per_type_bars(
        named,
        path,
        lambda a, bucket, t: float(a.counts(bucket)[t]),
        ylabel="count",
        title=f"Errors per size bucket (t_f={first.fg_iou:g}, t_b={first.bg_iou:g})",
        counts=True,
    )


def plot_delta_ap(
    analyses: ErrorAnalysis | Mapping[str, ErrorAnalysis],
    path: str | os.PathLike[str],
) -> Path:
    """Bar chart of the AP each error type costs per size bucket (TIDE's dAP).

    Each bar is the AP at ``t_f`` gained if every error of that type were fixed
    (``ErrorAnalysis.delta_ap``); the tallest bar in a bucket is the error to work on
    there. Undefined values (no objects in the bucket) get no bar but an "n/a" label.
    Layout as ``plot_errors``: one panel for one analysis, one panel per type for several.

    Raises:
        TilewiseError: an analysis ran without ``fixes``.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.evaluation.error_analysis import analyze_errors
        >>> from tilewise.evaluation.synthetic import synthetic_coco
        >>> errs = analyze_errors(*synthetic_coco(num_images=2))
        >>> plot_delta_ap(errs, pathlib.Path(tempfile.mkdtemp()) / "d.png").suffix
        '.png'
    """
    named = _named(analyses, ErrorAnalysis)
    for name, a in named.items():
        if a.impact is None:
            raise TilewiseError(f"{name or 'the analysis'} has no dAP: analyze it with fixes=True")
    first = next(iter(named.values()))
    return _per_type_bars(
        named,
        path,
        lambda a, bucket, t: a.delta_ap(bucket)[t],
        ylabel=f"d{first.ap_label}",
        title=f"{first.ap_label} gained if each error type were fixed, per size bucket",
        counts=False,
    )


def _per_type_bars(
    named: Mapping[str, ErrorAnalysis],
    path: str | os.PathLike[str],
    value: Any,
    *,
    ylabel: str,
    title: str,
    counts: bool,
) -> Path:
    """Bars of ``value(analysis, bucket, error_type)``: grouped by type, or panels per type.

    Counts get whole-number axes per panel; other values share one range over all panels,
    so bar heights compare across error types.
    """
    first = next(iter(named.values()))
    buckets = [b.area_range.name for b in first.buckets]
    x = np.arange(len(buckets))
    types = list(ErrorType)
    values = {
        (name, t): [value(a, b, t) for b in buckets] for name, a in named.items() for t in types
    }
    defined = [v for vals in values.values() for v in vals if not math.isnan(v)]
    low, top = min([0.0, *defined]), max([0.0, *defined])
    if len(named) == 1:
        name = next(iter(named))
        fig = _figure(max(6.0, 1.2 * len(buckets) + 2), 4.5)
        ax = fig.add_subplot(1, 1, 1)
        width = 0.8 / len(types)
        for i, t in enumerate(types):
            offset = (i - (len(types) - 1) / 2) * width
            _bars(ax, x + offset, values[name, t], width, t.label)
        _value_axis(ax, low, top, counts, headroom=1.3)  # room for the legend
        ax.set_xticks(x)
        ax.set_xticklabels(buckets, rotation=20)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize="small", ncol=3)
        ax.grid(axis="y", alpha=0.3)
        return _save(fig, path)
    cols = 3
    rows = math.ceil(len(types) / cols)
    fig = _figure(4.2 * cols, 3.4 * rows)
    fig.suptitle(title, fontsize="medium")
    width = 0.8 / len(named)
    for k, t in enumerate(types):
        ax = fig.add_subplot(rows, cols, k + 1)
        for i, name in enumerate(named):
            offset = (i - (len(named) - 1) / 2) * width
            _bars(ax, x + offset, values[name, t], width, name)
        if counts:
            _count_axis(ax, max(max(values[n, t]) for n in named))
        else:
            _value_axis(ax, low, top, counts)
        ax.set_title(t.label)
        ax.set_xticks(x)
        ax.set_xticklabels(buckets, rotation=30, fontsize=7)
        ax.set_ylabel(ylabel, fontsize=7)
        ax.grid(axis="y", alpha=0.3)
        if k == 0:
            ax.legend(fontsize="x-small")
    return _save(fig, path)


def _bars(ax: Any, xs: np.ndarray, vals: list[float], width: float, label: str) -> None:
    """Draw one bar series; NaN values get no bar but an "n/a" label."""
    bars = ax.bar(xs, np.nan_to_num(vals), width, label=label)
    for rect, v in zip(bars, vals, strict=True):
        if math.isnan(v):  # undefined (no objects in the bucket): not a 0
            rect.set_visible(False)
            ax.annotate(
                "n/a",
                (rect.get_x() + rect.get_width() / 2, 0.0),
                ha="center",
                va="bottom",
                fontsize=6,
                color="0.45",
                rotation=90,
            )


def _value_axis(ax: Any, low: float, top: float, counts: bool, headroom: float = 1.08) -> None:
    if counts:
        _count_axis(ax, top, headroom)
    else:
        ax.set_ylim(low * headroom, max(0.05, top * headroom))
