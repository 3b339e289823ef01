"""A dataset to run a model on: COCO ground truth plus a way to get each image.

Used by run comparison and sweeps. ``identity`` is a content fingerprint (ground truth and
image files or pixels) that keys the sweep cache, so a changed dataset never reuses
stale results.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError
from tilewise.evaluation.coco import GroundTruth, GroundTruthSource, load_ground_truth
from tilewise.images import ReadOptions, as_rgb, load_image
from tilewise.images.check import file_sha256

__all__ = ["EvalDataset"]


def _gt_digest(gt: GroundTruth) -> Any:
    h = hashlib.sha256()
    h.update(json.dumps(gt.dataset, sort_keys=True, default=str).encode())
    return h


@dataclass(frozen=True)
class EvalDataset:
    """Ground truth and an image loader, keyed by COCO image id.

    Build it with ``from_coco`` (images on disk) or ``from_arrays`` (images in memory).

    Attributes:
        ground_truth: the validated ground truth.
        loader: returns the RGB uint8 image of an image id.
        identity: content fingerprint (hex).
        name: a label for reports.
    """

    ground_truth: GroundTruth
    loader: Callable[[int], np.ndarray] = field(repr=False)
    identity: str
    name: str = "dataset"

    def __len__(self) -> int:
        return len(self.ground_truth.image_ids)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(image_id, image)`` in ground-truth order, loading lazily."""
        for image_id in self.ground_truth.image_ids:
            yield image_id, self.loader(image_id)

    @classmethod
    def from_arrays(
        cls,
        ground_truth: GroundTruthSource,
        images: Mapping[int, np.ndarray],
        *,
        name: str = "arrays",
    ) -> EvalDataset:
        """A dataset of in-memory images (every ground-truth image id must be present).

        Example:
            >>> import numpy as np
            >>> gt = {"images": [{"id": 1, "width": 4, "height": 3}], "categories": [],
            ...       "annotations": []}
            >>> ds = EvalDataset.from_arrays(gt, {1: np.zeros((3, 4, 3), np.uint8)})
            >>> len(ds), len(ds.identity)
            (1, 64)
        """
        gt = load_ground_truth(ground_truth)
        checked: dict[int, np.ndarray] = {}
        digest = _gt_digest(gt)
        for img in gt.dataset["images"]:
            image_id = img["id"]
            if image_id not in images:
                raise TilewiseError(f"no image array for ground-truth image id {image_id}")
            arr = as_rgb(images[image_id], name=f"image {image_id}")
            h, w = arr.shape[:2]
            if (img.get("width"), img.get("height")) not in ((w, h), (None, None)):
                raise TilewiseError(
                    f"image {image_id} is {w}x{h} but the ground truth says "
                    f"{img.get('width')}x{img.get('height')}"
                )
            checked[image_id] = arr
            digest.update(f"{image_id}:{arr.shape}".encode())
            digest.update(np.ascontiguousarray(arr).tobytes())
        return cls(gt, checked.__getitem__, digest.hexdigest(), name)

    @classmethod
    def from_coco(
        cls,
        ground_truth: GroundTruthSource,
        image_dir: str | os.PathLike[str],
        *,
        name: str | None = None,
        read: ReadOptions | None = None,
    ) -> EvalDataset:
        """A dataset of image files ``image_dir / file_name`` named in the ground truth.

        The identity covers the ground truth, each file's name and a hash of its bytes,
        and the reading policy ``read`` (``tilewise.images.ReadOptions``: EXIF
        orientation followed by default, as the ground truth's width/height should be).
        Files are hashed here (so a changed image never reuses a cached result, even at
        the same size and modification time) and decoded only when used.

        Raises:
            TilewiseError: an image has no ``file_name`` or its file is missing.
        """
        gt = load_ground_truth(ground_truth)
        root = Path(image_dir)
        paths: dict[int, Path] = {}
        missing: list[str] = []
        digest = _gt_digest(gt)
        for img in gt.dataset["images"]:
            file_name = img.get("file_name")
            if not isinstance(file_name, str) or not file_name:
                raise TilewiseError(f"ground-truth image {img['id']} has no file_name")
            path = root / file_name
            if not path.is_file():
                missing.append(file_name)
                continue
            digest.update(f"{img['id']}:{file_name}:{file_sha256(path)}".encode())
            paths[img["id"]] = path
        policy = read or ReadOptions()
        digest.update(json.dumps(policy.to_dict(), sort_keys=True).encode())
        if missing:
            raise TilewiseError(
                f"{len(missing)} image file(s) not found under {root}, e.g. {missing[:3]}"
            )
        return cls(
            gt,
            lambda image_id: load_image(paths[image_id], policy),
            digest.hexdigest(),
            name or str(ground_truth if not isinstance(ground_truth, Mapping) else root),
        )
