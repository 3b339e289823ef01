"""Independent components for the NMM and WBF twins (``tilewise.kernels._numpy``).

A component is a set of boxes of one segment whose bounding box, widened by a slack, meets
(positive width and height) no box of another component. NMM's growing box is the
enclosing box of group members, and WBF's fused box stays within the members' bounding
box up to rounding (the slack), so a group or cluster never reaches outside its component:
components can be processed independently, in any order, with the same result.

Components come from a vectorised union-find: first every pair of widened boxes that meet
(exact duplicates once, all pairs at once from ``_numpy_cells``) is joined, then the
widened bounding boxes of the components that grew are queried against a cell-table
index (``_numpy_cell_index``) until no query reaches a foreign box.

A segment is itself independent of the others, so labelling a whole segment as one
component is always exact. ``components`` does so, skipping the union-find, for segments
that are dense (``dense_segments``): their boxes cover their extent about once or more, so
the closure would chain them into one component anyway, at the cost of many rounds of
ever larger queries.
"""

from __future__ import annotations

import numpy as np

from tilewise.kernels._numpy_cell_index import CellIndex
from tilewise.kernels._numpy_cells import intersecting_pairs
from tilewise.kernels._numpy_grid import intersects

__all__ = ["DENSE_COVER", "DENSE_ROWS", "components", "dense_segments", "grouped", "interleaved"]

DENSE_COVER = 1.0
"""Summed box area over the area of the segment's bounding box from which it is dense."""

DENSE_ROWS = 4096
"""Rows a segment needs before it may count as dense (smaller ones split cheaply)."""


def components(
    boxes: np.ndarray, seg: np.ndarray, slack: np.ndarray, whole_dense: bool = False
) -> np.ndarray:
    """Component label (a member's position) of each of m boxes of positive area.

    Args:
        boxes: (m, 4) boxes.
        seg: (m,) segments (ascending with ``whole_dense``); components never span two.
        slack: (m,) widening applied to a component's bounding box (per segment).
        whole_dense: label every dense segment (``dense_segments``) as one component.
    """
    if whole_dense and boxes.shape[0]:
        starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
        sizes = np.diff(np.r_[starts, seg.shape[0]])
        whole = np.repeat(dense_segments(boxes, starts), sizes)
        if whole.any():
            label = np.repeat(starts, sizes)
            rest = np.flatnonzero(~whole)
            label[rest] = rest[components(boxes[rest], seg[rest], slack[rest])]
            return label
    m = boxes.shape[0]
    order = _lexicographic(boxes, seg)
    sb, ss = boxes[order], seg[order]
    new = np.ones(m, dtype=bool)
    new[1:] = (sb[1:] != sb[:-1]).any(axis=1) | (ss[1:] != ss[:-1])
    distinct = order[new]
    lab = _closure(boxes[distinct], seg[distinct], slack[distinct])
    label = np.empty(m, dtype=np.int64)
    label[order] = distinct[lab[np.cumsum(new) - 1]]
    return label


def _lexicographic(boxes: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Stable order by (segment, x1, y1, x2, y2), as ``np.lexsort`` of the five gives it.

    Sorting by (segment, x1) first and then only the runs that tie on both by the other
    three keys costs a fraction of the five-key sort: ties are few.
    """
    order = np.lexsort((boxes[:, 0], seg))
    x1, s = boxes[order, 0], seg[order]
    tie = (x1[1:] == x1[:-1]) & (s[1:] == s[:-1])
    if tie.any():
        run = np.cumsum(np.r_[True, ~tie])  # run of equal (segment, x1) of each position
        size = np.bincount(run)
        multi = np.flatnonzero(size[run] > 1)
        b = boxes[order[multi]]
        order[multi] = order[multi][np.lexsort((b[:, 3], b[:, 2], b[:, 1], run[multi]))]
    return order


def dense_segments(boxes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Which runs of rows (a segment each, from ``starts``) are dense.

    A run is dense when it holds at least ``DENSE_ROWS`` boxes whose summed area reaches
    ``DENSE_COVER`` times the area of their bounding box.
    """
    sizes = np.diff(np.r_[starts, boxes.shape[0]])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    cover = np.add.reduceat(area, starts)
    width = np.maximum.reduceat(boxes[:, 2], starts) - np.minimum.reduceat(boxes[:, 0], starts)
    height = np.maximum.reduceat(boxes[:, 3], starts) - np.minimum.reduceat(boxes[:, 1], starts)
    return (sizes >= DENSE_ROWS) & (cover >= DENSE_COVER * (width * height))


def interleaved(seg: np.ndarray) -> np.ndarray:
    """Positions of ascending ``seg`` taken one per segment in turn (order kept inside each).

    Segments never interact, so a routine that walks rows in this order in rounds of
    consecutive rows works on every segment at once, each in its own rank order.

    Example:
        >>> interleaved(np.array([0, 0, 0, 1, 2, 2])).tolist()
        [0, 3, 4, 1, 5, 2]
    """
    m = seg.shape[0]
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    sizes = np.diff(np.r_[starts, m])
    inside = np.arange(m, dtype=np.int64) - np.repeat(starts, sizes)
    return np.lexsort((np.arange(m), inside))


def grouped(label: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions grouped by label (stable), with each group's start and size."""
    order = np.argsort(label, kind="stable")
    sorted_label = label[order]
    starts = np.flatnonzero(np.r_[True, sorted_label[1:] != sorted_label[:-1]])
    sizes = np.diff(np.r_[starts, label.shape[0]])
    return order, starts, sizes


def _closure(boxes: np.ndarray, seg: np.ndarray, slack: np.ndarray) -> np.ndarray:
    """Union-find labels (root position) closed under widened-bounding-box contact."""
    d = boxes.shape[0]
    lab = np.arange(d, dtype=np.int64)
    # first round: the pairs of widened boxes that meet, kept where one widened box meets
    # the other plain box
    wide = _widen(boxes, slack)
    touched = [np.zeros(0, dtype=np.int64)]
    for i, j in intersecting_pairs(wide, seg):
        if slack.any():  # without slack every pair found meets already
            meet = intersects(wide[i], boxes[j]) | intersects(wide[j], boxes[i])
            i, j = i[meet], j[meet]
        touched.append(_union(lab, i, j))
    index = None
    while True:
        joined = np.zeros(d, dtype=bool)
        joined[lab[np.concatenate(touched)]] = True
        roots = np.flatnonzero(joined)  # sorted, as np.unique gives them, without a sort
        if roots.shape[0] == 0:
            return lab
        index = CellIndex(boxes, seg) if index is None else index
        qbox = _widen(_bounds(boxes, lab)[roots], slack[roots])
        touched = [np.zeros(0, dtype=np.int64)]
        for qpos, items in index.query_all(qbox, seg[roots]):
            touched.append(_union(lab, roots[qpos], items))


def _widen(boxes: np.ndarray, slack: np.ndarray) -> np.ndarray:
    """Boxes grown by ``slack`` on every side."""
    s = slack[:, None]
    return np.concatenate([boxes[:, :2] - s, boxes[:, 2:] + s], axis=1)


def _bounds(boxes: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Bounding box of every component, indexed by root position (other rows: garbage)."""
    out = boxes.copy()
    np.minimum.at(out[:, 0], lab, boxes[:, 0])
    np.minimum.at(out[:, 1], lab, boxes[:, 1])
    np.maximum.at(out[:, 2], lab, boxes[:, 2])
    np.maximum.at(out[:, 3], lab, boxes[:, 3])
    return out


def _union(lab: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Join the components of each pair ``(u, v)``; return the roots that were joined."""
    touched = [np.zeros(0, dtype=np.int64)]
    while u.shape[0]:
        ru, rv = lab[u], lab[v]
        differ = ru != rv
        ru, rv = ru[differ], rv[differ]
        if ru.shape[0] == 0:
            break
        touched += [ru, rv]
        np.minimum.at(lab, np.maximum(ru, rv), np.minimum(ru, rv))
        _compress(lab)
        u, v = ru, rv
    return np.concatenate(touched)


def _compress(lab: np.ndarray) -> None:
    """Point every row straight at its root."""
    while True:
        nxt = lab[lab]
        if np.array_equal(nxt, lab):
            return
        lab[:] = nxt
