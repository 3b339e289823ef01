"""Anchors fitted to the training labels (the dataset toolkit's auto-anchor, or k-means)."""

from __future__ import annotations

import warnings

import numpy as np

from tilewise.datasets import Dataset
from tilewise.errors import TilewiseError, TilewiseWarning
from tilewise.training.config import DEFAULT_ANCHORS, STRIDES, split_anchors

__all__ = ["fit_anchors", "label_wh"]


def label_wh(ds: Dataset, indices: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) widths and heights in pixels of the non-crowd labels of some images.

    Training crops at native resolution (no resize), so pixels are what the model sees.

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["a"]); b.add_box(b.add_image("x", 99, 99), [0, 0, 8, 6], 0)
        >>> label_wh(b.build()).tolist()
        [[8.0, 6.0]]
    """
    keep = ~ds.iscrowd
    if indices is not None:
        keep &= np.isin(ds.image_index, np.asarray(indices))
    b = ds.boxes[keep]
    wh = b[:, 2:] - b[:, :2]
    return wh[np.all(np.isfinite(wh), axis=1) & np.all(wh > 0, axis=1)]


def _kmeans_log(wh: np.ndarray, n: int, seed: int, iters: int = 50) -> np.ndarray:
    """k-means on log sizes (a fallback when the toolkit's anchor evolution is absent)."""
    x = np.log(wh)
    rng = np.random.default_rng(seed)
    centres = x[np.argsort(x.sum(axis=1))[np.linspace(0, len(x) - 1, n).astype(int)]]
    for _ in range(iters):
        assign = ((x[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        new = np.array(
            [
                x[assign == j].mean(0) if np.any(assign == j) else x[rng.integers(len(x))]
                for j in range(n)
            ]
        )
        if np.allclose(new, centres):
            break
        centres = new
    return np.exp(centres)


def fit_anchors(
    wh: np.ndarray,
    *,
    img_size: int,
    per_level: int = 3,
    seed: int = 0,
    notes: list[str] | None = None,
) -> tuple[tuple[tuple[float, float], ...], ...]:
    """Anchors for ``wh`` labels, dealt smallest-first to the detection levels.

    Uses ``tilewise.datasets.anchors.evolve_anchors`` (YOLOv5's k-means plus evolution).
    Its fallbacks are never silent: with fewer labels than anchors the defaults are
    returned, and where the evolution cannot run (too few labels of 2 px or more) plain
    k-means on log sizes is used; each says so, appended to ``notes`` when a list is given,
    otherwise as a ``TilewiseWarning``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> wh = np.exp(rng.uniform(np.log(4), np.log(64), (300, 2)))
        >>> anchors = fit_anchors(wh, img_size=320)
        >>> len(anchors), len(anchors[0]), anchors[0][0] < anchors[1][-1]
        (2, 3, True)
        >>> notes = []
        >>> fit_anchors(wh[:4], img_size=320, notes=notes) == DEFAULT_ANCHORS, len(notes)
        (True, 1)
    """

    def say(message: str) -> None:
        if notes is not None:
            notes.append(message)
        else:
            warnings.warn(TilewiseWarning(message), stacklevel=3)

    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    n = per_level * len(STRIDES)
    if len(wh) < n:
        say(
            f"anchors: {len(wh)} label(s), fewer than the {n} anchors to fit; "
            "using the default anchors"
        )
        return DEFAULT_ANCHORS
    from tilewise.datasets.anchors import evolve_anchors

    try:
        k = evolve_anchors(
            wh, n=n, img_size=img_size, generations=300, seed=seed, progress=False
        ).anchors
    except TilewiseError as exc:
        say(f"anchors: evolution not possible ({exc}); fitted by plain k-means on log sizes")
        k = _kmeans_log(wh, n, seed)
    return split_anchors(np.clip(k, 2.0, None), len(STRIDES))
