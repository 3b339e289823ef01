"""Train/val/test assignment per source image (before tiling, so tiles never leak)."""

from __future__ import annotations

import numpy as np

from tilewise.datasets.dataset import Split

__all__ = ["assign_splits"]


def assign_splits(
    file_names: np.ndarray, ratios: tuple[float, float, float], seed: int = 0
) -> np.ndarray:
    """Assign each image to train/val/test with the given ratios, reproducibly.

    Images are ordered by file name, shuffled with ``seed`` and cut at the ratio
    boundaries, so the result depends only on the names, the ratios and the seed.

    Example:
        >>> names = np.array([f"{i}.png" for i in range(10)], dtype=object)
        >>> splits = assign_splits(names, (0.8, 0.1, 0.1), seed=0)
        >>> sorted((s, int((splits == s).sum())) for s in set(splits))
        [('test', 1), ('train', 8), ('val', 1)]
    """
    names = np.asarray(file_names, dtype=object)
    m = names.size
    order = np.argsort(names.astype(str), kind="stable")
    perm = order[np.random.default_rng(seed).permutation(m)]
    n_train = int(np.rint(ratios[0] * m))
    n_val = int(np.rint(ratios[1] * m))
    n_val = min(n_val, m - n_train)
    out = np.empty(m, dtype=object)
    out[perm[:n_train]] = Split.TRAIN.value
    out[perm[n_train : n_train + n_val]] = Split.VAL.value
    out[perm[n_train + n_val :]] = Split.TEST.value
    return out
