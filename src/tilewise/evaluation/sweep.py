"""Sweep a grid of slicer settings on a dataset; report the best setting per metric.

Each setting (one combination of the grid, e.g. ``slice_wh=512, overlap=0.2,
merge="nms", threshold=0.5, full_frame=False``) is run on every image, timed and
evaluated. Its result is cached as one JSON file per setting, named by a stable hash of

* the dataset identity (``EvalDataset.identity``, a content fingerprint),
* the model identity, a string given by the caller (a model cannot be fingerprinted
  reliably: include its weights' version and any parameters),
* the setting itself and the evaluation parameters,

and written atomically, so an interrupted sweep loses at most the setting in progress
and a rerun computes only the settings whose results are missing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tilewise.errors import TilewiseError, TilewiseWarning
from tilewise.evaluation.buckets import AreaRange
from tilewise.evaluation.compare import SlicerFactory, default_slicer_factory, predict_dataset
from tilewise.evaluation.dataset import EvalDataset
from tilewise.evaluation.metrics import DEFAULT_MAX_DETS, evaluate, parse_max_dets
from tilewise.evaluation.tables import markdown_table, text_table
from tilewise.fileio import atomic_write_json, atomic_write_text

__all__ = ["CACHE_VERSION", "SweepPoint", "SweepResult", "expand_grid", "setting_key", "sweep"]

CACHE_VERSION = 1
"""Bumped when the cached result format or the evaluation changes meaning."""


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """All combinations of a settings grid, in a stable order (last key varies fastest).

    Example:
        >>> expand_grid({"slice_wh": [256, 512], "full_frame": [False, True]})[:2]
        [{'slice_wh': 256, 'full_frame': False}, {'slice_wh': 256, 'full_frame': True}]
    """
    if not grid:
        return [{}]
    keys = list(grid)
    values = []
    for k in keys:
        v = grid[k]
        if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or not v:
            raise TilewiseError(f"grid[{k!r}] must be a non-empty list of values, got {v!r}")
        values.append(list(v))
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def _canonical(obj: Any) -> str:
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TilewiseError(f"sweep settings must be plain JSON values: {exc}") from None


def setting_key(
    dataset_id: str, model_id: str, settings: Mapping[str, Any], evaluation: Mapping[str, Any]
) -> str:
    """Stable cache key (hex) of one setting; equal inputs give equal keys across runs.

    Example:
        >>> a = setting_key("d", "m", {"overlap": 0.2, "slice_wh": 512}, {})
        >>> a == setting_key("d", "m", {"slice_wh": 512, "overlap": 0.2}, {}), len(a)
        (True, 24)
    """
    payload = _canonical(
        {
            "v": CACHE_VERSION,
            "dataset": dataset_id,
            "model": model_id,
            "settings": dict(settings),
            "evaluation": dict(evaluation),
        }
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class SweepPoint:
    """The result of one setting.

    Attributes:
        settings: the slicer keyword arguments.
        stats: flat metrics (see ``EvaluationResult.stats``).
        wall_time_s: seconds spent predicting all images.
        num_images: images evaluated.
        detections_per_image: mean detections per image.
        key: cache key.
        cached: loaded from the cache rather than computed in this call.
    """

    settings: Mapping[str, Any]
    stats: Mapping[str, float]
    wall_time_s: float
    num_images: int
    detections_per_image: float
    key: str
    cached: bool = False

    def describe(self) -> str:
        """``key=value`` text of the settings."""
        return ", ".join(f"{k}={v}" for k, v in self.settings.items())


@dataclass(frozen=True)
class SweepResult:
    """All settings of a sweep, with best-per-metric summaries.

    Attributes:
        points: one ``SweepPoint`` per setting, in grid order.
        primary_max_dets: the primary detection cap of the metrics.
    """

    points: tuple[SweepPoint, ...]
    primary_max_dets: int = 100

    @property
    def computed(self) -> int:
        """Settings computed in this call (not from the cache)."""
        return sum(not p.cached for p in self.points)

    def best(self, metric: str | None = None) -> SweepPoint:
        """The setting with the highest ``metric`` (ties: the faster one).

        Raises:
            TilewiseError: unknown metric, or undefined for every setting.
        """
        key = metric or f"AP@{self.primary_max_dets}"
        if key not in self.points[0].stats:
            raise TilewiseError(f"no metric {key!r}; available: {', '.join(self.points[0].stats)}")
        defined = [p for p in self.points if not math.isnan(p.stats[key])]
        if not defined:
            raise TilewiseError(f"{key} is undefined for every setting")
        return max(defined, key=lambda p: (p.stats[key], -p.wall_time_s))

    def best_per_metric(self, metrics: Sequence[str] | None = None) -> dict[str, SweepPoint]:
        """Best setting for each metric (all defined metrics by default)."""
        names = list(metrics) if metrics is not None else list(self.points[0].stats)
        out = {}
        for name in names:
            try:
                out[name] = self.best(name)
            except TilewiseError:
                if metrics is not None:
                    raise
        return out

    def _best_rows(self, metrics: Sequence[str] | None) -> tuple[list[str], list[list[Any]]]:
        fastest = min(p.wall_time_s for p in self.points)
        headers = ["metric", "best", "setting", "time s", "x fastest", "dets/img"]
        rows = [
            [
                name,
                p.stats[name],
                p.describe(),
                f"{p.wall_time_s:.2f}",
                f"{p.wall_time_s / fastest:.2f}" if fastest > 0 else "-",
                f"{p.detections_per_image:.1f}",
            ]
            for name, p in self.best_per_metric(metrics).items()
        ]
        return headers, rows

    def _all_rows(self, metrics: Sequence[str]) -> tuple[list[str], list[list[Any]]]:
        keys = list(self.points[0].settings)
        headers = [*keys, *metrics, "time s", "dets/img", "cached"]
        rows = [
            [
                *(str(p.settings[k]) for k in keys),
                *(p.stats[m] for m in metrics),
                f"{p.wall_time_s:.2f}",
                f"{p.detections_per_image:.1f}",
                "yes" if p.cached else "no",
            ]
            for p in self.points
        ]
        return headers, rows

    def _headline_metrics(self) -> list[str]:
        m = self.primary_max_dets
        keys = [k for k in self.points[0].stats if k.endswith(f"@{m}") and k.startswith("AP")]
        return [*keys, f"AR@{m}"]

    def table(self, metrics: Sequence[str] | None = None) -> str:
        """Terminal report: best setting per metric, then every setting.

        Example:
            >>> p = SweepPoint({"slice_wh": 256}, {"AP@100": 0.5}, 1.0, 2, 3.0, "k")
            >>> print(SweepResult((p,)).table(["AP@100"]).splitlines()[2])
            AP@100  0.500  slice_wh=256    1.00       1.00       3.0
        """
        headline = list(metrics) if metrics is not None else self._headline_metrics()
        bh, br = self._best_rows(headline)
        ah, ar = self._all_rows(headline)
        return "\n".join(
            [
                text_table(bh, br),
                "",
                text_table(ah, ar, title=f"all settings ({self.computed} computed now)"),
            ]
        )

    def to_markdown(self, metrics: Sequence[str] | None = None) -> str:
        """Markdown report: best setting per metric, then every setting."""
        headline = list(metrics) if metrics is not None else self._headline_metrics()
        bh, br = self._best_rows(headline)
        ah, ar = self._all_rows(headline)
        return "\n".join(
            [
                "## Sweep: best setting per metric",
                "",
                markdown_table(bh, br),
                "",
                "### All settings",
                "",
                markdown_table(ah, ar),
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "primary_max_dets": self.primary_max_dets,
            "points": [
                {
                    "settings": dict(p.settings),
                    "stats": {k: None if math.isnan(v) else v for k, v in p.stats.items()},
                    "wall_time_s": p.wall_time_s,
                    "num_images": p.num_images,
                    "detections_per_image": p.detections_per_image,
                    "key": p.key,
                    "cached": p.cached,
                }
                for p in self.points
            ],
        }

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write ``to_dict()`` atomically."""
        return atomic_write_json(path, self.to_dict())

    def write_markdown(self, path: str | os.PathLike[str]) -> Path:
        """Write ``to_markdown()`` atomically."""
        return atomic_write_text(path, self.to_markdown() + "\n")


def _load_cached(path: Path, key: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") != key or data.get("version") != CACHE_VERSION:
            raise ValueError("key or version mismatch")
        float(data["wall_time_s"])
        dict(data["stats"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(
            TilewiseWarning(f"ignoring unreadable sweep cache file {path.name}: {exc}"),
            stacklevel=3,
        )
        return None
    return data


def sweep(
    dataset: EvalDataset,
    model: Callable[..., Any],
    grid: Mapping[str, Sequence[Any]],
    *,
    model_id: str,
    cache_dir: str | os.PathLike[str],
    base_settings: Mapping[str, Any] | None = None,
    class_to_category: Mapping[int, int] | None = None,
    slicer_factory: SlicerFactory | None = None,
    max_dets: str | int | Sequence[int] = DEFAULT_MAX_DETS,
    tiny: bool = True,
    area_ranges: Sequence[AreaRange | str] | None = None,
    progress: bool = True,
) -> SweepResult:
    """Evaluate every setting of ``grid`` (cached per setting) and return all results.

    Args:
        dataset: images and ground truth.
        model: the batch model for the slicer.
        grid: slicer keyword argument to the list of values to try, e.g.
            ``{"slice_wh": [256, 512], "overlap": [0.1, 0.25], "full_frame": [False, True]}``.
        model_id: identifies the model in the cache key (name, weights version, params).
        cache_dir: folder of the per-setting JSON results.
        base_settings: slicer keyword arguments shared by every setting (overridden by
            the grid).
        class_to_category: model class id to COCO category id.
        slicer_factory: ``factory(model, **settings)``; ``tilewise.Slicer`` by default.
        max_dets: detection caps (see ``evaluate``).
        tiny: add the tiny size buckets.
        area_ranges: size buckets (see ``evaluate``).
        progress: show a progress bar over settings.

    Returns:
        A ``SweepResult`` in grid order.

    Example:
        >>> import tempfile
        >>> from tilewise.evaluation import EvalDataset
        >>> from tilewise.evaluation.synthetic import SquareDetector, bright_squares
        >>> gt, images = bright_squares(num_images=1, image_size=(256, 192))
        >>> ds = EvalDataset.from_arrays(gt, images)
        >>> def tiles(model, slice_wh):  # a stand-in slicer: model on the top-left crop
        ...     return lambda image: model([image[:slice_wh, :slice_wh]])[0]
        >>> cache = tempfile.mkdtemp()
        >>> kw = dict(model_id="squares", cache_dir=cache, slicer_factory=tiles,
        ...           class_to_category={0: 1, 1: 2}, progress=False)
        >>> res = sweep(ds, SquareDetector(), {"slice_wh": [128, 256]}, **kw)
        >>> again = sweep(ds, SquareDetector(), {"slice_wh": [128, 256]}, **kw)
        >>> res.computed, again.computed, res.best().settings
        (2, 0, {'slice_wh': 256})
    """
    if not isinstance(model_id, str) or not model_id:
        raise TilewiseError("model_id must be a non-empty string identifying the model")
    caps = parse_max_dets(max_dets)
    settings_list = [{**(base_settings or {}), **s} for s in expand_grid(grid)]
    eval_params = {
        "iou_type": "bbox",
        "max_dets": list(caps),
        "tiny": bool(tiny),
        "area_ranges": None
        if area_ranges is None
        else [
            r if isinstance(r, str) else f"{r.name}:{r.min_side}:{r.max_side}" for r in area_ranges
        ],
        "class_to_category": None
        if class_to_category is None
        else sorted((int(k), int(v)) for k, v in class_to_category.items()),
    }
    factory = slicer_factory or default_slicer_factory
    root = Path(cache_dir)
    points: list[SweepPoint] = []
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(settings_list), desc="sweep", unit="setting")
    try:
        for settings in settings_list:
            key = setting_key(dataset.identity, model_id, settings, eval_params)
            path = root / f"{key}.json"
            data = _load_cached(path, key)
            cached = data is not None
            if bar is not None:
                bar.set_postfix_str(
                    ("cached " if cached else "")
                    + ", ".join(f"{k}={v}" for k, v in settings.items())
                )
            if data is None:
                predictor = factory(model, **settings)
                dets, seconds = predict_dataset(dataset, predictor)
                result = evaluate(
                    dataset.ground_truth,
                    dets,
                    max_dets=caps,
                    area_ranges=area_ranges,
                    tiny=tiny,
                    class_to_category=class_to_category,
                )
                data = {
                    "version": CACHE_VERSION,
                    "key": key,
                    "dataset": dataset.identity,
                    "model": model_id,
                    "settings": settings,
                    "evaluation": eval_params,
                    "stats": {k: None if math.isnan(v) else v for k, v in result.stats.items()},
                    "wall_time_s": seconds,
                    "num_images": len(dets),
                    "detections_per_image": sum(len(d) for d in dets.values()) / max(len(dets), 1),
                }
                atomic_write_json(path, data)
            points.append(
                SweepPoint(
                    settings=settings,
                    stats={
                        k: math.nan if v is None else float(v) for k, v in data["stats"].items()
                    },
                    wall_time_s=float(data["wall_time_s"]),
                    num_images=int(data["num_images"]),
                    detections_per_image=float(data["detections_per_image"]),
                    key=key,
                    cached=cached,
                )
            )
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return SweepResult(points=tuple(points), primary_max_dets=caps[0])
