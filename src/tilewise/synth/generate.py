"""Writing the benchmark: scenes as JPEG plus COCO annotations, split by scene.

Layout (the dataset toolkit's COCO layout, readable by ``read_dataset``)::

    OUT/images/<split>/scene_0000.jpg
    OUT/annotations/instances_<split>.json   (file names relative to images/<split>/)
    OUT/synth.json                            (seed, settings, splits, counts)

Category ids are 1..C in ``CLASS_NAMES`` order. Every file is written atomically and
``synth.json`` last, so a directory holding it is complete.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_path, atomic_write_json
from tilewise.synth.config import SynthConfig
from tilewise.synth.materials import load_materials
from tilewise.synth.scene import CLASS_NAMES, Scene, render_scene

__all__ = ["MANIFEST_NAME", "SPLITS", "SynthResult", "assign_scene_splits", "generate_benchmark"]

MANIFEST_NAME = "synth.json"
SPLITS = ("train", "val", "test")


@dataclass
class SynthResult:
    """What ``generate_benchmark`` wrote.

    Attributes:
        root: the output directory.
        splits: split name of every scene, in scene order.
        annotation_files: the COCO JSON file of every non-empty split.
        images: scenes per split.
        objects: annotated objects per split.
        class_counts: annotated objects per class name, all splits.
        seconds: wall time.
    """

    root: Path
    splits: list[str]
    annotation_files: dict[str, Path] = field(default_factory=dict)
    images: dict[str, int] = field(default_factory=dict)
    objects: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def assign_scene_splits(
    scenes: int, seed: int, ratios: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> list[str]:
    """Split names for ``scenes`` scenes: a seeded shuffle cut by ``ratios``.

    With 3 or more scenes, every split with a non-zero ratio gets at least one scene.

    Example:
        >>> assign_scene_splits(5, seed=0)
        ['train', 'train', 'val', 'test', 'train']
    """
    if scenes < 1:
        raise TilewiseError(f"scenes must be >= 1, got {scenes}")
    counts = [round(r * scenes) for r in ratios]
    if scenes >= 3:
        for i in (1, 2):
            if ratios[i] > 0 and counts[i] == 0:
                counts[i] = 1
    counts[0] = max(scenes - counts[1] - counts[2], 0)
    while sum(counts) > scenes:
        counts[int(np.argmax(counts))] -= 1
    names = [s for s, c in zip(SPLITS, counts, strict=True) for _ in range(c)]
    order = np.random.default_rng([int(seed), 7919]).permutation(scenes)
    out = [""] * scenes
    for rank, scene in enumerate(order.tolist()):
        out[scene] = names[rank]
    return out


def _prepare(root: Path, overwrite: bool) -> None:
    if not root.exists() or not any(root.iterdir()):
        return
    if not overwrite:
        raise TilewiseError(
            f"{root} is not empty; choose an empty directory or pass overwrite=True "
            "(--overwrite) to replace an earlier benchmark"
        )
    if not (root / MANIFEST_NAME).is_file() and not (root / "annotations").is_dir():
        raise TilewiseError(
            f"{root} is not empty and does not hold a tilewise benchmark ({MANIFEST_NAME}); "
            "refusing to delete it with overwrite"
        )
    shutil.rmtree(root)


def _write_scene(path: Path, scene: Scene, quality: int) -> None:
    import cv2

    with atomic_path(path) as tmp:
        ok = cv2.imwrite(str(tmp), scene.image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise TilewiseError(f"could not write {path}")


@dataclass(frozen=True)
class _Labels:
    """What is kept of a written scene: its index, size and labels."""

    index: int
    wh: tuple[int, int]
    boxes: np.ndarray
    class_id: np.ndarray


def _coco(split: str, items: list[_Labels], seed: int, cfg: SynthConfig) -> dict[str, Any]:
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for scene in items:
        index = scene.index
        w, h = scene.wh
        images.append(
            {"id": index + 1, "file_name": f"scene_{index:04d}.jpg", "width": w, "height": h}
        )
        for box, cls in zip(scene.boxes.tolist(), scene.class_id.tolist(), strict=True):
            x1, y1, x2, y2 = box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": int(cls) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    return {
        "info": {
            "description": f"tilewise synthetic small-object benchmark ({split})",
            "seed": seed,
            "config": cfg.to_dict(),
        },
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": k + 1, "name": name, "supercategory": "synth"}
            for k, name in enumerate(CLASS_NAMES)
        ],
    }


def generate_benchmark(
    out: str | os.PathLike[str],
    scenes: int,
    seed: int = 0,
    config: SynthConfig | None = None,
    *,
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    on_scene: Callable[[int, Scene], None] | None = None,
) -> SynthResult:
    """Generate the synthetic small-object benchmark: scenes, COCO labels, splits by scene.

    The output depends only on ``scenes``, ``seed`` and ``config`` (not on ``workers``).

    Args:
        out: output directory (empty, or an earlier benchmark with ``overwrite``).
        scenes: number of scenes.
        seed: random seed.
        config: scene settings (default ``SynthConfig()``: 2048 x 2048 scenes).
        workers: scenes rendered in parallel threads (default: up to 2).
        progress: show a progress bar.
        overwrite: replace an earlier benchmark in ``out``.
        on_scene: called with (index, scene) after each scene is written.

    Returns:
        A ``SynthResult``.

    Raises:
        TilewiseError: bad arguments, a non-empty ``out``, or scikit-learn / scikit-image
            missing (the ``synth`` extra).

    Example:
        >>> import tempfile, json, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "bench"
        >>> res = generate_benchmark(out, scenes=3, seed=0, progress=False,
        ...                          config=SynthConfig(scene_size=128, size_range=(4, 24)))
        >>> res.images
        {'train': 1, 'val': 1, 'test': 1}
        >>> sorted(p.name for p in (out / "annotations").iterdir())
        ['instances_test.json', 'instances_train.json', 'instances_val.json']
    """
    import time

    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    cfg = config or SynthConfig()
    if isinstance(scenes, bool) or not isinstance(scenes, (int, np.integer)) or scenes < 1:
        raise TilewiseError(f"scenes must be an int >= 1, got {scenes!r}")
    root = Path(out)
    _prepare(root, overwrite)
    materials = load_materials()
    splits = assign_scene_splits(int(scenes), seed, cfg.split_ratios)
    per_split: dict[str, list[_Labels]] = {s: [] for s in SPLITS}
    counts = np.zeros(len(CLASS_NAMES), dtype=np.int64)

    def job(index: int) -> tuple[_Labels, Scene]:
        scene = render_scene(index, seed, materials, cfg)
        path = root / "images" / splits[index] / f"scene_{index:04d}.jpg"
        _write_scene(path, scene, int(cfg.jpeg_quality))
        h, w = scene.image.shape[:2]
        return _Labels(index, (w, h), scene.boxes, scene.class_id), scene

    n_workers = max(1, min(int(workers or 2), int(scenes)))
    with (
        ThreadPoolExecutor(max_workers=n_workers) as pool,
        tqdm(total=int(scenes), unit="scene", desc="synth", disable=not progress) as bar,
    ):
        for labels, scene in pool.map(job, range(int(scenes))):
            per_split[splits[labels.index]].append(labels)
            counts += np.bincount(labels.class_id, minlength=len(CLASS_NAMES))
            if on_scene is not None:
                on_scene(labels.index, scene)
            bar.update(1)
    result = SynthResult(root=root, splits=splits)
    for split, items in per_split.items():
        if not items:
            continue
        path = root / "annotations" / f"instances_{split}.json"
        atomic_write_json(path, _coco(split, items, seed, cfg), indent=None)
        result.annotation_files[split] = path
        result.images[split] = len(items)
        result.objects[split] = int(sum(len(s.boxes) for s in items))
    result.class_counts = {n: int(c) for n, c in zip(CLASS_NAMES, counts, strict=True)}
    result.seconds = time.perf_counter() - t0
    atomic_write_json(
        root / MANIFEST_NAME,
        {
            "generator": "tilewise.synth",
            "seed": int(seed),
            "scenes": int(scenes),
            "config": cfg.to_dict(),
            "classes": list(CLASS_NAMES),
            "splits": splits,
            "images": result.images,
            "objects": result.objects,
            "class_counts": result.class_counts,
        },
    )
    return result
