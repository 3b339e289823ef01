"""``tilewise tune``: find the best slicer settings under a time budget (a thin command).

The library does the work (``tilewise.evaluation.tune``): this command checks the
arguments, loads the model with the one ``--model`` loader, holds images out of the search
(``--holdout``), runs the seeded search and writes into ``--out``:

* ``config.json``: the best setting within the budget (or, flagged, the fastest setting
  when none meets it), read by ``tilewise predict --config`` and ``Slicer.from_config``;
  it holds no timings, so the same seed on the same data gives the same file (with
  ``--cost seconds``, as long as timing noise moves no setting across the budget; with
  ``--cost model_pixels`` always; with ``--cost calibrated`` on the same ``--cache``,
  which holds the calibration);
* ``pareto.png``: every trial's metric against seconds per image, with the Pareto front;
* ``tune.json``: the Pareto front, every trial and the measured times;
* ``heldout.json``: the COCO ground truth of the held-out images, never evaluated here,
  to score the chosen setting on afterwards (``predict --config`` then ``eval``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from tilewise.cli.console import echo
from tilewise.cli.eval_cmd import _parse_class_map
from tilewise.cli.image_options import (
    AllowTruncatedOption,
    BackgroundOption,
    ExifOption,
    MaxPixelsOption,
    RangeOption,
    ScaleOption,
    read_options,
)
from tilewise.cli.model_option import MODEL_HELP, cache_model_id, load_model
from tilewise.cli.slice_option import parse_slice
from tilewise.errors import TilewiseError
from tilewise.evaluation.tune import COSTS

__all__ = ["OBJECTIVES", "TIMING_KEYS", "tune_command"]

OBJECTIVES = ("AP_small", "AP", "AP50", "AR")
"""Metrics ``--objective`` may maximise."""

TIMING_KEYS = frozenset({"seconds_per_image", "default_seconds_per_image", "calibration"})
"""Measured times (and ``--cost calibrated``'s figures, which are in the cache): reported in
``tune.json``, kept out of ``config.json``."""


def _check_arguments(
    ground_truth: Path,
    images: Path,
    budget_x: float,
    trials: int,
    holdout: float,
    objective: str,
    cost: str,
) -> None:
    """Refuse bad input before anything is loaded, saying what was expected."""
    if not ground_truth.is_file():
        raise TilewiseError(f"ground truth file not found: {ground_truth} (expected COCO JSON)")
    if not images.is_dir():
        raise TilewiseError(f"images folder not found: {images}")
    if not math.isfinite(budget_x) or budget_x <= 0:
        raise TilewiseError(
            f"--budget-x must be a number > 0 (a multiple of the default setting's time), "
            f"got {budget_x}"
        )
    if trials < 1:
        raise TilewiseError(f"--trials must be at least 1, got {trials}")
    if not (math.isfinite(holdout) and 0.0 <= holdout < 1.0):
        raise TilewiseError(
            f"--holdout must be a fraction in [0, 1) of the images kept out of the search, "
            f"got {holdout}"
        )
    if cost not in COSTS:
        raise TilewiseError(f"--cost must be one of {', '.join(COSTS)}, got {cost!r}")
    if objective not in OBJECTIVES:
        raise TilewiseError(
            f"--objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}"
        )


def _category_map(model: Any, gt: dict[str, Any], text: str | None) -> dict[int, int] | None:
    """``--class-map``, else by the model's class names, else identity (``sweep``'s)."""
    explicit = _parse_class_map(text)
    if explicit is not None:
        return explicit
    names = getattr(model, "names", None)
    if not names:
        return None
    from tilewise.models.sliced_eval import category_mapping

    cats = {int(c["id"]): str(c.get("name", c["id"])) for c in gt.get("categories", [])}
    return category_mapping([str(n) for n in names], cats)


def _trial_json(trial: Any) -> dict[str, Any]:
    return {
        "trial": trial.number,
        "settings": {k: v for k, v in trial.settings.items() if k != "batch_size"},
        "value": None if math.isnan(trial.value) else trial.value,
        "seconds_per_image": trial.seconds_per_image,
        "measured_seconds_per_image": trial.measured_seconds_per_image,
        "model_pixels": None if math.isnan(trial.model_pixels) else trial.model_pixels,
    }


def tune_command(
    ground_truth: Annotated[Path, typer.Argument(help="COCO ground-truth JSON.")],
    images: Annotated[Path, typer.Argument(help="Folder of the images named in the GT.")],
    model: Annotated[str, typer.Option("--model", help=MODEL_HELP)],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Write config.json, pareto.png, tune.json and heldout.json here."
        ),
    ],
    budget_x: Annotated[
        float,
        typer.Option(
            "--budget-x", help="Time budget: a multiple of the default setting's seconds/image."
        ),
    ] = 2.0,
    trials: Annotated[int, typer.Option("--trials", help="Settings to evaluate.")] = 30,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the search and the split.")] = 0,
    holdout: Annotated[
        float,
        typer.Option(
            "--holdout",
            help="Fraction of the images kept out of the search (never evaluated; listed "
            "in heldout.json); 0 searches them all.",
        ),
    ] = 0.25,
    objective: Annotated[
        str, typer.Option("--objective", help="Metric to maximise: AP_small, AP, AP50 or AR.")
    ] = "AP_small",
    cost: Annotated[
        str,
        typer.Option(
            "--cost",
            help="Time of a setting: 'seconds' (measured), 'model_pixels' (estimated from "
            "the pixels it gives the model, at the default's measured seconds per pixel: "
            "the choice does not depend on the machine's load) or 'calibrated' (each kind "
            "of model image timed once on this machine and cached: counts what pixels miss, "
            "such as resizing zoomed slices and larger inputs).",
        ),
    ] = "seconds",
    skip_over_budget: Annotated[
        bool,
        typer.Option(
            "--skip-over-budget",
            help="With --cost model_pixels or calibrated: do not evaluate settings over the "
            "budget (their time is known before they run); they are counted, and --trials "
            "counts the settings evaluated.",
        ),
    ] = False,
    budget_constraint: Annotated[
        bool,
        typer.Option(
            "--budget-constraint",
            help="Tell the sampler the budget: later generations breed from settings within it.",
        ),
    ] = False,
    population: Annotated[
        int | None,
        typer.Option(
            "--population", help="NSGA-II population (default: --trials up to 50: random)."
        ),
    ] = None,
    slice_size: Annotated[
        str,
        typer.Option(
            "--slice",
            help="Default slice size, the centre of the search (px, or 'auto': the model's).",
        ),
    ] = "auto",
    batch: Annotated[int, typer.Option("--batch", help="Slices per model call.")] = 8,
    conf: Annotated[
        float,
        typer.Option("--conf", help="Confidence threshold of the model (recorded in config.json)."),
    ] = 0.25,
    class_map: Annotated[
        str | None,
        typer.Option(
            "--class-map",
            help="Model class id to category id, e.g. '0:1,1:2' (default: by class names).",
        ),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Sweep cache folder (default: OUT/cache)."),
    ] = None,
    model_id: Annotated[
        str | None,
        typer.Option(
            "--model-id",
            help="Identifies the model in the cache (default: the --model value, its file's "
            "SHA-256 and --conf).",
        ),
    ] = None,
    exif: ExifOption = "follow",
    allow_truncated: AllowTruncatedOption = False,
    scale: ScaleOption = "full",
    value_range: RangeOption = None,
    background: BackgroundOption = "0,0,0",
    max_pixels: MaxPixelsOption = None,
) -> None:
    """Search slicer settings for the best metric within a time budget; write the config.

    Prints the Pareto front (metric vs seconds per image) and writes the best setting
    within --budget-x times the default's time to OUT/config.json for
    `tilewise predict IMAGE --config OUT/config.json`. When no setting meets the budget the
    fastest is written instead, and the output says so.
    """
    from tilewise.evaluation.dataset import EvalDataset
    from tilewise.evaluation.tune import default_space, split_dataset, tune
    from tilewise.fileio import atomic_write_json
    from tilewise.slicing import SlicerConfig

    _check_arguments(ground_truth, images, budget_x, trials, holdout, objective, cost)
    try:
        gt = json.loads(ground_truth.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TilewiseError(f"cannot read ground truth {ground_truth}: {exc}") from None
    if not isinstance(gt, dict) or not isinstance(gt.get("images"), list):
        raise TilewiseError(f"{ground_truth} is not COCO ground truth (no 'images' list)")
    read = read_options(exif, allow_truncated, scale, value_range, background, max_pixels)
    size = parse_slice(slice_size)
    if batch < 1:
        raise TilewiseError(f"--batch must be at least 1, got {batch}")
    if skip_over_budget and cost not in ("model_pixels", "calibrated"):
        raise TilewiseError("--skip-over-budget needs --cost model_pixels or calibrated")
    if population is not None and population < 2:
        raise TilewiseError(f"--population must be at least 2, got {population}")
    batch_model = load_model(model, conf=conf)
    if holdout > 0:
        search, held = split_dataset(gt, images, holdout, seed=seed)
        search = EvalDataset.from_coco(
            search.ground_truth.dataset, images, name="search", read=read
        )
        held_ids = set(held.ground_truth.image_ids)
    else:
        search, held_ids = EvalDataset.from_coco(gt, images, name="search", read=read), set()
    default_slice = size or int(getattr(batch_model, "slice_wh", (640, 640))[0])
    result = tune(
        search,
        batch_model,
        model_id=model_id or cache_model_id(model, conf),
        cache_dir=cache if cache is not None else out / "cache",
        trials=trials,
        budget_x=budget_x,
        objective=objective,
        seed=seed,
        default_settings={"slice_wh": default_slice, "overlap": 0.2},
        space=default_space(batch_model, default_slice),
        base_settings={"batch_size": batch},
        class_to_category=_category_map(batch_model, gt, class_map),
        cost=cost,  # type: ignore[arg-type]
        population=population,
        budget_constraint=budget_constraint,
        skip_over_budget=skip_over_budget,
    )
    echo(result.table())
    full = result.config()
    config = SlicerConfig(
        full.settings,
        full.model,
        {**{k: v for k, v in full.tuning.items() if k not in TIMING_KEYS}, "conf": conf},
    )
    config_path = config.save(out / "config.json")
    plot_path = result.plot(out / "pareto.png")
    held_gt = dict(gt)
    held_gt["images"] = [im for im in gt["images"] if im.get("id") in held_ids]
    held_gt["annotations"] = [a for a in gt.get("annotations", []) if a.get("image_id") in held_ids]
    held_path = atomic_write_json(out / "heldout.json", held_gt)
    report = {
        **({"calibration": result.calibration.to_json()} if result.calibration else {}),
        "objective": objective,
        "budget_x": budget_x,
        "budget_met": result.budget_met,
        "seed": seed,
        "cost": cost,
        "searched_images": sorted(search.ground_truth.image_ids),
        "heldout_images": sorted(held_ids),
        "default": _trial_json(result.default),
        "chosen": _trial_json(result.chosen),
        "pareto": [_trial_json(t) for t in result.pareto],
        "trials": [_trial_json(t) for t in result.trials],
        "skipped_over_budget": [
            {
                "trial": t.number,
                "settings": dict(t.settings),
                "seconds_per_image": t.seconds_per_image,
                "model_pixels": t.model_pixels,
            }
            for t in result.skipped
        ],
    }
    report_path = atomic_write_json(out / "tune.json", report)
    c, d = result.chosen, result.default
    if result.budget_met:
        echo(
            f"best within {budget_x:g}x the default's time: {objective} {c.value:.4f} "
            f"(default {d.value:.4f}) at {c.seconds_per_image:.3f} {result.time_label} "
            f"({c.seconds_per_image / d.seconds_per_image:.2f}x): {c.describe()}"
        )
    else:
        echo(
            f"NO setting meets the budget of {budget_x:g}x the default's time "
            f"({budget_x * d.seconds_per_image:.3f} {result.time_label}); config.json holds "
            f"the FASTEST setting instead: {c.seconds_per_image:.3f} {result.time_label}, "
            f"{objective} {c.value:.4f}: "
            f"{c.describe()}"
        )
    echo(
        f"searched {len(search)} image(s); held out {len(held_ids)} (never evaluated here: "
        f"{held_path})"
    )
    echo(f"wrote {config_path}, {plot_path}, {report_path}")
    echo(f"use it: tilewise predict IMAGE --model {model} --config {config_path}")
