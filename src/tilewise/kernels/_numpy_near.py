"""Cached candidate rows of growing boxes for the NMM twin (``_numpy_nmm_batch``).

A group's box ``B`` grows a little at every step. Querying the grid index again at each
step costs the full query machinery each time; instead each group (a *slot*) queries once
with a reach box ``R``: ``B`` widened by ``REACH`` times its larger side on every side.
Every row intersecting ``B`` intersects ``R`` while ``B`` lies inside ``R``, so the
rows met by ``B`` are exactly the cached rows that pass the same strict intersection test
the index applies. A slot whose ``B`` leaves ``R`` queries again around the new ``B``.
Rows closed before the cache was made never reopen, so they are left out of it.
"""

from __future__ import annotations

import numpy as np

from tilewise.kernels._numpy_grid import GridIndex, expand_ranges, intersects

__all__ = ["NearRows"]

REACH = 0.25
"""Widening of a reach box on every side, in units of the box's larger side."""


class NearRows:
    """Rows of an index near each of ``k`` slots, queried once per slot and reused.

    Args:
        index: the grid index over the rows.
        boxes: (m, 4) boxes of the indexed rows, by row id.
        alive: (m,) rows that may still matter; the others are never reported.
        seg: (k,) segment of each slot.
    """

    def __init__(
        self, index: GridIndex, boxes: np.ndarray, alive: np.ndarray, seg: np.ndarray
    ) -> None:
        k = seg.shape[0]
        self.index, self.boxes, self.alive, self.seg = index, boxes, alive, seg
        self.reach = np.zeros((k, 4))
        self.start = np.zeros(k, dtype=np.int64)
        self.count = np.zeros(k, dtype=np.int64)
        self.have = np.zeros(k, dtype=bool)
        self.items = np.zeros(0, dtype=np.int64)

    def _fill(self, slots: np.ndarray, big_b: np.ndarray) -> None:
        """Query the index around ``big_b`` for ``slots`` (distinct) and cache the rows."""
        side = np.maximum(big_b[:, 2] - big_b[:, 0], big_b[:, 3] - big_b[:, 1])
        pad = REACH * side
        pad = np.where(pad > 0.0, pad, 0.0)[:, None]  # 0 * inf sides: no widening, not NaN
        reach = np.concatenate([big_b[:, :2] - pad, big_b[:, 2:] + pad], axis=1)
        qs, items = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for q, item in self.index.query_all(reach, self.seg[slots]):
            keep = self.alive[item]
            qs.append(q[keep])
            items.append(item[keep])
        q, item = np.concatenate(qs), np.concatenate(items)
        order = np.lexsort((item, q))
        count = np.bincount(q, minlength=slots.shape[0])
        self.reach[slots] = reach
        self.count[slots] = count
        self.start[slots] = self.items.shape[0] + np.cumsum(count) - count
        self.have[slots] = True
        self.items = np.concatenate([self.items, item[order]])

    def meet(self, slots: np.ndarray, big_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every ``(position in slots, alive row)`` whose box intersects ``big_b`` (strictly).

        The pairs come sorted by position, then by row.

        Args:
            slots: (g,) distinct slots.
            big_b: (g, 4) their current boxes.
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
        row = self.items[pos]
        hit = intersects(big_b[q], self.boxes[row])
        return q[hit], row[hit]
