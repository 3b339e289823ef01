"""YOLOv5-style anchor analysis and evolution (k-means, then a genetic refinement).

The metric is YOLOv5's width/height ratio metric: a label matches an anchor when both
``w_label / w_anchor`` and ``h_label / h_anchor`` lie within ``[1 / thr, thr]`` with
``thr = 4.0``. Best possible recall (BPR) is the fraction of labels matched by at least one
anchor; anchors/target (AAT) is how many anchors match a label on average.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tilewise.datasets.dataset import Dataset
from tilewise.errors import TilewiseError

__all__ = [
    "YOLOV5_ANCHORS",
    "AnchorAnalysis",
    "AnchorResult",
    "analyse_anchors",
    "evolve_anchors",
    "label_sizes",
]

YOLOV5_ANCHORS = np.array(
    [
        [10, 13],
        [16, 30],
        [33, 23],
        [30, 61],
        [62, 45],
        [59, 119],
        [116, 90],
        [156, 198],
        [373, 326],
    ],
    dtype=np.float64,
)
"""YOLOv5's default P3-P5 anchors at 640 px."""


def label_sizes(ds: Dataset, img_size: int = 640) -> np.ndarray:
    """(N, 2) label widths and heights in px after resizing each image's long side to img_size.

    Zero-size and non-finite boxes are left out.

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["a"]); b.add_box(b.add_image("x.png", 1280, 640), [0, 0, 64, 32], 0)
        >>> label_sizes(b.build(), 640).tolist()
        [[32.0, 16.0]]
    """
    b = ds.boxes
    wh = b[:, 2:] - b[:, :2]
    ok = np.all(np.isfinite(wh), axis=1) & np.all(wh > 0, axis=1)
    long_side = np.maximum(ds.images.width, ds.images.height)[ds.image_index].astype(np.float64)
    return (wh * (img_size / long_side)[:, None])[ok]


def _ratio_metric(anchors: np.ndarray, wh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = wh[:, None, :] / anchors[None, :, :]
    x = np.minimum(r, 1.0 / r).min(axis=2)
    return x, x.max(axis=1)


@dataclass(frozen=True)
class AnchorAnalysis:
    """How well a set of anchors fits the labels.

    Attributes:
        anchors: (n, 2) anchors sorted by area.
        bpr: best possible recall at ``thr``.
        aat: anchors per target past ``1 / thr``.
        fitness: YOLOv5 anchor fitness (mean best-match metric of matched labels).
        metric_all: mean metric over all label-anchor pairs.
        best_mean: mean of each label's best metric.
        past_thr: mean metric of the pairs past ``1 / thr``.
        thr: the width/height ratio threshold.
    """

    anchors: np.ndarray
    bpr: float
    aat: float
    fitness: float
    metric_all: float
    best_mean: float
    past_thr: float
    thr: float

    def text(self, img_size: int, n_labels: int) -> str:
        """YOLOv5-like report lines.

        Example:
            >>> a = analyse_anchors(YOLOV5_ANCHORS, np.array([[12.0, 14.0]]))
            >>> a.text(640, 1).splitlines()[0]
            'thr=0.25: 1.0000 best possible recall, 3.00 anchors past thr'
        """
        anchors = ", ".join(f"{w:.0f},{h:.0f}" for w, h in self.anchors)
        return "\n".join(
            [
                f"thr={1 / self.thr:.2f}: {self.bpr:.4f} best possible recall, "
                f"{self.aat:.2f} anchors past thr",
                f"n={len(self.anchors)}, img_size={img_size}, labels={n_labels}, "
                f"metric_all={self.metric_all:.3f}/{self.best_mean:.3f}-mean/best, "
                f"past_thr={self.past_thr:.3f}-mean: {anchors}",
            ]
        )


def analyse_anchors(anchors: np.ndarray, wh: np.ndarray, thr: float = 4.0) -> AnchorAnalysis:
    """BPR, anchors/target and fitness of ``anchors`` for labels ``wh``.

    Example:
        >>> a = analyse_anchors(np.array([[10.0, 10.0]]), np.array([[10.0, 10.0], [50.0, 9.0]]))
        >>> a.bpr, a.aat
        (0.5, 0.5)
    """
    k = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    k = k[np.argsort(k.prod(axis=1), kind="stable")]
    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    if wh.shape[0] == 0:
        raise TilewiseError("no labels to analyse anchors against")
    x, best = _ratio_metric(k, wh)
    t = 1.0 / thr
    past = x[x > t]
    return AnchorAnalysis(
        anchors=k,
        bpr=float(np.mean(best > t)),
        aat=float(np.mean(x > t) * k.shape[0]),
        fitness=float(np.mean(best * (best > t))),
        metric_all=float(x.mean()),
        best_mean=float(best.mean()),
        past_thr=float(past.mean()) if past.size else 0.0,
        thr=thr,
    )


def _kmeans(data: np.ndarray, n: int, rng: np.random.Generator, iters: int = 30) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding (Euclidean, like scipy.cluster.vq.kmeans)."""
    centres = [data[rng.integers(len(data))]]
    for _ in range(1, n):
        d = np.min(((data[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        total = d.sum()
        p = d / total if total > 0 else None
        centres.append(data[rng.choice(len(data), p=p)])
    c = np.array(centres)
    for _ in range(iters):
        assign = ((data[:, None, :] - c[None]) ** 2).sum(-1).argmin(axis=1)
        new = np.array(
            [data[assign == j].mean(axis=0) if np.any(assign == j) else c[j] for j in range(n)]
        )
        if np.allclose(new, c):
            break
        c = new
    return c


@dataclass(frozen=True)
class AnchorResult:
    """Outcome of ``evolve_anchors``.

    Attributes:
        anchors: (n, 2) evolved anchors, sorted by area, in px at ``img_size``.
        before: analysis of the starting (reference) anchors, if any were given.
        after: analysis of the evolved anchors.
        labels: labels used.
        under_3px: labels with a side under 3 px at ``img_size``.
        img_size: the model input size.
        report: the printed report.
    """

    anchors: np.ndarray
    before: AnchorAnalysis | None
    after: AnchorAnalysis
    labels: int
    under_3px: int
    img_size: int
    report: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Example:
            >>> r = evolve_anchors(np.array([[10.0, 12.0]] * 20), n=1, generations=5,
            ...                    progress=False)
            >>> r.to_dict()["anchors"]
            [[10.0, 12.0]]
        """
        return {
            "anchors": np.round(self.anchors, 1).tolist(),
            "img_size": self.img_size,
            "labels": self.labels,
            "under_3px": self.under_3px,
            "bpr": self.after.bpr,
            "anchors_per_target": self.after.aat,
            "fitness": self.after.fitness,
            "before": None
            if self.before is None
            else {"bpr": self.before.bpr, "anchors_per_target": self.before.aat},
        }


def evolve_anchors(
    wh0: np.ndarray,
    *,
    n: int = 9,
    img_size: int = 640,
    thr: float = 4.0,
    generations: int = 1000,
    reference: np.ndarray | None = None,
    seed: int = 0,
    progress: bool = True,
) -> AnchorResult:
    """Compute anchors like YOLOv5's ``kmean_anchors``: k-means on whitened w/h, then evolve.

    Labels under 2 px on both sides are left out of the fit (as in YOLOv5); labels under
    3 px are counted and reported. The evolution mutates anchors (90 % of values, sigma
    0.1, clipped to x0.3-x3 and >= 2 px) and keeps a mutation when the fitness improves;
    the progress bar shows the fitness.

    Args:
        wh0: (N, 2) label widths/heights in px at ``img_size`` (see ``label_sizes``).
        n: number of anchors.
        img_size: model input size (for the report).
        thr: width/height ratio threshold (YOLOv5 ``anchor_t``).
        generations: evolution generations.
        reference: anchors to report before (e.g. ``YOLOV5_ANCHORS``).
        seed: random seed (results are reproducible).
        progress: show a progress bar.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> wh = np.concatenate([rng.normal(10, 1, (50, 2)), rng.normal(40, 3, (50, 2))])
        >>> r = evolve_anchors(wh, n=2, generations=50, progress=False)
        >>> np.round(r.anchors).tolist(), r.after.bpr
        ([[10.0, 10.0], [40.0, 40.0]], 1.0)
    """
    from tqdm.auto import tqdm

    wh0 = np.asarray(wh0, dtype=np.float64).reshape(-1, 2)
    if wh0.shape[0] == 0:
        raise TilewiseError("no labels: cannot compute anchors")
    rng = np.random.default_rng(seed)
    lines: list[str] = []
    under3 = int(np.sum((wh0 < 3.0).any(axis=1)))
    if under3:
        lines.append(
            f"WARNING: extremely small objects found: {under3} of {len(wh0)} labels are under "
            "3 pixels in size"
        )
    wh = wh0[(wh0 >= 2.0).any(axis=1)]
    if len(wh) < n:
        raise TilewiseError(f"{len(wh)} labels of 2 px or more: too few for {n} anchors")
    before = None
    if reference is not None:
        before = analyse_anchors(reference, wh0, thr)
        lines.append("reference anchors:")
        lines.append(before.text(img_size, len(wh0)))
    lines.append(f"running k-means for {n} anchors on {len(wh)} points...")
    s = wh.std(axis=0)
    s[s == 0] = 1.0
    k = _kmeans(wh / s, n, rng) * s
    if not np.all(np.isfinite(k)):
        k = np.sort(rng.random((n, 2)) * img_size, axis=0)
    k = np.clip(k, 2.0, None)

    # Log space: min(r, 1/r) over w and h is exp(-max(|dlog w|, |dlog h|)).
    log_w = np.log(wh[:, 0:1]).astype(np.float32)
    log_h = np.log(wh[:, 1:2]).astype(np.float32)
    log_t = np.float32(np.log(thr))

    def fitness(anchors: np.ndarray) -> float:
        la = np.log(anchors).astype(np.float32)
        d = np.maximum(np.abs(log_w - la[:, 0]), np.abs(log_h - la[:, 1])).min(axis=1)
        best = np.exp(-d[d < log_t])
        return float(best.sum() / len(d))

    f = fitness(k)
    mp, sigma = 0.9, 0.1
    bar = tqdm(range(generations), disable=not progress, desc="evolving anchors")
    for _ in bar:
        v = np.ones_like(k)
        while np.all(v == 1):
            v = (
                (rng.random(k.shape) < mp) * rng.random() * rng.standard_normal(k.shape) * sigma + 1
            ).clip(0.3, 3.0)
        kg = (k * v).clip(min=2.0)
        fg = fitness(kg)
        if fg > f:
            f, k = fg, kg
            bar.set_description(f"evolving anchors: fitness = {f:.4f}", refresh=False)
    bar.close()
    after = analyse_anchors(k, wh0, thr)
    lines.append("evolved anchors:")
    lines.append(after.text(img_size, len(wh0)))
    if after.bpr < 0.98:
        lines.append(
            f"note: best possible recall {after.bpr:.4f} < 0.98; labels too far from any "
            "anchor shape (tiny or extreme aspect ratios) will be hard to learn"
        )
    return AnchorResult(
        anchors=after.anchors,
        before=before,
        after=after,
        labels=len(wh0),
        under_3px=under3,
        img_size=int(img_size),
        report="\n".join(lines),
    )
