"""Issue 15's targets on the synthetic benchmark with the bundled model (standalone).

    python -m benchmarks.bench_tune [--work DIR] [--trials N] [--search-images K]
                                    [--seed S] [--budget-x X]
                                    [--cost model_pixels|calibrated|seconds]
                                    [--dynamic-input] [--population P] [--budget-constraint]
                                    [--skip-over-budget] [--tuner-only]
                                    [--repeats R] [--no-plain] [--json PATH] [--plot PNG]

About 20 minutes on 2 shared cores from nothing (2 to generate the benchmark, ~7 for 32
trials on 3 val scenes, the rest on the test split); a rerun reads the sweep cache and
only repeats the interleaved timing (~1-2 min).

1. Generates the project's synthetic benchmark as the bundled model's recipe does
   (``tilewise.training.recipe``: 40 scenes of 2048 x 2048, seed 0; reused when ``--work``
   already holds it) and loads the bundled ``OnnxDetector`` as the recipe evaluates it
   (``conf=0.01, max_det=300``).
2. **Tuner** (target a): ``tilewise.evaluation.tune`` searches the first ``K`` images of
   the *val* split for AP_small vs seconds per image, budget ``X`` times the default
   setting's time (default: slice 320 = the model's input size, overlap 0.2, NMS 0.5,
   batch 8). A setting's time is estimated from the pixels it gives the model
   (``--cost model_pixels``, the default here: on a shared machine measured seconds swing
   with the load of other jobs, which would decide the budget) at the default's measured
   seconds per pixel; ``--cost calibrated`` times each kind of model image the search
   space can give (slice size and zoom) once on the first val scene and sums them
   (``tilewise.evaluation.tune_cost``; cached under ``--work``): it counts what pixels miss,
   the resize of a zoomed slice and the dearer pixels of a larger input; ``--cost seconds``
   uses measured times. The bundled model
   letterboxes every slice into its fixed 320 x 320 graph, so ``zoom`` does nothing for
   it and the search space zooms through the slice size instead (a 224 slice is seen at
   320/224 = 1.43x). Only the default and the chosen setting are
   then scored on the *test* split, which the search never sees.
   ``--dynamic-input`` runs everything on a copy of the bundled graph whose input height
   and width are dynamic (``tilewise.models.with_dynamic_input``, written under
   ``--work``; same weights, bit-identical at 320): ``zoom`` then enlarges the network's
   input (a 320 slice at zoom 1.4 is letterboxed into 448 x 448), and the search space
   has zooms 1-2 (``default_space``). ``--budget-constraint`` tells the sampler the budget;
   ``--population`` sets NSGA-II's population (default: all trials up to 50, i.e. random);
   ``--skip-over-budget`` does not evaluate the settings whose model pixels are over the
   budget (they are counted, and scored 0 for the sampler); ``--tuner-only`` stops after
   the tuner's rows and the timing (no multi-scale section).
3. **Multi-scale** (target b), on the test split: 320 slices for objects >= 24 px with
   160 slices (2x) for the smaller ones, against each scale alone and the same two scales
   unfiltered.
4. **Measured time**: the default, the tuned and the multi-scale setting timed
   interleaved on one test scene, best of ``--repeats`` (the sweep's own times date from
   whenever each setting first ran, under whatever load the machine had then).
5. **zoom=1** (target c): ``Slicer(zoom=1.0)`` against a Slicer without the argument on a
   test scene; the detections must be equal.

Every evaluation goes through the sweep cache under ``--work``; a rerun recomputes nothing.
Timings come from one run on one machine; compare only the ratios of one run. On a busy
shared machine wall times swing with other jobs: the CPU time of the process is steadier.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

# The bundled model's benchmark (tilewise.training.recipe.RECIPE; not imported, as the
# training package needs torch).
SCENES, SEED, SCENE_SIZE = 40, 0, 2048
MODEL_ID = "bundled default_detector conf=0.01 max_det=300"
DEFAULT = {"slice_wh": 320, "overlap": 0.2}
BASE = {"batch_size": 8}
# Multi-scale with size filters (sqrt of box area, px): the model's 320 slices for the
# larger objects, smaller slices (= zoom for this fixed-input model) for the small ones.
# Chosen on the val images by AP, then reported on test.
_IOS = {"merge": "nms", "metric": "ios", "threshold": 0.3}
_TUNED_MERGE = {"merge": "nms", "metric": "iou", "threshold": 0.3}
MULTI_CANDIDATES = [
    {"overlap": 0.2, "scales": [[320, 1.0, 24.0, None], [160, 1.0, None, 24.0]]},
    {"overlap": 0.1, "scales": [[320, 1.0, 32.0, None], [224, 1.0, None, 32.0]]},
    {"overlap": 0.1, "scales": [[320, 1.0, 32.0, None], [224, 1.0, None, 32.0]], **_IOS},
    {"overlap": 0.1, "scales": [[320, 1.0, 32.0, None], [224, 1.0, None, 32.0]], **_TUNED_MERGE},
]
MULTI_PLAIN = {"overlap": 0.2, "scales": [[320, 1.0], [160, 1.0]]}
SMALL_SINGLE = {"slice_wh": 160, "overlap": 0.2}


def fine_space(model: Any) -> Any:
    """``default_space`` with a finer slice-size grid (the zoom of a fixed-input model)
    and overlap 0.05: more settings that zoom by 1.3-1.7x within a 2x budget."""
    from dataclasses import replace

    from tilewise.evaluation.tune import default_space

    base = default_space(model, DEFAULT["slice_wh"])
    sizes = tuple(sorted({*base.slice_wh, 192, 208, 240}))
    return replace(base, slice_wh=sizes, overlap=(0.05, *base.overlap))


def ensure_benchmark(work: Path) -> Path:
    """The benchmark under ``work/synth``: generated once, reused after."""
    from tilewise.synth import SynthConfig, generate_benchmark

    root = work / "synth"
    if (root / "annotations" / "instances_test.json").is_file():
        return root
    t0 = time.perf_counter()
    res = generate_benchmark(
        root, SCENES, SEED, SynthConfig(scene_size=SCENE_SIZE), progress=False, overwrite=True
    )
    print(
        f"benchmark: {res.images} scenes, {res.objects} objects, {time.perf_counter() - t0:.0f} s"
    )
    return root


def split(root: Path, name: str, limit: int | None = None) -> Any:
    """An ``EvalDataset`` of one split (its first ``limit`` images by id)."""
    from tilewise.evaluation import EvalDataset

    gt = json.loads((root / "annotations" / f"instances_{name}.json").read_text())
    if limit is not None:
        keep = {im["id"] for im in sorted(gt["images"], key=lambda im: im["id"])[:limit]}
        gt["images"] = [im for im in gt["images"] if im["id"] in keep]
        gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in keep]
    return EvalDataset.from_coco(gt, root / "images" / name, name=name), gt


def score(
    dataset: Any,
    model: Any,
    settings: dict[str, Any],
    cmap: dict[int, int],
    cache: Path,
    model_id: str = MODEL_ID,
):
    """One setting on a dataset through the sweep cache: (stats, seconds per image, pixels)."""
    from tilewise.evaluation.sweep import sweep
    from tilewise.evaluation.tune import model_pixels

    point = sweep(
        dataset,
        model,
        {k: [v] for k, v in settings.items()},
        model_id=model_id,
        cache_dir=cache,
        base_settings=BASE,
        class_to_category=cmap,
        progress=False,
    ).points[0]
    sizes = [(im["width"], im["height"]) for im in dataset.ground_truth.dataset["images"]]
    pixels = sum(model_pixels(model, {**BASE, **settings}, wh) for wh in sizes) / len(sizes)
    return point.stats, point.wall_time_s / max(point.num_images, 1), pixels


def row(name: str, scored: tuple[Any, float, float], ref: tuple[Any, float, float]) -> dict:
    stats, spi, pixels = scored
    return {
        "name": name,
        "AP": round(stats["AP@100"], 4),
        "AP_small": round(stats["AP_small@100"], 4),
        "AP50": round(stats["AP50@100"], 4),
        "AP_2-8px": round(stats["AP_2-8px@100"], 4),
        "s_per_image": round(spi, 3),
        "x_time": round(spi / ref[1], 2),
        "model_mpx_per_image": round(pixels / 1e6, 2),
        "x_pixels": round(pixels / ref[2], 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tilewise import Slicer
    from tilewise.evaluation.tune import tune
    from tilewise.models import default_detector

    work = Path(args.work)
    cache = work / "cache"
    root = ensure_benchmark(work)
    model = default_detector(conf=0.01, max_det=300)
    model_id = MODEL_ID
    if args.dynamic_input:
        from tilewise.models import OnnxDetector, with_dynamic_input

        copy = with_dynamic_input(model.path, work / "default_detector_dynamic.onnx")
        model = OnnxDetector(copy, conf=0.01, max_det=300, imgsz=model.imgsz)
        model_id = f"{MODEL_ID} dynamic-input"
    search, search_gt = split(root, "val", args.search_images)
    test, test_gt = split(root, "test")
    cats = {c["name"]: c["id"] for c in test_gt["categories"]}
    cmap = {i: cats[n] for i, n in enumerate(model.names)}
    out: dict[str, Any] = {
        "search": {"split": "val", "images": len(search_gt["images"])},
        "test": {"split": "test", "images": len(test_gt["images"])},
        "trials": args.trials,
        "seed": args.seed,
        "budget_x": args.budget_x,
        "repeats": args.repeats,
        "model": model_id,
        "population": args.population,
        "budget_constraint": args.budget_constraint,
        "skip_over_budget": args.skip_over_budget,
    }

    # (a) tune on val, report on test
    t0 = time.perf_counter()
    result = tune(
        search,
        model,
        model_id=model_id,
        cache_dir=cache,
        trials=args.trials,
        budget_x=args.budget_x,
        objective="AP_small",
        seed=args.seed,
        cost=args.cost,
        default_settings=DEFAULT,
        base_settings=BASE,
        class_to_category=cmap,
        space=fine_space(model) if args.fine else None,
        population=args.population,
        budget_constraint=args.budget_constraint,
        skip_over_budget=args.skip_over_budget,
    )
    out["space"] = "fine" if args.fine else "default"
    out["tune_seconds"] = round(time.perf_counter() - t0, 1)
    out["skipped_over_budget"] = len(result.skipped)
    if result.calibration is not None:
        out["calibration"] = result.calibration.to_json()
    print(result.table())
    if args.plot:
        print(f"plot: {result.plot(args.plot)}")
    chosen = {k: v for k, v in result.chosen.settings.items() if k != "batch_size"}
    d = score(test, model, dict(DEFAULT), cmap, cache, model_id)
    c = score(test, model, chosen, cmap, cache, model_id)
    out["tuner"] = {
        "chosen": chosen,
        "budget_met": result.budget_met,
        "search_value": round(result.chosen.value, 4),
        "search_default_value": round(result.default.value, 4),
        "search_x_time": round(
            result.chosen.seconds_per_image / result.default.seconds_per_image, 2
        ),
        "cost": args.cost,
        "pareto": result.table(),
        "test_default": row("default", d, d),
        "test_chosen": row("tuned", c, d),
    }
    ratio = c[0]["AP_small@100"] / d[0]["AP_small@100"]
    out["tuner"]["AP_small_ratio"] = round(ratio, 3)

    if args.tuner_only:
        return finish_tuner_only(out, args, test, model, chosen)

    # (b) multi-scale with size filters, chosen on val by AP, vs the single scales on test
    on_val = [score(search, model, dict(m), cmap, cache, model_id) for m in MULTI_CANDIDATES]
    pick = max(range(len(on_val)), key=lambda i: (on_val[i][0]["AP@100"], -i))
    multi = MULTI_CANDIDATES[pick]
    filtered = score(test, model, dict(multi), cmap, cache, model_id)
    small = score(test, model, dict(SMALL_SINGLE), cmap, cache, model_id)
    singles = [row("single 320", d, d), row("single 160", small, d)]
    if "scales" not in chosen:
        singles.append(row("single tuned", c, d))
    best_single = max(singles, key=lambda r: r["AP"])
    rows = [*singles]
    if not args.no_plain:
        rows.append(
            row("320 + 160, no filters", score(test, model, MULTI_PLAIN, cmap, cache, model_id), d)
        )
    rows.append(row("multi-scale, size filters (picked on val)", filtered, d))
    out["multiscale"] = {
        "candidates_val_AP": [
            {"settings": m, "AP": round(v[0]["AP@100"], 4)}
            for m, v in zip(MULTI_CANDIDATES, on_val, strict=True)
        ],
        "picked": multi,
        "rows": rows,
        "best_single": best_single["name"],
        "AP_gain_over_best_single": round(filtered[0]["AP@100"] - best_single["AP"], 4),
    }

    # measured time ratios, interleaved on one test scene (best of --repeats): the sweep's
    # times come from whenever each setting first ran, under whatever load there was then
    image = test.loader(test.ground_truth.image_ids[0])
    timed = {"default": dict(DEFAULT), "tuned": chosen, "multi-scale": dict(multi)}
    # wall time swings with other jobs on a shared machine; the process's CPU time (all
    # its threads) much less, so both are kept
    wall = {name: float("inf") for name in timed}
    cpu = dict(wall)
    order = list(timed)
    for r in range(args.repeats):
        for name in order[r % 3 :] + order[: r % 3]:  # each setting first in some rounds
            settings = timed[name]
            slicer = Slicer(model, **{**BASE, **settings})
            t0, c0 = time.perf_counter(), time.process_time()
            slicer(image)
            wall[name] = min(wall[name], time.perf_counter() - t0)
            cpu[name] = min(cpu[name], time.process_time() - c0)
    out["timed_x_default"] = {k: round(v / wall["default"], 2) for k, v in wall.items()}
    out["timed_seconds"] = {k: round(v, 2) for k, v in wall.items()}
    out["cpu_x_default"] = {k: round(v / cpu["default"], 2) for k, v in cpu.items()}
    out["cpu_seconds"] = {k: round(v, 2) for k, v in cpu.items()}

    # (c) zoom=1 reproduces the slicer without zoom
    a = Slicer(model, **DEFAULT, **BASE)(image)  # type: ignore[arg-type]
    b = Slicer(model, **DEFAULT, **BASE, zoom=1.0)(image)  # type: ignore[arg-type]
    out["zoom1_equal"] = bool(a == b)
    out["zoom1_detections"] = len(a)
    if args.dynamic_input:  # the dynamic-input copy at zoom 1 = the bundled graph
        bundled = default_detector(conf=0.01, max_det=300)
        out["dynamic_equals_bundled"] = bool(Slicer(bundled, **DEFAULT, **BASE)(image) == a)
    return out


def timed_ratios(
    out: dict[str, Any], args: argparse.Namespace, image: Any, model: Any, timed: dict
) -> None:
    """Wall and CPU time of each setting on one image, interleaved, best of ``--repeats``."""
    from tilewise import Slicer

    wall = {name: float("inf") for name in timed}
    cpu = dict(wall)
    order = list(timed)
    for r in range(args.repeats):
        k = r % len(order)
        for name in order[k:] + order[:k]:  # each setting first in some rounds
            slicer = Slicer(model, **{**BASE, **timed[name]})
            t0, c0 = time.perf_counter(), time.process_time()
            slicer(image)
            wall[name] = min(wall[name], time.perf_counter() - t0)
            cpu[name] = min(cpu[name], time.process_time() - c0)
    out["timed_x_default"] = {k: round(v / wall["default"], 2) for k, v in wall.items()}
    out["timed_seconds"] = {k: round(v, 2) for k, v in wall.items()}
    out["cpu_x_default"] = {k: round(v / cpu["default"], 2) for k, v in cpu.items()}
    out["cpu_seconds"] = {k: round(v, 2) for k, v in cpu.items()}


def finish_tuner_only(
    out: dict[str, Any], args: argparse.Namespace, test: Any, model: Any, chosen: dict
) -> dict[str, Any]:
    """``--tuner-only``: the timing of the default and the tuned setting, and the checks
    that zoom 1 (and the dynamic-input copy) reproduce the default."""
    from tilewise import Slicer
    from tilewise.models import default_detector

    image = test.loader(test.ground_truth.image_ids[0])
    timed_ratios(out, args, image, model, {"default": dict(DEFAULT), "tuned": chosen})
    a = Slicer(model, **DEFAULT, **BASE)(image)  # type: ignore[arg-type]
    b = Slicer(model, **DEFAULT, **BASE, zoom=1.0)(image)  # type: ignore[arg-type]
    out["zoom1_equal"] = bool(a == b)
    out["zoom1_detections"] = len(a)
    if args.dynamic_input:
        bundled = default_detector(conf=0.01, max_det=300)
        out["dynamic_equals_bundled"] = bool(Slicer(bundled, **DEFAULT, **BASE)(image) == a)
    return out


def report(out: dict[str, Any]) -> str:
    t = out["tuner"]
    lines = [
        f"model: {out['model']}",
        f"search ({out['space']} space): {out['search']['images']} val images, "
        f"{out['trials']} trials, seed "
        f"{out['seed']}, population {out['population']}, budget {out['budget_x']:g}x default "
        f"time{' (a sampler constraint)' if out['budget_constraint'] else ''} "
        f"({out['tune_seconds']} s; {out['skipped_over_budget']} trials over the budget by "
        f"their {'calibrated time' if t['cost'] == 'calibrated' else 'model pixels'} not "
        "evaluated)",
        f"chosen: {t['chosen']} (budget met: {t['budget_met']}; on val AP_small "
        f"{t['search_value']} vs default {t['search_default_value']}, {t['search_x_time']}x time)",
        "",
        "| setting (test split) | AP | AP_small | AP50 | AP 2-8px | model Mpx/img | x pixels |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    ms = out.get("multiscale")
    rows = [t["test_default"], t["test_chosen"], *(ms["rows"][1:] if ms else [])]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['AP']:.3f} | {r['AP_small']:.3f} | {r['AP50']:.3f} | "
            f"{r['AP_2-8px']:.3f} | {r['model_mpx_per_image']:.2f} | {r['x_pixels']:.2f} |"
        )
    if ms:
        lines += ["", "multi-scale candidates, AP on the val images searched:"]
        lines += [f"  {c['AP']:.4f}  {c['settings']}" for c in ms["candidates_val_AP"]]
    lines += [
        "",
        f"(a) tuned AP_small / default = {t['AP_small_ratio']:.3f} (target >= 1.1; "
        f"{'met' if t['AP_small_ratio'] >= 1.1 else 'NOT met'}), within "
        f"{out['budget_x']:g}x on val ({t['cost']}): {t['budget_met']}; on test "
        f"{t['test_chosen']['x_pixels']:.2f}x the model pixels, "
        f"{out['cpu_x_default']['tuned']:.2f}x the CPU time and "
        f"{out['timed_x_default']['tuned']:.2f}x the wall time measured below",
        (
            f"(b) multi-scale filtered {ms['picked']}: AP - best single ({ms['best_single']}) "
            f"= {ms['AP_gain_over_best_single']:+.4f} "
            f"({'met' if ms['AP_gain_over_best_single'] > 0 else 'NOT met'})"
            if ms
            else "(b) not run (--tuner-only)"
        ),
        f"(c) zoom=1 equals no zoom: {out['zoom1_equal']} ({out['zoom1_detections']} detections)"
        + (
            f"; the dynamic-input copy equals the bundled graph: {out['dynamic_equals_bundled']}"
            if "dynamic_equals_bundled" in out
            else ""
        ),
        f"measured on one test scene, interleaved, best of {out['repeats']}: "
        + ", ".join(
            f"{k} {out['timed_seconds'][k]:.2f} s wall ({v:.2f}x), "
            f"{out['cpu_seconds'][k]:.2f} s CPU ({out['cpu_x_default'][k]:.2f}x)"
            for k, v in out["timed_x_default"].items()
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/bench-tune", help="benchmark and cache folder")
    parser.add_argument("--trials", type=int, default=32, help="tuner trials (default 32)")
    parser.add_argument(
        "--search-images", type=int, default=3, help="val images searched (default 3 of 6)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-x", type=float, default=2.0)
    parser.add_argument(
        "--repeats", type=int, default=5, help="interleaved timing runs per setting (best of)"
    )
    parser.add_argument(
        "--cost",
        choices=("model_pixels", "calibrated", "seconds"),
        default="model_pixels",
        help="tuner time",
    )
    parser.add_argument(
        "--fine", action="store_true", help="finer slice sizes (192-240 px) and overlap 0.05"
    )
    parser.add_argument(
        "--no-plain", action="store_true", help="skip the unfiltered multi-scale row (5x time)"
    )
    parser.add_argument(
        "--dynamic-input",
        action="store_true",
        help="a copy of the bundled graph with a dynamic input size, so that zoom acts",
    )
    parser.add_argument(
        "--population", type=int, default=None, help="NSGA-II population (default min(trials, 50))"
    )
    parser.add_argument(
        "--budget-constraint", action="store_true", help="tell the sampler the time budget"
    )
    parser.add_argument(
        "--skip-over-budget",
        action="store_true",
        help="do not evaluate settings whose model pixels are over the budget",
    )
    parser.add_argument(
        "--tuner-only", action="store_true", help="no multi-scale section (target b)"
    )
    parser.add_argument("--json", default=None, help="write the figures as JSON here")
    parser.add_argument("--plot", default=None, help="write the Pareto plot PNG here")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    out = run(args)
    out["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}"
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(report(out))
    print(f"total {out['seconds']} s; {out['machine']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
