"""Training data: a split of a (tiled) dataset, augmented with the dataset toolkit, batched.

Images are decoded once and kept in memory (tiles are small). Each epoch draws its own
random stream from ``(seed, epoch)``, so a run resumed at an epoch boundary sees exactly
the batches an uninterrupted run would. The augmentations are those of
``tilewise.datasets.augment``: flips, 90-degree turns, scale jitter, the bbox-safe crop and
the native-resolution four-image mosaic, with every dropped object counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tilewise.datasets import Dataset
from tilewise.datasets.augment import (
    BoxRules,
    DropCounts,
    Sample,
    bbox_safe_crop,
    flip,
    mosaic4,
    rotate90,
    scale,
)
from tilewise.errors import TilewiseError
from tilewise.images import load_image

__all__ = ["Batch", "SplitData", "colour_jitter", "select_split"]


@dataclass(frozen=True)
class Batch:
    """One training batch.

    Attributes:
        images: (B, H, W, 3) uint8 RGB.
        targets: (n, 6) float32 rows of image index, class, cx, cy, w, h (input pixels).
    """

    images: np.ndarray
    targets: np.ndarray


def select_split(ds: Dataset, split: str, *, fallback: str | None = None) -> np.ndarray:
    """Indices of the images of ``split`` (or of ``fallback`` when there are none).

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["a"]); _ = b.add_image("x", 4, 4, split="train")
        >>> _ = b.add_image("y", 4, 4, split="val")
        >>> select_split(b.build(), "val").tolist()
        [1]
    """
    idx = np.flatnonzero(ds.images.split == split)
    if idx.size == 0 and fallback is not None:
        idx = np.flatnonzero(ds.images.split == fallback)
    return idx


def colour_jitter(image: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Random brightness, contrast and saturation changes of up to ``amount`` (0 disables).

    Example:
        >>> img = np.full((2, 2, 3), 100, np.uint8)
        >>> colour_jitter(img, np.random.default_rng(0), 0.0) is img
        True
    """
    if amount <= 0:
        return image
    x = image.astype(np.float32)
    b, c, s = (float(v) for v in rng.uniform(1 - amount, 1 + amount, 3))
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * s
    mean = float(grey.mean())
    x = (x - mean) * c + mean * b
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


class SplitData:
    """The images of one split with their labels, as augmented fixed-size training samples.

    With ``augment`` (training), each sample is built from the epoch's random stream:

    1. with probability ``mosaic``, a four-image mosaic (``mosaic4``, native resolution)
       of this image and three others drawn with replacement from the split (so splits of
       fewer than four images work too); otherwise this image alone;
    2. each source image is flipped (``hflip``, ``vflip``), turned by k x 90 degrees with
       k in 1..3 (``rot90``) and scaled (``scale_range``);
    3. a single image is then cut (or padded) to ``img_size`` by ``bbox_safe_crop``; a
       mosaic fills each quadrant with such a crop and is ``img_size`` square already;
    4. colour jitter (``jitter``) on the result.

    Every object dropped by any step (scale, crop, a mosaic quadrant's border) is counted in
    ``counts`` with its reason, and each output object once as kept, so
    ``counts.kept + counts.total_dropped`` is the number of source objects used so far. A
    probability of 0 draws nothing from the random stream, so with ``mosaic=0`` and
    ``rot90=0`` the batches are exactly those of earlier tilewise versions. Validation
    (``augment=False``) never flips, turns, scales or mosaics.

    Args:
        ds: the dataset (``read_dataset``).
        indices: which images.
        img_size: the square model input size.
        hflip, vflip: flip probabilities.
        scale_range: scale jitter range (``(1, 1)`` disables).
        jitter: colour jitter amplitude.
        rules: when an object cut by a crop is kept.
        mosaic: probability that a training sample is a four-image mosaic.
        rot90: probability of a random k x 90 degree turn of each source image.

    Raises:
        TilewiseError: class ids beyond the class names, or a probability outside [0, 1].

    Example:
        >>> import tempfile, cv2
        >>> from tilewise.datasets import DatasetBuilder
        >>> root = tempfile.mkdtemp()
        >>> cv2.imwrite(f"{root}/x.png", np.zeros((40, 48, 3), np.uint8))
        True
        >>> b = DatasetBuilder(["a"]); i = b.add_image("x.png", 48, 40, split="train")
        >>> b.add_box(i, [10, 10, 20, 18], 0)
        >>> data = SplitData(b.build(root=root), [0], 32, mosaic=1.0, rot90=0.5)
        >>> batch = next(data.batches(2, seed=0, epoch=0))
        >>> batch.images.shape, data.counts.kept == len(batch.targets)
        ((1, 32, 32, 3), True)
        >>> data.counts.kept + data.counts.total_dropped  # four copies of the one box
        4
    """

    def __init__(
        self,
        ds: Dataset,
        indices: np.ndarray,
        img_size: int,
        *,
        hflip: float = 0.5,
        vflip: float = 0.0,
        scale_range: tuple[float, float] = (1.0, 1.0),
        jitter: float = 0.0,
        rules: BoxRules | None = None,
        mosaic: float = 0.0,
        rot90: float = 0.0,
    ) -> None:
        self.ds = ds
        self.indices = np.asarray(indices, dtype=np.int64)
        self.img_size = int(img_size)
        self.hflip, self.vflip = float(hflip), float(vflip)
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.jitter = float(jitter)
        self.rules = rules or BoxRules(min_visibility=0.4, min_size=2.0)
        self.mosaic, self.rot90 = float(mosaic), float(rot90)
        for name in ("mosaic", "rot90"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise TilewiseError(
                    f"{name} must be a probability in [0, 1], got {getattr(self, name)}"
                )
        self.counts = DropCounts()
        self._cache: dict[int, np.ndarray] = {}
        if ds.num_annotations and int(ds.class_id.max()) >= ds.num_classes:
            raise TilewiseError("dataset class ids exceed its class names")

    def __len__(self) -> int:
        return int(self.indices.size)

    def image(self, k: int) -> np.ndarray:
        """The RGB pixels of the ``k``-th image of the split (decoded once)."""
        i = int(self.indices[k])
        if i not in self._cache:
            path = self.ds.image_path(i)
            try:
                self._cache[i] = load_image(path)
            except TilewiseError as exc:
                raise TilewiseError(f"cannot read training image {path}: {exc}") from None
        return self._cache[i]

    def sample(self, k: int) -> Sample:
        """The ``k``-th image with its (non-crowd) boxes, unaugmented."""
        i = int(self.indices[k])
        sl = self.ds.annotations_of(i)
        keep = ~self.ds.iscrowd[sl]
        return Sample(self.image(k), self.ds.boxes[sl][keep], self.ds.class_id[sl][keep])

    def _transformed(self, k: int, rng: np.random.Generator, counts: DropCounts) -> Sample:
        """The ``k``-th sample flipped, turned and scaled at random (not yet cropped).

        Drops are added to ``counts`` (its ``kept`` is left for the caller to set).
        """
        s = self.sample(k)
        if self.hflip and rng.random() < self.hflip:
            s = flip(s, horizontal=True, counts=counts)
        if self.vflip and rng.random() < self.vflip:
            s = flip(s, horizontal=False, counts=counts)
        if self.rot90 and rng.random() < self.rot90:
            s = rotate90(s, int(rng.integers(1, 4)), counts=counts)
        lo, hi = self.scale_range
        if (lo, hi) != (1.0, 1.0):
            s = scale(s, float(rng.uniform(lo, hi)), rules=self.rules, counts=counts)
        return s

    def augmented(self, k: int, rng: np.random.Generator) -> Sample:
        """The ``k``-th training sample: alone or in a mosaic, augmented, ``img_size`` square."""
        n = self.img_size
        step = DropCounts()
        if self.mosaic and rng.random() < self.mosaic:
            others = rng.integers(0, len(self), size=3).tolist()
            parts = [self._transformed(j, rng, step) for j in [k, *others]]
            s = mosaic4(parts, n, rng, rules=self.rules, counts=step)
        else:
            s = self._transformed(k, rng, step)
            if s.wh != (n, n):
                s = bbox_safe_crop(s, (n, n), rng, rules=self.rules, counts=step)
        # every step counted its drops; an object is "kept" once, if it survives them all
        step.kept = len(s)
        self.counts.merge(step)
        if self.jitter:
            s = s.replace(image=colour_jitter(s.image, rng, self.jitter))
        return s

    def batches(
        self, batch_size: int, seed: int, epoch: int, *, augment: bool = True
    ) -> Iterator[Batch]:
        """The batches of one epoch, shuffled by ``(seed, epoch)``; the last may be short."""
        rng = np.random.default_rng([int(seed), int(epoch), 1])
        order = rng.permutation(len(self)) if augment else np.arange(len(self))
        for start in range(0, len(order), batch_size):
            yield self.collate(order[start : start + batch_size].tolist(), rng, augment)

    def collate(self, ks: list[int], rng: np.random.Generator, augment: bool = True) -> Batch:
        """Build a batch from image positions ``ks``."""
        n = self.img_size
        images = np.empty((len(ks), n, n, 3), dtype=np.uint8)
        rows = []
        for j, k in enumerate(ks):
            s = self.augmented(k, rng) if augment else self._fixed(k)
            images[j] = s.image
            if len(s):
                b = s.boxes
                wh = b[:, 2:] - b[:, :2]
                ok = (wh > 0).all(axis=1)
                cxcy = (b[:, :2] + b[:, 2:]) / 2
                t = np.column_stack([np.full(len(b), j), s.class_id, cxcy, wh])[ok]
                rows.append(t)
        targets = np.concatenate(rows) if rows else np.zeros((0, 6))
        return Batch(images, targets.astype(np.float32))

    def _fixed(self, k: int) -> Sample:
        s = self.sample(k)
        if s.wh != (self.img_size, self.img_size):
            s = bbox_safe_crop(
                s, (self.img_size, self.img_size), np.random.default_rng(k), rules=self.rules
            )
        return s
