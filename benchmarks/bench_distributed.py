"""Beyond one machine (issue 13): ``--engine local`` vs a local Ray cluster, Ray's costs.

Sections, each on generated data (nothing downloaded):

* **engines**: a folder of 32 synthetic scenes (``tilewise.synth``, 960x640 PNG, 12
  slices of 320 px each) run with the bundled detector by ``--engine local`` (``run_local``)
  and by ``--engine ray`` (``run_ray``) with 2 actors on a local cluster started with
  ``num_cpus=2``; images/s of each, their ratio (target >= 0.8), the cluster's start,
  and whether the predictions are the same (max box difference, same classes and
  ranks). Each run is timed on the driver as its chunks arrive: the wall time, the
  time to the first chunk (for Ray: starting the actors and a model in each, which a
  long job pays once) and the rate after it (what a long job sees);
* **overheads**: Ray's fixed costs here: a no-op task's round trip, ``ray.put`` +
  ``ray.get`` of an image-sized array (1920x1080x3 uint8, 6.2 MB) and of a 640x480 one,
  and the per-image overhead of the whole Ray Data pipeline (reading task, actor call,
  driver-side part file) measured with a near-empty model (``FixedCostModel`` with no
  sleep) on one-slice 256x256 images: Ray's seconds per image minus local's;
* **actors**: a sleep-based model (``FixedCostModel``: 100 ms per call + 25 ms per
  slice, a sleep that holds no CPU, as an accelerator call does not; 128 noise images of
  640x640, 4 slices in one call: 200 ms each) on 1, 2, 4 and 8 actors on a local
  cluster of 8 *logical* CPUs on this 2-core machine (each actor reserves 0.5):
  images/s should rise with the actors until the driver, the reading tasks and the
  actors' own CPU work, which do use the 2 real cores, run out;
* **raster strips**: a synthetic 2048x2048 scene read as a source (in memory)
  with the bundled detector in 1, 2, 3 and 5 strips (``run_strips``, local engine):
  whether every strip count gives the whole run's detections exactly.

Run: ``python -m benchmarks.bench_distributed [--quick] [--json FILE] [--only SECTION]
[--images N]`` (``--images``: the engines section's scene count, default 32)
(about 8 minutes on 2 busy cores, most of it starting Ray actors; ``--quick`` fewer
and smaller inputs). Timings on a shared machine are noisy:
compare the ratios of one run, and record ``uptime``'s load beside them.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENE_WH = (960, 640)
ACTORS = (1, 2, 4, 8)
SLEEP_MODEL = {"call_ms": 100.0, "image_ms": 25.0, "slice_wh": (320, 320)}
SLEEP_IMAGES = (64, 128)
"""Images of the sleep-model section (quick, full): 640x640, 4 slices, 200 ms of sleep each."""


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_scenes(folder: Path, n: int, wh: tuple[int, int] = SCENE_WH) -> Path:
    """``n`` synthetic scenes as PNG (seeded: the same files every run)."""
    import cv2

    from tilewise.synth import SynthConfig, load_materials, render_scene

    folder.mkdir(parents=True, exist_ok=True)
    cfg = SynthConfig(scene_size=wh)
    materials = load_materials()
    for i in range(n):
        path = folder / f"scene_{i:03d}.png"
        if not path.exists():
            cv2.imwrite(str(path), render_scene(i, 0, materials, cfg).image[..., ::-1])
    return folder


def _ray_init(num_cpus: int, warm: Path) -> float:
    """Start a local cluster, then warm it with a 2-image run (seconds of both).

    A fresh cluster starts its worker processes during its first jobs; the warm-up run
    keeps that start-up out of the measured runs.
    """
    import cv2
    import ray

    from tilewise.serve.testing import FixedCostModel

    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    t0 = time.perf_counter()
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    folder = warm.with_name(warm.name + "-warm")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        cv2.imwrite(str(folder / f"w{i}.png"), np.zeros((64, 64, 3), np.uint8))
    options = {"slice_size": 64, "overlap": 0, "batch_size": 8}
    _run_ray(folder, folder / "out", FixedCostModel, options, 1, 1, 0.5)
    return time.perf_counter() - t0


class _Clock:
    """Progress callback: when each chunk reached the driver, to split start-up off."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.marks: list[tuple[float, int]] = []

    def __call__(self, progress: Any) -> None:
        self.marks.append((time.perf_counter() - self.t0, progress.done))

    def figures(self) -> dict[str, float]:
        """Wall time, time to the first chunk (start-up), and the rate after it."""
        (t1, d1), (tn, dn) = self.marks[0], self.marks[-1]
        rate = (dn - d1) / (tn - t1) if tn > t1 else 0.0
        return {
            "seconds": round(tn, 3),
            "first_chunk_s": round(t1, 3),
            "images_per_s": round(rate, 3),
            "per_image_s": round(1.0 / rate, 4) if rate else 0.0,
        }


def _run_local(
    folder: Path, out: Path, model: Any, slicer_options: dict, chunk: int
) -> dict[str, float]:
    """``--engine local`` over ``folder``: wall, first chunk and steady rate."""
    from tilewise.bulk.engine import build_slicer
    from tilewise.bulk.inputs import list_images
    from tilewise.bulk.run import run_local
    from tilewise.bulk.store import RunStore

    shutil.rmtree(out, ignore_errors=True)
    slicer = build_slicer(model, **slicer_options)
    names = list(getattr(model, "names", ()) or ())
    clock = _Clock()
    run_local(
        list_images(folder), slicer, RunStore(out, {}), chunk=chunk, class_names=names,
        progress=clock,
    )  # fmt: skip
    return clock.figures()


def _run_ray(
    folder: Path, out: Path, factory: Callable[[], Any], slicer_options: dict, chunk: int,
    workers: int, cpus_per_worker: float,
) -> dict[str, float]:  # fmt: skip
    """``--engine ray`` (cluster already up) over ``folder``: wall, first chunk, rate."""
    from tilewise.bulk.inputs import list_images
    from tilewise.bulk.store import RunStore
    from tilewise.distributed import RayOptions, run_ray

    shutil.rmtree(out, ignore_errors=True)
    options = RayOptions(workers=workers, cpus_per_worker=cpus_per_worker)
    clock = _Clock()
    run_ray(
        list_images(folder), factory, RunStore(out, {}), slicer_options=slicer_options,
        options=options, chunk=chunk, progress=clock,
    )  # fmt: skip
    return clock.figures()


def _compare(a: Path, b: Path) -> dict[str, Any]:
    """Same rows (image, rank, class) and the largest box difference between two runs."""
    import pyarrow.parquet as pq

    ta, tb = pq.read_table(a / "predictions.parquet"), pq.read_table(b / "predictions.parquet")
    keys = ("image", "rank", "class_id")
    same_keys = len(ta) == len(tb) and all(ta.column(k).equals(tb.column(k)) for k in keys)
    diff = 0.0
    if same_keys and len(ta):
        cols = ("x1", "y1", "x2", "y2")
        xa = np.stack([ta.column(c).to_numpy() for c in cols])
        xb = np.stack([tb.column(c).to_numpy() for c in cols])
        diff = float(np.abs(xa - xb).max())
    return {"rows": len(ta), "same_ids_and_classes": same_keys, "max_box_diff": diff}


def engines(folder: Path, n: int, work: Path) -> dict[str, Any]:
    """--engine local vs Ray with 2 actors, bundled detector, same folder."""
    import ray

    from tilewise.cli.model_option import build_model

    factory = functools.partial(build_model, None, 0.25, 0.7)
    options = {"slice_size": None, "overlap": 0.2, "merge": "nms", "batch_size": 8}
    local = _run_local(folder, work / "local", factory(), options, 2)
    _log(f"engines: local {local}")
    init = _ray_init(2, work / "engines")
    try:
        ray_run = _run_ray(folder, work / "ray", factory, options, 2, 2, 0.75)
    finally:
        ray.shutdown()
    _log(f"engines: ray 2 actors {ray_run}")
    return {
        "images": n,
        "image_wh": list(SCENE_WH),
        "ray_init_s": round(init, 3),
        "local": local,
        "ray": ray_run,
        "ratio_wall": round(local["seconds"] / ray_run["seconds"], 3),
        "ratio": round(ray_run["images_per_s"] / local["images_per_s"], 3),
        "equal": _compare(work / "local", work / "ray"),
    }


def _noop() -> int:
    return 0


def overheads(work: Path, quick: bool) -> dict[str, Any]:
    """Ray's fixed costs: task round trip, object store put/get, pipeline cost per image."""
    import cv2
    import ray

    from tilewise.serve.testing import FixedCostModel

    tiny = work / "tiny"
    tiny.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n = 64 if quick else 256
    for i in range(n):
        cv2.imwrite(str(tiny / f"t{i:03d}.png"), rng.integers(0, 120, (256, 256, 3), np.uint8))
    factory = functools.partial(FixedCostModel, call_ms=0.0, image_ms=0.0)
    options = {"slice_size": 256, "overlap": 0, "batch_size": 8}
    local = _run_local(tiny, work / "tiny-local", factory(), options, 8)
    _ray_init(2, work / "overheads")
    try:
        noop = ray.remote(num_cpus=0.25)(_noop)
        ray.get(noop.remote())
        reps = 50
        t0 = time.perf_counter()
        for _ in range(reps):
            ray.get(noop.remote())
        task_ms = (time.perf_counter() - t0) / reps * 1e3
        put_get = {}
        for name, shape in (("1920x1080", (1080, 1920, 3)), ("640x480", (480, 640, 3))):
            array = rng.integers(0, 255, shape, np.uint8)
            t0 = time.perf_counter()
            for _ in range(reps):
                ref = ray.put(array)
                got = ray.get(ref)
            put_get[name] = round((time.perf_counter() - t0) / reps * 1e3, 3)
            assert got.shape == array.shape
            del ref, got
        ray_run = _run_ray(tiny, work / "tiny-ray", factory, options, 8, 2, 0.75)
    finally:
        ray.shutdown()
    local_ms = local["per_image_s"] * 1e3
    ray_ms = ray_run["per_image_s"] * 1e3
    out = {
        "task_round_trip_ms": round(task_ms, 3),
        "put_get_ms": put_get,
        "pipeline_images": n,
        "near_empty_local_ms_per_image": round(local_ms, 3),
        "near_empty_ray_ms_per_image": round(ray_ms, 3),
        "ray_overhead_ms_per_image": round(ray_ms - local_ms, 3),
        "ray_first_chunk_s": ray_run["first_chunk_s"],
        "local": local,
        "ray": ray_run,
    }
    _log(f"overheads: {out}")
    return out


def many_actors(work: Path, quick: bool) -> list[dict[str, Any]]:
    """A sleep model on 1, 2, 4, 8 actors (8 logical CPUs): images/s per actor count."""
    import cv2
    import ray

    from tilewise.serve.testing import FixedCostModel

    folder = work / "sleep"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    n = SLEEP_IMAGES[0] if quick else SLEEP_IMAGES[1]
    for i in range(n):
        cv2.imwrite(str(folder / f"s{i:03d}.png"), rng.integers(0, 120, (640, 640, 3), np.uint8))
    factory = functools.partial(FixedCostModel, **SLEEP_MODEL)
    options = {"slice_size": None, "overlap": 0, "batch_size": 8}
    local = _run_local(folder, work / "sleep-local", factory(), options, 2)
    rows: list[dict[str, Any]] = [{"actors": "local", **local}]
    _log(f"actors: local {local}")
    _ray_init(8, work / "actors")
    try:
        for k in ACTORS:
            figures = _run_ray(folder, work / f"sleep-{k}", factory, options, 2, k, 0.5)
            rows.append({"actors": k, **figures})
            _log(f"actors: {k} -> {figures}")
    finally:
        ray.shutdown()
    return rows


def raster_strips(quick: bool) -> dict[str, Any]:
    """The bundled detector on one big scene: strips (local engine) vs the whole run."""
    from tilewise.distributed import run_strips
    from tilewise.models import default_detector
    from tilewise.slicing import Slicer
    from tilewise.sources import ArraySource
    from tilewise.synth import SynthConfig, load_materials, render_scene

    side = 1024 if quick else 2048
    image = render_scene(0, 7, load_materials(), SynthConfig(scene_size=side)).image
    slicer = Slicer(default_detector(), slice_wh=320, overlap=0.2, batch_size=8)
    source = ArraySource(image)
    t0 = time.perf_counter()
    whole = slicer.run(source)
    whole_s = time.perf_counter() - t0
    rows = []
    for strips in (1, 2, 3, 5):
        run = run_strips(slicer, source, engine="local", strips=strips)
        same = run.prediction.detections == whole.detections
        rows.append({"strips": strips, "equal": bool(same), "seconds": round(run.seconds, 3)})
        _log(f"raster strips: {strips} -> equal {same}")
    return {"side": side, "detections": len(whole.detections), "whole_s": round(whole_s, 3),
            "runs": rows}  # fmt: skip


def markdown(results: dict[str, Any]) -> str:
    """The tables as Markdown (what RESULTS.md records)."""
    e = results["engines"]
    o = results["overheads"]
    eq = e["equal"]
    loc, ray_ = e["local"], e["ray"]
    lines = [
        "| engine | images | wall s | first chunk s | s per image after it | images/s | vs local |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| local | {e['images']} | {loc['seconds']:.2f} | {loc['first_chunk_s']:.2f} | "
        f"{loc['per_image_s']:.3f} | {loc['images_per_s']:.2f} | 1.00 |",
        f"| ray, 2 actors | {e['images']} | {ray_['seconds']:.2f} | {ray_['first_chunk_s']:.2f} "
        f"| {ray_['per_image_s']:.3f} | {ray_['images_per_s']:.2f} | {e['ratio']:.2f} |",
        "",
        " ".join(
            [
                f"Bundled detector, {e['image_wh'][0]}x{e['image_wh'][1]} scenes, chunks of",
                "2 images; images/s is the rate after the first chunk reached the driver.",
                f"Wall-clock ratio {e['ratio_wall']:.2f} (Ray's includes starting 2 actors;",
                f"the cluster's own start and warm-up, {e['ray_init_s']:.1f} s, are not counted).",
                f"Same predictions: ids and classes {eq['same_ids_and_classes']},",
                f"{eq['rows']} rows, max box difference {eq['max_box_diff']:.2g} px.",
            ]
        ),
        "",
        "| Ray cost | value |",
        "|---|---:|",
        f"| no-op task round trip | {o['task_round_trip_ms']:.2f} ms |",
        *[f"| put + get {k} RGB uint8 | {v:.2f} ms |" for k, v in o["put_get_ms"].items()],
        f"| near-empty model, local | {o['near_empty_local_ms_per_image']:.2f} ms/image |",
        f"| near-empty model, Ray 2 actors | {o['near_empty_ray_ms_per_image']:.2f} ms/image |",
        f"| Ray minus local per image (reads overlap the actors' start) | "
        f"{o['ray_overhead_ms_per_image']:.2f} ms |",
        f"| Ray run start to first chunk (2 actors) | {o['ray_first_chunk_s']:.2f} s |",
        "",
        "| sleep model, actors | wall s | first chunk s | images/s after it |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['actors']} | {r['seconds']:.2f} | {r['first_chunk_s']:.2f} | "
        f"{r['images_per_s']:.2f} |"
        for r in results["actors"]
    ]
    r = results["raster"]
    lines += [
        "",
        f"Raster strips ({r['side']}x{r['side']} scene, bundled detector, {r['detections']} "
        f"detections, whole run {r['whole_s']:.1f} s): "
        + ", ".join(f"{x['strips']} strip(s) equal: {x['equal']}" for x in r["runs"])
        + ".",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: run every section, print the tables, optionally write JSON."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_distributed", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer and smaller inputs")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--only", choices=["engines", "overheads", "actors", "raster"], default=None)
    p.add_argument(
        "--images", type=int, default=None,
        help="scenes in the engines section (default 32, 8 with --quick): more images "
        "weigh Ray's actor start-up less in the wall-clock ratio",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.images is not None and args.images < 2:
        p.error(f"--images must be >= 2, got {args.images}")
    n = args.images if args.images is not None else (8 if args.quick else 32)
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="tilewise-bench-distributed-"))
    try:
        folder = make_scenes(work / "scenes", n)
        sections: dict[str, Callable[[], Any]] = {
            "engines": lambda: engines(folder, n, work),
            "overheads": lambda: overheads(work, args.quick),
            "actors": lambda: many_actors(work, args.quick),
            "raster": lambda: raster_strips(args.quick),
        }
        results: dict[str, Any] = {"load": os.getloadavg()[0]}
        for name, section in sections.items():
            if args.only in (None, name):
                results[name] = section()
        results["load_after"] = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.only is None:
        print(markdown(results))
    else:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
