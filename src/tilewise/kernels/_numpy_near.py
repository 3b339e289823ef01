"""Cached candidate rows of growing boxes for the NMM twin (``_numpy_nmm_batch``).

A group's box ``B`` grows a little at every step. Querying the index again at each
step costs the full query machinery each time; instead each group (a *slot*) queries once
with a reach box ``R``: ``B`` widened by ``REACH`` times its larger side on every side.
Every row intersecting ``B`` intersects ``R`` while ``B`` lies inside ``R``, so the
rows met by ``B`` are exactly the cached rows that pass the same strict intersection test
the index applies. A slot whose ``B`` leaves ``R`` queries again around the new ``B``.
Rows closed before the cache was made never reopen, so they are left out of it.
"""

from __future__ import annotations

import numpy as np

from tilewise.kernels._numpy_cell_index import CellIndex
from tilewise.kernels._numpy_grid import GridIndex, expand_ranges, intersects

__all__ = ["NearRows", "by_slot"]

REACH = 0.25
"""Widening of a reach box on every side, in units of the box's larger side."""

_SMALL_SLOTS = 1 << 15
"""Slot counts up to this are sorted as int16 (``by_slot``)."""


class NearRows:
    """Rows of an index near each of ``k`` slots, queried once per slot and reused.

    Args:
        index: the index over the rows (``CellIndex``, or any with ``query_all``).
        boxes: (m, 4) boxes of the indexed rows, by row id.
        alive: (m,) rows that may still matter; the others are never reported.
        seg: (k,) segment of each slot.
        area: (m,) area of each row (with ``least``).
        least: (k,) per slot, the least area a row may have to matter to it; smaller rows
            are never reported (default: none dropped).
    """

    def __init__(
        self,
        index: GridIndex | CellIndex,
        boxes: np.ndarray,
        alive: np.ndarray,
        seg: np.ndarray,
        area: np.ndarray | None = None,
        least: np.ndarray | None = None,
    ) -> None:
        k = seg.shape[0]
        self.index, self.boxes, self.alive, self.seg = index, boxes, alive, seg
        self.area, self.least = area, least
        self.reach = np.zeros((k, 4))
        self.start = np.zeros(k, dtype=np.int64)
        self.count = np.zeros(k, dtype=np.int64)
        self.have = np.zeros(k, dtype=bool)
        self.items = np.zeros(0, dtype=np.int64)
        self.item_boxes = np.zeros((0, 4))
        self.done = np.zeros(0, dtype=bool)  # per cached entry: skipped by ``meet``

    def _fill(self, slots: np.ndarray, big_b: np.ndarray) -> None:
        """Query the index around ``big_b`` for ``slots`` (distinct) and cache the rows.

        Each slot's rows (and their boxes) are stored together, in no particular order.
        """
        side = np.maximum(big_b[:, 2] - big_b[:, 0], big_b[:, 3] - big_b[:, 1])
        pad = REACH * side
        pad = np.where(pad > 0.0, pad, 0.0)[:, None]  # 0 * inf sides: no widening, not NaN
        reach = np.concatenate([big_b[:, :2] - pad, big_b[:, 2:] + pad], axis=1)
        qs, items = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        least = None if self.least is None else self.least[slots]
        for q, item in self.index.query_all(reach, self.seg[slots]):
            keep = self.alive[item]
            if least is not None:
                keep &= self.area[item] >= least[q]
            qs.append(q[keep])
            items.append(item[keep])
        q, item = np.concatenate(qs), np.concatenate(items)
        item = item[by_slot(q, slots.shape[0])]
        count = np.bincount(q, minlength=slots.shape[0])
        self.reach[slots] = reach
        self.count[slots] = count
        self.start[slots] = self.items.shape[0] + np.cumsum(count) - count
        self.have[slots] = True
        self.items = np.concatenate([self.items, item])
        self.item_boxes = np.concatenate([self.item_boxes, self.boxes[item]])
        self.done = np.concatenate([self.done, np.zeros(item.shape[0], dtype=bool)])

    def close(self, at: np.ndarray) -> None:
        """Skip the cached entries ``at`` (positions ``meet`` reported) from now on."""
        self.done[at] = True

    def reopen(self) -> None:
        """Report every cached entry again."""
        self.done[:] = False

    def meet(
        self, slots: np.ndarray, big_b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every ``(position in slots, alive row)`` whose box intersects ``big_b`` (strictly).

        Entries closed (``close``) are left out.

        Args:
            slots: (g,) distinct slots.
            big_b: (g, 4) their current boxes.

        Returns:
            ``(q, row, q_box, row_box, at)``: the pairs grouped by position (ascending;
            rows in no particular order), with ``big_b[q]``, the rows' boxes and their
            entries in the cache.
        """
        r = self.reach[slots]
        inside = (
            self.have[slots]
            & (r[:, 0] <= big_b[:, 0])
            & (r[:, 1] <= big_b[:, 1])
            & (big_b[:, 2] <= r[:, 2])
            & (big_b[:, 3] <= r[:, 3])
        )
        if not inside.all():
            out = np.flatnonzero(~inside)
            self._fill(slots[out], big_b[out])
        count = self.count[slots]
        pos = expand_ranges(self.start[slots], count)
        q = np.repeat(np.arange(slots.shape[0], dtype=np.int64), count)
        q_box = np.repeat(big_b, count, axis=0)
        row_box = self.item_boxes[pos]
        hit = np.flatnonzero(intersects(q_box, row_box) & ~self.done[pos])
        at = pos[hit]
        return q[hit], self.items[at], q_box[hit], row_box[hit], at


def by_slot(q: np.ndarray, k: int) -> np.ndarray:
    """The stable order that sorts slot numbers ``q`` (each below ``k``).

    Below ``2**15`` slots the numbers are sorted as int16, which numpy sorts by radix
    (linear time); the order is the same either way.

    Example:
        >>> by_slot(np.array([2, 0, 2, 1, 0]), 3).tolist()
        [1, 4, 3, 0, 2]
    """
    if k <= _SMALL_SLOTS:
        return np.argsort(q.astype(np.int16), kind="stable")
    return np.argsort(q, kind="stable")
