"""Find the best slicer settings under a time budget: a multi-objective search with optuna.

Every trial is one setting evaluated through ``sweep`` (so it is cached on the sweep cache:
a rerun, or a later sweep, recomputes nothing it has). The objectives are a metric
(``AP_small`` by default, maximised) and seconds per image (minimised); the Pareto front of
all trials is reported, and the setting with the best metric whose time is within
``budget_x`` times the default setting's is chosen (the fastest setting when none is).
Only the dataset given is evaluated: split off held-out images first
(``split_dataset``) and score the chosen setting on them afterwards.

Determinism: the sampler (NSGA-II) is seeded; its first generation (``population``
trials, all trials by default up to 50) does not depend on the measured values, so the
same seed proposes the same settings. With ``cost="seconds"`` later generations and the
budget choice read measured seconds, which vary from run to run (and with the load of a
shared machine). With ``cost="model_pixels"`` each setting's time is *estimated*: the
pixels the model is given per image (``model_pixels``, computed from the slice grids, not
measured) times the default setting's measured seconds per model pixel. The search and
the choice then depend only on the seed and the data: the same seed gives the same
setting, whatever the machine's load; measured seconds are still reported. Pixels
undercount large and resized model images, though (``tune_cost``). With
``cost="calibrated"`` each kind of model image (slice size and zoom, the full frame) the
search space can give is timed once on the first search image, through the model, and a
setting's time is the sum over its model images (``tune_cost.calibrate``); the figures are
written to the cache folder and read back on a rerun (and recorded in the config), so the
same seed and cache give the same setting.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tilewise.errors import TilewiseError
from tilewise.evaluation.compare import SlicerFactory
from tilewise.evaluation.dataset import EvalDataset
from tilewise.evaluation.sweep import SweepPoint, sweep
from tilewise.evaluation.tables import text_table
from tilewise.evaluation.tune_cost import (
    CostCalibration,
    calibration_for_space,
    fill_input_zoom,
    model_pixels,
)
from tilewise.slicing import Slicer, SlicerConfig
from tilewise.slicing.config import model_signature
from tilewise.slicing.zoom import zooms_input

__all__ = [
    "COSTS",
    "SKIP_PROPOSALS_X",
    "SearchSpace",
    "SkippedTrial",
    "TuneResult",
    "TuneTrial",
    "default_space",
    "model_pixels",
    "split_dataset",
    "tune",
]

Objective = Literal["AP", "AP_small", "AP50", "AR"]
Cost = Literal["seconds", "model_pixels", "calibrated"]
SKIP_PROPOSALS_X = 50
"""With ``skip_over_budget``: at most this many proposals per trial evaluated."""
COSTS: tuple[str, ...] = ("seconds", "model_pixels", "calibrated")
"""How a setting's time is taken: measured, estimated from the pixels the model sees, or
estimated from each kind of model image's time, measured once (``tune_cost``)."""
ESTIMATED: tuple[str, ...] = ("model_pixels", "calibrated")
"""The costs known before a setting runs."""
_BY = {"model_pixels": "model pixels", "calibrated": "calibrated time"}


@dataclass(frozen=True)
class SearchSpace:
    """The choices of each setting (categorical, so that evaluations hit the cache).

    ``scales`` holds multi-scale options: each a list of scales as in ``Slicer(scales=)``,
    or None for a single grid (then ``slice_wh`` and ``zoom`` apply).
    """

    slice_wh: Sequence[int]
    overlap: Sequence[float] = (0.1, 0.2, 0.3)
    zoom: Sequence[float] = (1.0,)
    scales: Sequence[Any] = (None,)
    merge: Sequence[str] = ("nms", "nmm", "greedy_nmm")
    metric: Sequence[str] = ("iou", "ios")
    threshold: Sequence[float] = (0.3, 0.5, 0.7)
    edge_margin: Sequence[float | None] = (None, 2.0)
    full_frame: Sequence[bool] = (False, True)

    def choices(self) -> dict[str, list[Any]]:
        """Every setting's choices (non-empty lists)."""
        out = {k: list(getattr(self, k)) for k in self.__dataclass_fields__}
        for k, v in out.items():
            if not v:
                raise TilewiseError(f"search space {k!r} has no choices")
        return out


def default_space(model: Any, default_slice: int) -> SearchSpace:
    """A search space around a model's own slice size.

    Slices from half to 1.25x the model's; with a model that resizes its input to a fixed
    size itself (``imgsz``, like ``OnnxDetector``) the slice size alone sets the scale its
    network sees, so zoom is not searched; otherwise zoom 1 to 2 (for a model that zooms
    its own input, ``zooms_input``, also 1.25, 1.4 and 1.75: every zoom costs its square
    in model pixels, so the ones within a 2x budget are spelt out; each is raised to the
    zoom that fills the input it pays for, ``fill_input_zoom``: 1.75 of a 320 px input
    is padded to 576 px, so 1.8). Multi-scale: the
    model's slice for objects >= 24 px with half slices (2x) for those under, with and
    without filters.

    Example:
        >>> default_space(lambda ims: [], 320).slice_wh
        (160, 224, 256, 288, 320, 400)
    """
    s = int(default_slice)
    sizes = tuple(
        sorted(
            {max(16, round(s * f / 16) * 16) for f in (0.5, 0.7, 0.8, 0.9, 1.0)} | {round(s * 1.25)}
        )
    )
    zooms: tuple[float, ...] = (1.0, 1.5, 2.0)
    if zooms_input(model):
        zooms = tuple(sorted({fill_input_zoom(model, z) for z in (1.0, 1.25, 1.4, 1.5, 1.75, 2.0)}))
    elif getattr(model, "imgsz", None) is not None:
        zooms = (1.0,)
    half = max(16, s // 2)
    scales = (None, [[s, 1.0, 24.0, None], [half, 1.0, None, 24.0]], [[s, 1.0], [half, 1.0]])
    if zooms != (1.0,):
        scales = (None, [[s, 1.0, 24.0, None], [s, 2.0, None, 24.0]], [[s, 1.0], [s, 2.0]])
    return SearchSpace(slice_wh=sizes, zoom=zooms, scales=scales)


def split_dataset(
    ground_truth: Mapping[str, Any],
    image_dir: str | os.PathLike[str],
    holdout: float,
    seed: int = 0,
) -> tuple[EvalDataset, EvalDataset]:
    """Split a COCO dataset by image into (search, held-out), reproducibly by ``seed``.

    Raises:
        TilewiseError: ``holdout`` outside (0, 1), or fewer than 2 images.
    """
    import numpy as np

    if not 0.0 < float(holdout) < 1.0:
        raise TilewiseError(f"holdout must be a fraction in (0, 1), got {holdout}")
    images = sorted(ground_truth.get("images", []), key=lambda im: im["id"])
    if len(images) < 2:
        raise TilewiseError(f"need at least 2 images to hold some out, got {len(images)}")
    order = np.random.default_rng(seed).permutation(len(images))
    n_out = min(len(images) - 1, max(1, round(len(images) * float(holdout))))
    held = {images[i]["id"] for i in order[:n_out].tolist()}

    def subset(keep: Callable[[int], bool], name: str) -> EvalDataset:
        gt = dict(ground_truth)
        gt["images"] = [im for im in images if keep(im["id"])]
        gt["annotations"] = [a for a in ground_truth.get("annotations", []) if keep(a["image_id"])]
        return EvalDataset.from_coco(gt, image_dir, name=name)

    return subset(lambda i: i not in held, "search"), subset(lambda i: i in held, "held-out")


@dataclass(frozen=True)
class TuneTrial:
    """One evaluated setting: its settings, metric, seconds per image and sweep point.

    ``seconds_per_image`` is the time the tuner used: measured (``cost="seconds"``) or
    estimated from ``model_pixels`` (mean per image); ``measured_seconds_per_image`` is
    always the measured one.
    """

    number: int
    settings: Mapping[str, Any]
    value: float
    seconds_per_image: float
    point: SweepPoint
    model_pixels: float = math.nan

    @property
    def measured_seconds_per_image(self) -> float:
        """Wall time of the sweep evaluation per image."""
        return self.point.wall_time_s / max(self.point.num_images, 1)

    def describe(self) -> str:
        """``key=value`` text of the settings."""
        return ", ".join(f"{k}={v}" for k, v in self.settings.items() if k != "batch_size")


@dataclass(frozen=True)
class SkippedTrial:
    """A trial not evaluated: its estimated time was over the budget (``skip_over_budget``).

    Attributes:
        number: the trial's number.
        settings: the setting proposed.
        seconds_per_image: its estimated time.
        model_pixels: the pixels it gives the model per image (mean).
    """

    number: int
    settings: Mapping[str, Any]
    seconds_per_image: float
    model_pixels: float


@dataclass
class TuneResult:
    """The trials, the default, the Pareto front and the chosen setting.

    Attributes:
        objective: the metric maximised.
        default: the default setting's evaluation (trial -1).
        trials: every trial, in order.
        budget_x: time budget as a multiple of the default's seconds per image.
        chosen: the best setting within the budget (or the fastest: ``budget_met``).
        budget_met: whether some setting met the budget.
        skipped: trials not evaluated because their estimated time was over the budget
            (``skip_over_budget``), in order.
        calibration: with ``cost="calibrated"``, the seconds per model image of each kind.
    """

    objective: str
    default: TuneTrial
    trials: list[TuneTrial]
    budget_x: float
    chosen: TuneTrial
    budget_met: bool
    model_signature: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    cost: str = "seconds"
    skipped: list[SkippedTrial] = field(default_factory=list)
    calibration: CostCalibration | None = None

    @property
    def time_label(self) -> str:
        """What the time axis holds."""
        if self.cost in ESTIMATED:
            return "est. s/img"
        return "s/img"

    @property
    def pareto(self) -> list[TuneTrial]:
        """Non-dominated trials (higher metric, lower time), fastest first."""
        pool = [self.default, *self.trials]
        pool = [t for t in pool if not math.isnan(t.value)]
        front = [
            t
            for t in pool
            if not any(
                o.value >= t.value
                and o.seconds_per_image <= t.seconds_per_image
                and (o.value > t.value or o.seconds_per_image < t.seconds_per_image)
                for o in pool
            )
        ]
        unique: dict[str, TuneTrial] = {}
        for t in sorted(front, key=lambda t: (t.seconds_per_image, t.number)):
            unique.setdefault(t.point.key, t)
        return list(unique.values())

    def table(self) -> str:
        """The Pareto front as a text table, the default and the choice marked."""
        d = self.default
        rows = []
        for t in self.pareto:
            mark = "default" if t.point.key == d.point.key else ""
            if t.point.key == self.chosen.point.key:
                mark = (mark + " chosen").strip()
            rows.append(
                [
                    t.number,
                    f"{t.value:.4f}",
                    f"{t.value / d.value:.2f}" if d.value else "-",
                    f"{t.seconds_per_image:.3f}",
                    f"{t.seconds_per_image / d.seconds_per_image:.2f}",
                    mark,
                    t.describe(),
                ]
            )
        headers = [
            "trial",
            self.objective,
            "x default",
            self.time_label,
            "x time",
            "",
            "settings",
        ]
        title = f"Pareto front ({len(self.trials)} trials; budget {self.budget_x:g}x default time)"
        if self.skipped:
            title = (
                f"Pareto front ({len(self.trials)} trials evaluated; {len(self.skipped)} "
                f"settings proposed over the budget by their {_BY[self.cost]}, not evaluated; "
                f"budget {self.budget_x:g}x default time)"
            )
        if self.cost == "model_pixels":
            title += (
                "; time estimated from the pixels each setting gives the model, at the "
                "default's measured seconds per pixel"
            )
        if self.cost == "calibrated":
            title += (
                "; time estimated from each kind of model image's CPU time, measured once "
                "(calibration)"
            )
        if not self.budget_met:
            title += ": NO setting meets the budget; the fastest is chosen"
        return text_table(headers, rows, title=title)

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Scatter of every trial (metric vs seconds per image), the front and the budget."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
        xs = [t.seconds_per_image for t in self.trials]
        ys = [t.value for t in self.trials]
        ax.scatter(xs, ys, s=14, c="#9aa5b1", label="trials")
        front = self.pareto
        ax.plot(
            [t.seconds_per_image for t in front],
            [t.value for t in front],
            "-o",
            c="#1f6feb",
            ms=4,
            label="Pareto front",
        )
        d = self.default
        ax.scatter([d.seconds_per_image], [d.value], marker="s", s=50, c="black", label="default")
        c = self.chosen
        ax.scatter([c.seconds_per_image], [c.value], marker="*", s=140, c="#d1242f", label="chosen")
        ax.axvline(d.seconds_per_image * self.budget_x, ls="--", c="#d1242f", lw=1)
        ax.text(
            d.seconds_per_image * self.budget_x,
            ax.get_ylim()[0],
            f" {self.budget_x:g}x default time",
            color="#d1242f",
            va="bottom",
            fontsize=8,
        )
        ax.set_xlabel(
            f"seconds per image (estimated from {_BY.get(self.cost, 'model pixels')})"
            if self.cost in ESTIMATED
            else "seconds per image"
        )
        ax.set_ylabel(self.objective)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
        plt.close(fig)
        return out

    def config(self) -> SlicerConfig:
        """The chosen setting as a config for ``Slicer.from_config`` / ``predict --config``."""
        c, d = self.chosen, self.default
        settings = {k: v for k, v in c.settings.items() if k != "batch_size"}
        return SlicerConfig(
            settings,
            dict(self.model_signature),
            {
                "objective": self.objective,
                "budget_x": self.budget_x,
                "budget_met": self.budget_met,
                "value": c.value,
                "default_value": d.value,
                "seconds_per_image": c.seconds_per_image,
                "default_seconds_per_image": d.seconds_per_image,
                "trials": len(self.trials),
                "seed": self.seed,
                "cost": self.cost,
                "skipped_over_budget": len(self.skipped),
                **({"calibration": self.calibration.to_json()} if self.calibration else {}),
            },
        )


def _metric_key(objective: str, stats: Mapping[str, float]) -> str:
    for key in (objective, f"{objective}@100"):
        if key in stats:
            return key
    raise TilewiseError(f"no metric {objective!r}; available: {', '.join(stats)}")


def tune(
    dataset: EvalDataset,
    model: Callable[..., Any],
    *,
    model_id: str,
    cache_dir: str | os.PathLike[str],
    trials: int = 30,
    budget_x: float = 2.0,
    objective: str = "AP_small",
    seed: int = 0,
    space: SearchSpace | None = None,
    default_settings: Mapping[str, Any] | None = None,
    base_settings: Mapping[str, Any] | None = None,
    class_to_category: Mapping[int, int] | None = None,
    slicer_factory: SlicerFactory | None = None,
    population: int | None = None,
    cost: Cost = "seconds",
    budget_constraint: bool = False,
    skip_over_budget: bool = False,
) -> TuneResult:
    """Search slicer settings on ``dataset`` for ``objective`` vs seconds per image.

    Args:
        dataset: the search images (never the held-out ones: see ``split_dataset``).
        model: the batch model.
        model_id: identifies the model in the sweep cache.
        cache_dir: the sweep cache folder (shared with ``sweep``).
        trials: settings to evaluate besides the default.
        budget_x: time budget, a multiple of the default setting's seconds per image.
        objective: ``AP``, ``AP_small``, ``AP50``, ``AR`` or any ``EvaluationResult.stats``
            key.
        seed: seeds the sampler.
        space: the choices (default: ``default_space``).
        default_settings: the baseline (default: the model's slice size, overlap 0.2).
        base_settings: settings shared by every trial (e.g. ``batch_size``).
        class_to_category: model class id to COCO category id.
        slicer_factory: ``factory(model, **settings)`` (default ``Slicer``).
        population: NSGA-II population (default ``min(trials, 50)``).
        cost: ``"seconds"`` (measured), ``"model_pixels"`` (estimated from the pixels
            the model is given, at the default's measured seconds per pixel: the search
            and the choice do not depend on the machine's load; needs the images' width
            and height in the ground truth) or ``"calibrated"`` (estimated from each kind
            of model image's time, measured once on the first image and cached in
            ``cache_dir``: see ``tune_cost``; needs the width and height too).
        budget_constraint: tell the sampler the budget (NSGA-II's constrained
            domination): settings over ``budget_x`` rank below every setting within it,
            so later generations breed from the settings that can be chosen. Off, the
            two objectives alone rank them, and the fast settings of the Pareto front
            take places in every generation.
        skip_over_budget: with an estimated cost a setting's time is known before
            it runs: one over the budget is not evaluated (listed in
            ``TuneResult.skipped``, scored 0 for the sampler, and over the budget for
            ``budget_constraint``), and does not count in ``trials``: the search goes on
            until ``trials`` settings are evaluated, or ``SKIP_PROPOSALS_X * trials``
            settings were proposed.

    Raises:
        TilewiseError: optuna missing (the ``tune`` extra), bad arguments.
    """
    try:
        import optuna
    except ImportError:
        raise TilewiseError("tilewise tune needs optuna: pip install 'tilewise[tune]'") from None
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise TilewiseError(f"trials must be an int >= 1, got {trials!r}")
    if not math.isfinite(float(budget_x)) or float(budget_x) <= 0:
        raise TilewiseError(f"budget_x must be a number > 0, got {budget_x!r}")
    if cost not in COSTS:
        raise TilewiseError(f"cost must be one of {', '.join(COSTS)}, got {cost!r}")
    if skip_over_budget and cost not in ESTIMATED:
        raise TilewiseError(
            "skip_over_budget needs cost='model_pixels' or 'calibrated' (a measured time is "
            "only known after the evaluation)"
        )
    sizes: list[tuple[int, int]] = []
    if cost in ESTIMATED:
        for im in dataset.ground_truth.dataset.get("images", []):
            if not isinstance(im.get("width"), int) or not isinstance(im.get("height"), int):
                raise TilewiseError(
                    f"cost={cost!r} needs every image's width and height in the ground "
                    f"truth; image {im.get('id')!r} has none"
                )
            sizes.append((im["width"], im["height"]))
    slice_default = getattr(model, "slice_wh", (640, 640))[0]
    defaults = dict(default_settings or {"slice_wh": int(slice_default), "overlap": 0.2})
    space = space or default_space(model, int(slice_default))
    choices = space.choices()
    base = dict(base_settings or {})
    common = dict(
        model_id=model_id,
        cache_dir=cache_dir,
        base_settings=base,
        class_to_category=class_to_category,
        slicer_factory=slicer_factory,
        progress=False,
    )

    reference: list[TuneTrial] = []  # the default, once evaluated
    calibration = None
    if cost == "calibrated":
        calibration = calibration_for_space(
            dataset, model, model_id, cache_dir, choices, defaults, base
        )

    def mean_pixels(settings: Mapping[str, Any]) -> float:
        merged = {**base, **settings}
        return sum(model_pixels(model, merged, wh) for wh in sizes) / max(len(sizes), 1)

    def estimate(settings: Mapping[str, Any], pixels: float) -> float:
        if calibration is not None:
            merged = {**base, **settings}
            total = sum(calibration.estimate(model, merged, wh) for wh in sizes)
            return total / max(len(sizes), 1)
        ref = reference[0]
        return ref.seconds_per_image * pixels / max(ref.model_pixels, 1.0)

    def evaluate(number: int, settings: dict[str, Any]) -> TuneTrial:
        point = sweep(dataset, model, {k: [v] for k, v in settings.items()}, **common).points[0]
        key = _metric_key(objective, point.stats)
        measured = point.wall_time_s / max(point.num_images, 1)
        pixels = math.nan
        seconds = measured
        if cost in ESTIMATED:
            pixels = mean_pixels(settings)
            if reference or calibration is not None:
                seconds = estimate(settings, pixels)
        return TuneTrial(number, point.settings, float(point.stats[key]), seconds, point, pixels)

    default = evaluate(-1, defaults)
    reference.append(default)
    done: list[TuneTrial] = []
    skipped: list[SkippedTrial] = []

    def settings_of(trial: Any) -> dict[str, Any]:
        picked = {k: trial.suggest_categorical(k, _keys(v)) for k, v in choices.items()}
        settings = {k: _values(choices[k])[_keys(choices[k]).index(v)] for k, v in picked.items()}
        if settings["scales"] is None:
            settings.pop("scales")
        else:
            settings.pop("slice_wh")
            settings.pop("zoom")
        if settings.get("zoom") == 1.0:
            settings.pop("zoom")
        if settings["edge_margin"] is None:
            settings.pop("edge_margin")
        return settings

    limit = default.seconds_per_image * float(budget_x)

    def objective_fn(trial: Any) -> tuple[float, float]:
        settings = settings_of(trial)
        if skip_over_budget:
            pixels = mean_pixels(settings)
            seconds = estimate(settings, pixels)
            if seconds > limit:
                skipped.append(SkippedTrial(trial.number, settings, seconds, pixels))
                if budget_constraint:
                    trial.set_constraint("over_budget", seconds / limit - 1.0)
                return 0.0, seconds
        result = evaluate(trial.number, settings)
        done.append(result)
        value = 0.0 if math.isnan(result.value) else result.value
        if budget_constraint:  # feasible when <= 0
            trial.set_constraint("over_budget", result.seconds_per_image / limit - 1.0)
        return value, result.seconds_per_image

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.NSGAIISampler(
        seed=seed, population_size=max(2, population or min(trials, 50))
    )
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    if not skip_over_budget:
        study.optimize(objective_fn, n_trials=trials)
    else:  # proposals over the budget are told back at once; only evaluations count
        for _ in range(SKIP_PROPOSALS_X * trials):
            if len(done) >= trials:
                break
            trial = study.ask()
            study.tell(trial, objective_fn(trial))
    pool = [default, *done]
    within = [t for t in pool if t.seconds_per_image <= limit and not math.isnan(t.value)]
    if within:
        chosen = max(within, key=lambda t: (t.value, -t.number))
    else:
        chosen = min(pool, key=lambda t: (t.seconds_per_image, t.number))
    return TuneResult(
        objective,
        default,
        done,
        float(budget_x),
        chosen,
        bool(within),
        model_signature(model),
        seed,
        cost,
        skipped,
        calibration,
    )


def _keys(values: Sequence[Any]) -> list[Any]:
    """Optuna categorical choices must be plain scalars: lists become their JSON text."""
    import json

    return [
        v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v) for v in values
    ]


def _values(values: Sequence[Any]) -> list[Any]:
    return list(values)


def slicer_for(model: Callable[..., Any], **settings: Any) -> Slicer:
    """The default slicer factory of the tuner (``Slicer(model, **settings)``)."""
    return Slicer(model, **settings)
