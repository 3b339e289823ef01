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

Run: ``python -m benchmarks.bench_tiling [--quick]``.
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


def _best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best = float("inf")
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


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


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the tiling benchmark; one row per (tool, stage)."""
    n_images = 2 if quick else 10
    image_wh = (2000, 1500) if quick else (4000, 3000)
    per_image = 200 if quick else 1000
    rows: list[dict[str, Any]] = []
    case = f"{n_images}x{image_wh[0]}x{image_wh[1]}, {per_image} boxes/img"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "src"
        src.mkdir()
        json_path = make_case(src, n_images, image_wh, per_image)
        t_tw, (tiles, inst) = _best_of(lambda: tilewise_annotations(json_path), 5)
        rows.append(
            {
                "case": case,
                "tool": "tilewise",
                "stage": "annotations",
                "time_s": t_tw,
                "tiles": tiles,
                "instances": inst,
                "speedup": None,
            }
        )
        try:
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
        t_sa, (s_tiles, s_inst) = _best_of(lambda: sahi_slice_coco(json_path, None, False), 1)
        rows[0]["speedup"] = t_sa / t_tw
        rows.append(
            {
                "case": case,
                "tool": "sahi",
                "stage": "annotations",
                "time_s": t_sa,
                "tiles": s_tiles,
                "instances": s_inst,
                "speedup": 1.0,
            }
        )
        t_sd, (d_tiles, d_inst) = _best_of(lambda: sahi_slice_coco(json_path, None, True), 1)
        rows.append(
            {
                "case": case,
                "tool": "sahi",
                "stage": "annotations+decode",
                "time_s": t_sd,
                "tiles": d_tiles,
                "instances": d_inst,
                "speedup": None,
            }
        )
        if not quick:
            t_te, (e_tiles, e_inst) = _best_of(
                lambda: tilewise_end_to_end(json_path, root / "tw_out"), 1
            )
            t_se, (f_tiles, f_inst) = _best_of(
                lambda: sahi_slice_coco(json_path, root / "sahi_out", True), 1
            )
            rows.append(
                {
                    "case": case,
                    "tool": "tilewise",
                    "stage": "end_to_end",
                    "time_s": t_te,
                    "tiles": e_tiles,
                    "instances": e_inst,
                    "speedup": t_se / t_te,
                }
            )
            rows.append(
                {
                    "case": case,
                    "tool": "sahi",
                    "stage": "end_to_end",
                    "time_s": t_se,
                    "tiles": f_tiles,
                    "instances": f_inst,
                    "speedup": 1.0,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the rows as a table."""
    args = sys.argv[1:] if argv is None else argv
    rows = run(quick="--quick" in args)
    keys = ["case", "tool", "stage", "time_s", "tiles", "instances", "speedup"]
    print(" | ".join(keys))
    for r in rows:
        cells = []
        for k in keys:
            v = r.get(k)
            cells.append(f"{v:.4g}" if isinstance(v, float) else ("-" if v is None else str(v)))
        print(" | ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
