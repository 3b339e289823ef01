"""Seeded input generators shared by every library in a benchmark run.

Every generator is a pure function of its arguments (and the numpy version), so each
measurement subprocess can rebuild exactly the same input from the seed; ``checksum``
fingerprints an input so the runner can check that all libraries saw the same one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MergeInput",
    "SliceModelOutput",
    "checksum",
    "clustered_boxes",
    "fixed_slice_detections",
    "structured_image",
]

DEFAULT_SEED = 20240601


def checksum(*arrays: np.ndarray) -> str:
    """Short fingerprint of some arrays (dtype, shape and bytes)."""
    h = hashlib.sha1()
    for arr in arrays:
        a = np.ascontiguousarray(arr)
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:12]


@dataclass(frozen=True)
class MergeInput:
    """Boxes to merge, laid out like the concatenated output of sliced inference.

    Attributes:
        xyxy: (N, 4) float32 boxes in canvas pixels.
        confidence: (N,) float32 scores in (0, 1].
        class_id: (N,) int64 class ids.
        canvas: side of the square canvas in pixels.
        n_objects: how many distinct objects the duplicates were drawn from.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    canvas: int
    n_objects: int

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def head(self, n: int) -> MergeInput:
        """The first ``n`` boxes (rows are shuffled, so this is a random sample)."""
        return MergeInput(
            self.xyxy[:n], self.confidence[:n], self.class_id[:n], self.canvas, self.n_objects
        )

    def checksum(self) -> str:
        """Fingerprint of the three columns."""
        return checksum(self.xyxy, self.confidence, self.class_id)


def clustered_boxes(
    n: int,
    *,
    canvas: int = 10_000,
    n_classes: int = 10,
    seed: int = DEFAULT_SEED,
    min_dup: int = 2,
    max_dup: int = 6,
    size_range: tuple[float, float] = (12.0, 64.0),
    truncate_prob: float = 0.25,
) -> MergeInput:
    """Clusters of ``min_dup``..``max_dup`` overlapping duplicates of each object.

    This mimics what sliced inference hands to the merge step: each object near slice
    overlaps is seen by 2-6 slices, so it appears several times with slightly jittered
    boxes and confidences, and some duplicates are cut by a slice edge (a truncated box
    that overlaps the full one by IoS ~1 but IoU well below 1). Objects are spread
    uniformly over a ``canvas`` x ``canvas`` image and get one of ``n_classes`` classes;
    all duplicates of an object share its class. Rows are shuffled, as slice order does
    not group duplicates together. Exactly ``n`` boxes are returned.

    Example:
        >>> inp = clustered_boxes(1000, seed=1)
        >>> len(inp), inp.xyxy.dtype.name, int(inp.class_id.max()) < 10
        (1000, 'float32', True)
        >>> inp.checksum() == clustered_boxes(1000, seed=1).checksum()
        True
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    mean_dup = (min_dup + max_dup) / 2.0
    n_obj = int(np.ceil(n / mean_dup * 1.1)) + 8
    counts = rng.integers(min_dup, max_dup + 1, size=n_obj)
    while counts.sum() < n:  # pragma: no cover - 10 % slack makes this vanishingly rare
        counts = np.concatenate([counts, rng.integers(min_dup, max_dup + 1, size=n_obj)])
    ends = np.cumsum(counts)
    n_obj = int(np.searchsorted(ends, n) + 1)
    counts = counts[:n_obj].copy()
    counts[-1] -= int(ends[n_obj - 1] - n)

    lo, hi = size_range
    w = rng.uniform(lo, hi, size=n_obj)
    h = w * np.exp(rng.normal(0.0, 0.3, size=n_obj))
    cx = rng.uniform(0.0, canvas, size=n_obj)
    cy = rng.uniform(0.0, canvas, size=n_obj)
    base_conf = rng.uniform(0.3, 1.0, size=n_obj)
    cls = rng.integers(0, n_classes, size=n_obj)

    owner = np.repeat(np.arange(n_obj), counts)
    ow, oh = w[owner], h[owner]
    dcx = cx[owner] + rng.normal(0.0, 0.05, size=n) * ow
    dcy = cy[owner] + rng.normal(0.0, 0.05, size=n) * oh
    dw = ow * np.exp(rng.normal(0.0, 0.05, size=n))
    dh = oh * np.exp(rng.normal(0.0, 0.05, size=n))
    x1, x2 = dcx - dw / 2, dcx + dw / 2
    y1, y2 = dcy - dh / 2, dcy + dh / 2
    conf = base_conf[owner] * rng.uniform(0.8, 1.0, size=n)

    # Slice-edge truncation: keep 40-90 % of the box along one side.
    cut = rng.random(n) < truncate_prob
    side = rng.integers(0, 4, size=n)
    keep = rng.uniform(0.4, 0.9, size=n)
    x1 = np.where(cut & (side == 0), x2 - (x2 - x1) * keep, x1)
    x2 = np.where(cut & (side == 1), x1 + (x2 - x1) * keep, x2)
    y1 = np.where(cut & (side == 2), y2 - (y2 - y1) * keep, y1)
    y2 = np.where(cut & (side == 3), y1 + (y2 - y1) * keep, y2)
    conf = np.where(cut, conf * 0.85, conf)

    xyxy = np.stack([x1, y1, x2, y2], axis=1)
    np.clip(xyxy, 0.0, float(canvas), out=xyxy)
    order = rng.permutation(n)
    return MergeInput(
        xyxy=np.ascontiguousarray(xyxy[order], dtype=np.float32),
        confidence=np.ascontiguousarray(conf[order], dtype=np.float32),
        class_id=np.ascontiguousarray(cls[owner][order], dtype=np.int64),
        canvas=canvas,
        n_objects=n_obj,
    )


@dataclass(frozen=True)
class SliceModelOutput:
    """The fixed detections a zero-cost fake model returns for every slice (slice pixels)."""

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def checksum(self) -> str:
        """Fingerprint of the three columns."""
        return checksum(self.xyxy, self.confidence, self.class_id)


def fixed_slice_detections(
    n: int = 50,
    *,
    slice_wh: tuple[int, int] = (640, 640),
    n_classes: int = 10,
    seed: int = DEFAULT_SEED,
    stride_x: int | None = None,
) -> SliceModelOutput:
    """``n`` boxes inside one slice, used as the fake model's output for every slice.

    With ``stride_x`` (slice width minus the overlap in pixels), a fifth of the boxes sit
    in the slice's right overlap band and each has a partner (jittered by < 1 px) exactly
    ``stride_x`` to its left, so horizontally adjacent slices report the same object
    twice and the merge step has real duplicates to remove, as in real sliced output.

    Example:
        >>> out = fixed_slice_detections(50, stride_x=512)
        >>> len(out), bool((out.xyxy[:, 2] <= 640).all())
        (50, True)
    """
    rng = np.random.default_rng(seed + 1)
    sw, sh = slice_wh
    n_pairs = n // 5 if stride_x is not None and 0 < stride_x < sw - 64 else 0
    n_free = n - 2 * n_pairs
    w = rng.uniform(8.0, 64.0, size=n_free + n_pairs)
    h = rng.uniform(8.0, 64.0, size=n_free + n_pairs)
    x1 = rng.uniform(0.0, sw - w)
    y1 = rng.uniform(0.0, sh - h)
    if n_pairs:
        assert stride_x is not None
        band = slice(n_free, n_free + n_pairs)
        x1[band] = rng.uniform(stride_x, sw - w[band])
        jitter = rng.uniform(-0.9, 0.9, size=(n_pairs, 2))
        px1 = x1[band] - stride_x + jitter[:, 0]
        py1 = y1[band] + jitter[:, 1]
        x1 = np.concatenate([x1, np.clip(px1, 0.0, None)])
        y1 = np.concatenate([y1, np.clip(py1, 0.0, None)])
        w = np.concatenate([w, w[band]])
        h = np.concatenate([h, h[band]])
    xyxy = np.stack([x1, y1, np.minimum(x1 + w, sw), np.minimum(y1 + h, sh)], axis=1)
    classes = rng.integers(0, n_classes, size=n_free + n_pairs)
    scores = rng.uniform(0.3, 1.0, size=n_free + n_pairs)
    if n_pairs:
        classes = np.concatenate([classes, classes[n_free:]])
        scores = np.concatenate([scores, scores[n_free:] * rng.uniform(0.8, 1.0, size=n_pairs)])
    return SliceModelOutput(
        xyxy=xyxy.astype(np.float32),
        confidence=scores.astype(np.float32),
        class_id=classes.astype(np.int64),
    )


def structured_image(width: int, height: int, *, seed: int = DEFAULT_SEED) -> np.ndarray:
    """A seeded RGB uint8 image: smooth gradients plus noise (cheap to build, not constant).

    Example:
        >>> img = structured_image(64, 32)
        >>> img.shape, img.dtype.name
        ((32, 64, 3), 'uint8')
    """
    rng = np.random.default_rng(seed + 2)
    yy = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    xx = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    img = np.empty((height, width, 3), dtype=np.uint8)
    noise = rng.integers(0, 32, size=(height, width), dtype=np.uint8)
    img[..., 0] = ((xx + 0 * yy) * 0.85).astype(np.uint8) + noise
    img[..., 1] = ((yy + 0 * xx) * 0.85).astype(np.uint8) + noise
    img[..., 2] = (((xx + yy) * 0.5) * 0.85).astype(np.uint8) + noise
    return img
