"""Dataset health check: statistics, problems, plots and a slicing recommendation."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tilewise.datasets.dataset import Dataset
from tilewise.datasets.health.orientation import exif_report
from tilewise.datasets.health.recommend import recommend_slicing
from tilewise.datasets.health.report_html import render_html, render_plots
from tilewise.datasets.health.stats import HealthStats, compute_health
from tilewise.datasets.health.text import health_text
from tilewise.fileio import atomic_write_json, atomic_write_text

__all__ = [
    "HealthFiles",
    "HealthStats",
    "compute_health",
    "exif_report",
    "health_check",
    "health_text",
    "recommend_slicing",
    "render_html",
    "render_plots",
]


@dataclass(frozen=True)
class HealthFiles:
    """Where ``health_check`` wrote its outputs."""

    json: Path | None
    html: Path | None


def health_check(
    ds: Dataset,
    *,
    model_input: int = 640,
    out_dir: str | os.PathLike[str] | None = None,
    title: str = "Dataset health",
) -> tuple[HealthStats, HealthFiles]:
    """Measure a dataset, recommend slicing, and write ``health.json`` + ``health.html``.

    When the image files are at hand (``ds.root``), their headers are read too: images
    with an EXIF orientation other than 1 are counted (``summary["images"]["exif"]``,
    ``problems["exif_rotated"]``), since tilewise reads them rotated as viewers show them.

    Example:
        >>> import tempfile, pathlib
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["a"]); b.add_box(b.add_image("x.png", 4000, 3000), [1, 1, 9, 9], 0)
        >>> stats, files = health_check(b.build(), out_dir=tempfile.mkdtemp())
        >>> stats.recommendation["slicing"], files.html.name
        (True, 'health.html')
    """
    stats = compute_health(ds, model_input)
    stats.recommendation = recommend_slicing(
        stats.sizes.min_side, stats.sizes.max_side, stats.image_wh, model_input
    )
    stats.summary["recommendation"] = stats.recommendation
    exif = exif_report(ds)
    stats.summary["images"]["exif"] = exif
    stats.summary["problems"]["exif_rotated"] = exif["rotated"]
    if out_dir is None:
        return stats, HealthFiles(None, None)
    out = Path(out_dir)
    json_path = atomic_write_json(out / "health.json", stats.summary)
    html_path = atomic_write_text(out / "health.html", render_html(stats, title=title))
    return stats, HealthFiles(json_path, html_path)
