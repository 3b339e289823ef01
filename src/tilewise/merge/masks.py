"""Mask-aware merging: NMS, NMM and greedy NMM of Detections that carry ``CompactMasks``.

Two ways to decide which detections are duplicates (``MaskOverlap``):

- ``"box"`` (fast path): the box kernels of ``tilewise.kernels`` group the detections on
  box IoU/IoS exactly as without masks; then each group's masks are unioned.
- ``"mask"`` (exact): the same greedy rules on *mask* IoU/IoS, computed only for pairs
  whose crops overlap and only over the crops' intersection.

Either way the result is the merged Detections and a ``tilewise.kernels.MergeResult``
mapping every input to its survivor (``.groups()``, ``.members()``). NMS keeps the
survivors' masks; NMM and greedy NMM give each survivor the union of its group's masks
and the box enclosing the group's boxes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tilewise.choices import Choice
from tilewise.detections import Detections
from tilewise.errors import TilewiseError
from tilewise.kernels import MergeAction, MergeResult, Metric, MetricLike, enclosing_boxes
from tilewise.masks import (
    CompactMasks,
    candidate_pairs,
    mask_overlap,
    pairwise_intersection,
    union_groups,
)
from tilewise.merge.box_merge import merge_boxes
from tilewise.merge.method import MergeMethod, MergeMethodLike

__all__ = ["MaskOverlap", "MaskOverlapLike", "mask_merge_kernel", "merge_masked_detections"]


class MaskOverlap(Choice):
    """What decides that two masked detections are duplicates.

    ``BOX``: their boxes' overlap (then masks are unioned); ``MASK``: their masks' overlap.
    """

    BOX = "box"
    MASK = "mask"

    @classmethod
    def option_name(cls) -> str:
        """Name used in error messages.

        Example:
            >>> MaskOverlap.parse("Mask")
            <MaskOverlap.MASK: 'mask'>
        """
        return "mask_overlap"


MaskOverlapLike = MaskOverlap | str


def _threshold(value: Any, method: MergeMethod) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TilewiseError(f"threshold must be a number, got {value!r}")
    thr = float(value)
    lowest_open = method is not MergeMethod.NMS
    if not (0.0 < thr <= 1.0 if lowest_open else 0.0 <= thr <= 1.0):
        bounds = "(0, 1]" if lowest_open else "[0, 1]"
        raise TilewiseError(f"threshold must be in {bounds} for {method.value}, got {value!r}")
    return thr


def _adjacency(pairs: np.ndarray, n: int, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Directed CSR adjacency from each higher-ranked node to its lower-ranked partners."""
    a, b = pairs[:, 0], pairs[:, 1]
    hi = np.where(rank[a] < rank[b], a, b)
    lo = np.where(rank[a] < rank[b], b, a)
    order = np.lexsort((rank[lo], hi))
    hi, lo = hi[order], lo[order]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(hi, minlength=n), out=offsets[1:])
    return offsets, lo


def _suppress(
    n: int, order: np.ndarray, rank: np.ndarray, pairs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy suppression over a sparse graph: ``(keep, parent)`` in rank order."""
    offsets, nbrs = _adjacency(pairs, n, rank)
    dropped = np.zeros(n, dtype=bool)
    parent = np.arange(n, dtype=np.int64)
    heads = order[np.diff(offsets)[order] > 0]
    for i in heads.tolist():
        if dropped[i]:
            continue
        nb = nbrs[offsets[i] : offsets[i + 1]]
        nb = nb[~dropped[nb]]
        dropped[nb] = True
        parent[nb] = i
    return order[~dropped[order]], parent


def _grow(
    masks: CompactMasks,
    order: np.ndarray,
    rank: np.ndarray,
    pairs: np.ndarray,
    threshold: float,
    metric: Metric,
) -> tuple[np.ndarray, np.ndarray]:
    """NMM around a growing union mask: ``(keep, parent)``."""
    n = len(masks)
    both = np.concatenate([pairs, pairs[:, ::-1]])
    offsets, nbrs = _adjacency(both, n, np.zeros(n, dtype=np.int64))
    area = masks.area
    origin = masks._origin
    assigned = np.zeros(n, dtype=bool)
    parent = np.arange(n, dtype=np.int64)
    keep: list[int] = []
    crops: dict[int, np.ndarray] = {}

    def crop(i: int) -> np.ndarray:
        if i not in crops:
            crops[i] = masks.crop(i)
        return crops[i]

    for s in order.tolist():
        if assigned[s]:
            continue
        assigned[s] = True
        keep.append(s)
        cand = {int(u) for u in nbrs[offsets[s] : offsets[s + 1]] if not assigned[u]}
        if not cand:
            continue
        canvas = crop(s).copy()
        cx, cy = (int(v) for v in origin[s])
        area_m = int(area[s])
        while cand:
            best = -1
            for d in sorted(cand, key=lambda u: rank[u]):
                dc = crop(d)
                dx, dy = (int(v) for v in origin[d])
                x0, y0 = max(cx, dx), max(cy, dy)
                x1 = min(cx + canvas.shape[1], dx + dc.shape[1])
                y1 = min(cy + canvas.shape[0], dy + dc.shape[0])
                inter = 0
                if x1 > x0 and y1 > y0:
                    inter = int(
                        np.count_nonzero(
                            canvas[y0 - cy : y1 - cy, x0 - cx : x1 - cx]
                            & dc[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
                        )
                    )
                a_d = int(area[d])
                denom = area_m + a_d - inter if metric is Metric.IOU else min(area_m, a_d)
                if denom > 0 and inter / denom >= threshold:
                    best = d
                    break
            if best < 0:
                break
            cand.discard(best)
            assigned[best] = True
            parent[best] = s
            dc = crop(best)
            dx, dy = (int(v) for v in origin[best])
            nx0, ny0 = min(cx, dx), min(cy, dy)
            nx1 = max(cx + canvas.shape[1], dx + dc.shape[1])
            ny1 = max(cy + canvas.shape[0], dy + dc.shape[0])
            grown = np.zeros((ny1 - ny0, nx1 - nx0), dtype=bool)
            grown[cy - ny0 : cy - ny0 + canvas.shape[0], cx - nx0 : cx - nx0 + canvas.shape[1]] = (
                canvas
            )
            grown[dy - ny0 : dy - ny0 + dc.shape[0], dx - nx0 : dx - nx0 + dc.shape[1]] |= dc
            canvas, cx, cy = grown, nx0, ny0
            area_m = int(np.count_nonzero(canvas))
            cand.update(int(u) for u in nbrs[offsets[best] : offsets[best + 1]] if not assigned[u])
    return np.asarray(keep, dtype=np.int64), parent


def mask_merge_kernel(
    masks: CompactMasks,
    confidence: Any,
    class_id: Any = None,
    *,
    method: MergeMethodLike = "nms",
    threshold: float = 0.5,
    metric: MetricLike = "iou",
    class_agnostic: bool = False,
) -> MergeResult:
    """Group detections on *mask* overlap, with the rules of the box kernels.

    Rank order is descending confidence, ties by index. ``nms``: a detection is
    suppressed when its mask metric with a kept one of its class is ``> threshold``.
    ``greedy_nmm``: each keeper absorbs the later unassigned detections whose metric
    with its own mask is ``>= threshold``. ``nmm``: the most confident unassigned
    detection seeds a group; repeatedly the most confident unassigned one whose metric
    with the group's *union mask* is ``>= threshold`` joins. Only pairs whose crops
    overlap are evaluated.

    Args:
        masks: the detections' masks.
        confidence: (N,) finite scores.
        class_id: (N,) classes; None puts all detections in one class.
        method: ``"nms"``, ``"nmm"`` or ``"greedy_nmm"``.
        threshold: overlap threshold ([0, 1] for nms, (0, 1] otherwise).
        metric: ``"iou"`` or ``"ios"`` (intersection over the smaller mask).
        class_agnostic: let detections of different classes merge.

    Returns:
        MergeResult with ``order`` set.

    Example:
        >>> import numpy as np
        >>> m = CompactMasks.from_crops([np.ones((4, 4), bool)] * 3, [(0, 0), (1, 0), (9, 9)])
        >>> r = mask_merge_kernel(m, [0.5, 0.9, 0.7], method="nms", threshold=0.5)
        >>> r.keep.tolist(), r.parent.tolist()
        ([1, 2], [1, 1, 2])
    """
    m = MergeMethod.parse(method)
    if m not in (MergeMethod.NMS, MergeMethod.NMM, MergeMethod.GREEDY_NMM):
        raise TilewiseError(f"mask merging supports nms, nmm and greedy_nmm, not {m.value!r}")
    if not isinstance(masks, CompactMasks):
        raise TilewiseError(f"masks must be CompactMasks, got {type(masks).__name__}")
    thr = _threshold(threshold, m)
    met = Metric.parse(metric)
    n = len(masks)
    conf = np.asarray(confidence, dtype=np.float64)
    if conf.shape != (n,) or not np.isfinite(conf).all():
        raise TilewiseError(f"confidence must be ({n},) finite values")
    classes = None
    if class_id is not None and not class_agnostic:
        classes = np.asarray(class_id)
        if classes.shape != (n,):
            raise TilewiseError(f"class_id must have shape ({n},)")
    order = np.argsort(-conf, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    pairs = candidate_pairs(masks, classes, class_agnostic=classes is None)
    if m is MergeMethod.NMM:
        inter = pairwise_intersection(masks, pairs)
        keep, parent = _grow(masks, order, rank, pairs[inter > 0], thr, met)
        return MergeResult(keep, parent, MergeAction.MERGED, order)
    value = mask_overlap(masks, pairs, met)
    hit = value > thr if m is MergeMethod.NMS else value >= thr
    keep, parent = _suppress(n, order, rank, pairs[hit])
    action = MergeAction.SUPPRESSED if m is MergeMethod.NMS else MergeAction.MERGED
    return MergeResult(keep, parent, action, order)


def merge_masked_detections(
    det: Detections,
    method: MergeMethodLike,
    *,
    threshold: float = 0.5,
    metric: MetricLike = "iou",
    class_agnostic: bool = False,
    mask_overlap: MaskOverlapLike = "mask",
) -> tuple[Detections, MergeResult]:
    """Merge duplicate detections that carry ``CompactMasks``; masks are merged too.

    Output rows follow ``result.keep``. ``nms`` keeps the survivors as they are;
    ``nmm`` and ``greedy_nmm`` give each survivor the box enclosing its group, the union
    of the group's masks (built crop-locally), and its own confidence, class and data.

    Args:
        det: detections with ``CompactMasks`` masks and finite boxes and confidences.
        method: ``"none"``, ``"nms"``, ``"nmm"`` or ``"greedy_nmm"`` (``"wbf"`` does not
            define how masks fuse and is refused).
        threshold: overlap threshold of the method.
        metric: ``"iou"`` or ``"ios"``.
        class_agnostic: let detections of different classes merge.
        mask_overlap: ``"mask"`` decides on mask overlap (exact); ``"box"`` on box
            overlap with the box kernels, then unions masks (fast path).

    Returns:
        ``(merged, result)`` where ``result`` maps every input row to its survivor.

    Raises:
        TilewiseError: no masks, masks not ``CompactMasks``, wbf, or bad parameters.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> dense = np.zeros((2, 8, 12), dtype=bool)
        >>> dense[0, 2:6, 1:6] = True
        >>> dense[1, 2:6, 4:9] = True
        >>> det = Detections(np.array([[1, 2, 6, 6], [4, 2, 9, 6]]), [0.9, 0.8], masks=dense)
        >>> out, res = merge_masked_detections(det, "nmm", threshold=0.2)
        >>> out.xyxy.tolist(), out.masks.area.tolist(), res.parent.tolist()
        ([[1.0, 2.0, 9.0, 6.0]], [32], [0, 0])
    """
    m = MergeMethod.parse(method)
    mode = MaskOverlap.parse(mask_overlap)
    if not isinstance(det, Detections):
        raise TilewiseError(f"merge_masked_detections takes Detections, got {type(det).__name__}")
    if not isinstance(det.masks, CompactMasks):
        raise TilewiseError("merge_masked_detections needs Detections with CompactMasks masks")
    if m is MergeMethod.WBF:
        raise TilewiseError(
            "wbf averages boxes and does not define how masks fuse; "
            "use nms, nmm or greedy_nmm with masks"
        )
    if m is MergeMethod.NONE:
        return det, MergeResult.identity(len(det))
    if mode is MaskOverlap.BOX:
        bare = Detections(det.xyxy, det.confidence, det.class_id, data=det.data)
        merged, result = merge_boxes(
            bare, m, threshold=threshold, metric=metric, class_agnostic=class_agnostic
        )
        if m is MergeMethod.NMS:
            out = Detections(
                merged.xyxy,
                merged.confidence,
                merged.class_id,
                masks=det.masks[result.keep],
                data=merged.data,
                georef=det.georef,
            )
            return out, result
        offsets, members = result.members()
        unions = union_groups(det.masks, offsets, members)
        out = Detections(
            merged.xyxy,
            merged.confidence,
            merged.class_id,
            masks=unions,
            data=merged.data,
            georef=det.georef,
        )
        return out, result
    if not (np.isfinite(det.xyxy).all() and np.isfinite(det.confidence).all()):
        raise TilewiseError("boxes and confidences must be finite (Detections.finite_mask)")
    result = mask_merge_kernel(
        det.masks,
        det.confidence,
        det.class_id,
        method=m,
        threshold=threshold,
        metric=metric,
        class_agnostic=class_agnostic,
    )
    survivors = det[result.keep]
    if m is MergeMethod.NMS:
        return survivors, result
    offsets, members = result.members()
    out = Detections(
        enclosing_boxes(det.xyxy, result),
        survivors.confidence,
        survivors.class_id,
        masks=union_groups(det.masks, offsets, members),
        data=survivors.data,
        georef=det.georef,
    )
    return out, result
