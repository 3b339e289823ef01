"""Dataset tiling: tilewise ``plan_tiles`` beside SAHI ``slice_coco``, same input, same run.

Case (issue 4): 10 images of 4000x3000 with 1000 boxes each (seeded; box sides log-uniform
in 4-96 px), COCO JSON, 640 px slices, overlap 0.2, a box kept in a slice when at least
30 % of its area is in it (SAHI: ``min_area_ratio=0.3``; tilewise: ``min_visibility=0.3``,
``min_size=0``).

Stages timed:

* ``annotations``: annotation processing only, no pixels. tilewise: ``read_coco`` +
  ``plan_tiles`` + ``TilePlan.to_dataset`` + ``coco_dict`` (the sliced COCO dict in
  memory). SAHI: ``slice_coco(output_dir=None)`` with its image reader replaced by a
  zero-cost stand-in of the right size, so the figure is SAHI's annotation work alone;
  the ``speedup`` column is computed against this (the smaller) SAHI figure.
* ``annotations+decode``: SAHI ``slice_coco(output_dir=None)`` as shipped, which also
  decodes every source image (for reference).
* ``end_to_end`` (full run only): tiles written as PNG. tilewise ``tile_dataset`` with a
  thread pool (all empty tiles kept, so both write the same number of tiles) vs SAHI
  ``slice_coco(output_dir=...)``.

Measured the same way for every tool and stage: one untimed warm-up call on the same input
(SAHI's lazy imports, first-call costs, a warm file cache for everyone), then the best of
``repeats`` timed calls (3; 1 with ``--quick``). Every end-to-end call writes into a fresh
output directory, so no call finds (and skips) tiles from an earlier one.

Run: ``python -m benchmarks.bench_tiling [--quick] [--repeats K]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SLICE = 640
OVERLAP = 0.2
MIN_VIS = 0.3
SEED = 0


def make_case(
    root: Path, n_images: int, image_wh: tuple[int, int], boxes_per_image: int, seed: int = SEED
) -> Path:
    """Write ``n_images`` blank PNGs and a COCO JSON with seeded boxes; returns the JSON."""
    import cv2

    rng = np.random.default_rng(seed)
    w, h = image_wh
    images, annotations = [], []
    blank = np.zeros((h, w, 3), dtype=np.uint8)
    blank[::97, :, 1] = 255  # a little structure so PNG encoding is not trivial
    for i in range(n_images):
        name = f"img_{i:03d}.png"
        cv2.imwrite(str(root / name), blank, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        bw = np.exp(rng.uniform(np.log(4), np.log(96), boxes_per_image))
        bh = bw * np.exp(rng.uniform(-0.5, 0.5, boxes_per_image))
        bh = np.minimum(bh, h - 1)
        x = rng.uniform(0, w - bw)
        y = rng.uniform(0, h - bh)
        for k in range(boxes_per_image):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": int(rng.integers(1, 4)),
                    "bbox": [
                        round(float(x[k]), 2),
                        round(float(y[k]), 2),
                        round(float(bw[k]), 2),
                        round(float(bh[k]), 2),
                    ],
                    "area": round(float(bw[k] * bh[k]), 2),
                    "iscrowd": 0,
                    "segmentation": [],
                }
            )
    cats = [{"id": c, "name": f"class{c}"} for c in (1, 2, 3)]
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": cats}))
    return path


FULL_REPEATS = 3
QUICK_REPEATS = 1
_clock = time.perf_counter  # replaced by a fake clock in the tests


def measure(fn: Callable[[], Any], repeats: int) -> tuple[float, Any, list[float]]:
    """One untimed warm-up call, then the best of ``repeats`` timed calls.

    Returns (best time, the last call's result, every timed call's time). The same for
    every tool, so no library is timed cold while another is timed warm.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    fn()  # warm-up, untimed
    times: list[float] = []
    out = None
    for _ in range(repeats):
        t0 = _clock()
        out = fn()
        times.append(_clock() - t0)
    return min(times), out, times


def tilewise_annotations(json_path: Path) -> tuple[int, int]:
    """Annotation processing in tilewise; returns (tiles, instances)."""
    from tilewise.datasets import read_coco
    from tilewise.datasets.formats.coco import coco_dict
    from tilewise.datasets.tiling import TilingConfig, plan_tiles

    cfg = TilingConfig(
        slice_wh=SLICE, overlap=OVERLAP, min_visibility=MIN_VIS, min_size=0, empty_ratio=1e9
    )
    ds = read_coco(json_path)
    tiled = plan_tiles(ds, cfg).to_dataset()
    d = coco_dict(tiled)
    return len(d["images"]), len(d["annotations"])


def sahi_slice_coco(json_path: Path, output_dir: Path | None, decode: bool) -> tuple[int, int]:
    """SAHI ``slice_coco``; with ``decode=False`` its image reader is a zero-cost stand-in."""
    import sahi.slicing as sl

    from tilewise.datasets.imagesize import image_size

    def fake_reader(image: Any, exif_fix: bool = True, return_arr: bool = False) -> Any:
        w, h = image_size(image)
        return np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (h, w, 3))

    original = sl.read_image_as_pil
    if not decode:
        sl.read_image_as_pil = fake_reader
    try:
        coco, _ = sl.slice_coco(
            coco_annotation_file_path=str(json_path),
            image_dir=str(json_path.parent),
            output_coco_annotation_file_name="sliced" if output_dir else "",
            output_dir=str(output_dir) if output_dir else None,
            slice_height=SLICE,
            slice_width=SLICE,
            overlap_height_ratio=OVERLAP,
            overlap_width_ratio=OVERLAP,
            min_area_ratio=MIN_VIS,
            verbose=False,
        )
    finally:
        sl.read_image_as_pil = original
    return len(coco["images"]), len(coco["annotations"])


def tilewise_end_to_end(json_path: Path, out: Path) -> tuple[int, int]:
    """``tile_dataset`` writing PNG tiles (every empty tile kept, like SAHI)."""
    from tilewise.datasets.tiling import TilingConfig, tile_dataset

    cfg = TilingConfig(
        slice_wh=SLICE, overlap=OVERLAP, min_visibility=MIN_VIS, min_size=0, empty_ratio=1e9
    )
    res = tile_dataset(json_path, out, cfg, format="coco", progress=False)
    return res.dataset.num_images, res.dataset.num_annotations


def run(
    quick: bool = False,
    repeats: int | None = None,
    *,
    tools: dict[str, Callable[..., tuple[int, int]]] | None = None,
    end_to_end: bool | None = None,
    case_size: tuple[int, tuple[int, int], int] | None = None,
) -> list[dict[str, Any]]:
    """Run the tiling benchmark; one row per (tool, stage).

    Args:
        quick: a small case (2 images of 2000x1500, 200 boxes each), no end-to-end stage.
        repeats: timed calls per (tool, stage) after the warm-up (default 3; 1 if quick).
        tools: replaces the measured functions by name (``tilewise_annotations``,
            ``sahi_slice_coco``, ``tilewise_end_to_end``); for tests.
        end_to_end: run the end-to-end stage (default: not when quick).
        case_size: (images, (w, h), boxes per image) instead of the quick/full case.
    """
    k = repeats if repeats is not None else (QUICK_REPEATS if quick else FULL_REPEATS)
    fns: dict[str, Callable[..., tuple[int, int]]] = {
        "tilewise_annotations": tilewise_annotations,
        "sahi_slice_coco": sahi_slice_coco,
        "tilewise_end_to_end": tilewise_end_to_end,
        **(tools or {}),
    }
    n_images, image_wh, per_image = case_size or (
        (2, (2000, 1500), 200) if quick else (10, (4000, 3000), 1000)
    )
    if end_to_end is None:
        end_to_end = not quick
    rows: list[dict[str, Any]] = []
    case = f"{n_images}x{image_wh[0]}x{image_wh[1]}, {per_image} boxes/img"

    def row(tool: str, stage: str, measured: tuple[float, Any, list[float]]) -> dict[str, Any]:
        best, (tiles, inst), _times = measured
        out = {
            "case": case,
            "tool": tool,
            "stage": stage,
            "time_s": best,
            "runs": f"best of {k}",
            "tiles": tiles,
            "instances": inst,
            "speedup": None,
        }
        rows.append(out)
        return out

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "src"
        src.mkdir()
        json_path = make_case(src, n_images, image_wh, per_image)
        tw = row(
            "tilewise", "annotations", measure(lambda: fns["tilewise_annotations"](json_path), k)
        )
        try:
            if "sahi_slice_coco" not in (tools or {}):
                import sahi  # noqa: F401
        except ImportError as exc:
            rows.append(
                {
                    "case": case,
                    "tool": "sahi",
                    "stage": "annotations",
                    "time_s": None,
                    "note": f"sahi not installed: {exc}",
                }
            )
            return rows
        sa = row(
            "sahi",
            "annotations",
            measure(lambda: fns["sahi_slice_coco"](json_path, None, False), k),
        )
        tw["speedup"], sa["speedup"] = sa["time_s"] / tw["time_s"], 1.0
        row(
            "sahi",
            "annotations+decode",
            measure(lambda: fns["sahi_slice_coco"](json_path, None, True), k),
        )
        if end_to_end:
            fresh = iter(range(10**9))

            def out_dir(tool: str) -> Path:
                return root / f"{tool}_out_{next(fresh)}"  # a fresh directory for every call

            te = row(
                "tilewise",
                "end_to_end",
                measure(lambda: fns["tilewise_end_to_end"](json_path, out_dir("tw")), k),
            )
            se = row(
                "sahi",
                "end_to_end",
                measure(lambda: fns["sahi_slice_coco"](json_path, out_dir("sahi"), True), k),
            )
            te["speedup"], se["speedup"] = se["time_s"] / te["time_s"], 1.0
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the rows as a table."""
    args = sys.argv[1:] if argv is None else argv
    repeats = int(args[args.index("--repeats") + 1]) if "--repeats" in args else None
    rows = run(quick="--quick" in args, repeats=repeats)
    keys = ["case", "tool", "stage", "time_s", "runs", "tiles", "instances", "speedup"]
    print(" | ".join(keys))
    for r in rows:
        cells = []
        for key in keys:
            v = r.get(key)
            cells.append(f"{v:.4g}" if isinstance(v, float) else ("-" if v is None else str(v)))
        print(" | ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
