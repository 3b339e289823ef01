"""NMM for the numpy kernels: ``run_nmm`` of ``_native.c``, per component.

In the C routine the most confident open row seeds a group with box ``B``; repeatedly the
smallest-rank open row that intersects ``B``, lies in ``B``'s area window and has
``metric(B, row) >= thr`` joins, and ``B`` becomes the enclosing box of both. While ``B``
does not change, rows found failing keep failing, so from the passing rows (in rank order)
every one up to and including the first that enlarges ``B`` joins at once; then ``B`` is
enlarged and the rows are evaluated again. A group whose passing rows all lie inside ``B``
is complete. (Rows once below the window's lower bound stay below: it only grows.)

Groups never leave their component (``_numpy_components``), so all small components step
in lockstep, one group step each per round; the large ones go through rounds of seeds
(``_numpy_nmm_batch``).
"""

from __future__ import annotations

import numpy as np

from tilewise.kernels._numpy_components import components, grouped
from tilewise.kernels._numpy_grid import (
    area_of,
    area_window,
    expand_ranges,
    intersects,
    overlap_of,
)
from tilewise.kernels._numpy_nmm_batch import nmm_batched

__all__ = ["nmm"]

SMALL = 256
"""Components up to this size step in lockstep (each round costs their full size)."""


def nmm(boxes: np.ndarray, seg: np.ndarray, metric: int, thr: float) -> np.ndarray:
    """Parent row (absolute) of every row under NMM."""
    n = boxes.shape[0]
    parent = np.arange(n, dtype=np.int64)
    area = area_of(boxes)
    rows = np.flatnonzero(area > 0.0)
    if rows.shape[0] < 2:
        return parent
    label = components(boxes[rows], seg[rows], np.zeros(rows.shape[0]), whole_dense=True)
    order, starts, sizes = grouped(label)
    members = rows[order]
    small = (sizes > 1) & (sizes <= SMALL)
    sel = expand_ranges(starts[small], sizes[small])
    local_starts = np.cumsum(sizes[small]) - sizes[small]
    _lockstep(members[sel], local_starts, sizes[small], boxes, area, metric, thr, parent)
    large = sizes > SMALL
    big = np.sort(members[expand_ranges(starts[large], sizes[large])])
    if big.shape[0]:
        nmm_batched(big, boxes, area, seg, metric, thr, parent)
    return parent


def _lockstep(
    mrow: np.ndarray,
    starts: np.ndarray,
    sizes: np.ndarray,
    boxes: np.ndarray,
    area: np.ndarray,
    metric: int,
    thr: float,
    parent: np.ndarray,
) -> None:
    """Run NMM over many small components at once, one group step per component per round."""
    if mrow.shape[0] == 0:
        return
    mbox, marea = boxes[mrow], area[mrow]
    taken = np.zeros(mrow.shape[0], dtype=bool)
    ncomp = starts.shape[0]
    seed = starts.copy()
    taken[seed] = True
    big_b = mbox[seed].copy()
    a_b = area_of(big_b)
    lo, hi = area_window(a_b, metric, thr)
    active = np.arange(ncomp)
    while active.shape[0]:
        sz = sizes[active]
        flat = expand_ranges(starts[active], sz)
        owner = np.repeat(np.arange(active.shape[0]), sz)
        comp = active[owner]
        box = mbox[flat]
        ok = ~taken[flat] & intersects(box, big_b[comp])
        ok &= (marea[flat] >= lo[comp]) & (marea[flat] <= hi[comp])
        idx = np.flatnonzero(ok)
        m = overlap_of(big_b[comp[idx]], a_b[comp[idx]], box[idx], marea[flat[idx]], metric)
        cand = idx[m >= thr]
        grows = _grows(box[cand], big_b[comp[cand]])
        g_owner, g_first = np.unique(owner[cand[grows]], return_index=True)
        limit = np.full(active.shape[0], np.iinfo(np.int64).max)
        limit[g_owner] = cand[grows][g_first]
        join = cand[cand <= limit[owner[cand]]]
        taken[flat[join]] = True
        parent[mrow[flat[join]]] = mrow[seed[comp[join]]]
        grown = active[g_owner]
        gbox = box[limit[g_owner]]
        big_b[grown, :2] = np.minimum(big_b[grown, :2], gbox[:, :2])
        big_b[grown, 2:] = np.maximum(big_b[grown, 2:], gbox[:, 2:])
        a_b[grown] = area_of(big_b[grown])
        lo[grown], hi[grown] = area_window(a_b[grown], metric, thr)
        idle = np.ones(active.shape[0], dtype=bool)
        idle[g_owner] = False
        active = np.concatenate([grown, _next_seeds(active, idle, owner, flat, taken, seed)])
        fresh = active[grown.shape[0] :]
        taken[seed[fresh]] = True
        big_b[fresh] = mbox[seed[fresh]]
        a_b[fresh] = marea[seed[fresh]]
        lo[fresh], hi[fresh] = area_window(a_b[fresh], metric, thr)
        active.sort()


def _next_seeds(
    active: np.ndarray,
    idle: np.ndarray,
    owner: np.ndarray,
    flat: np.ndarray,
    taken: np.ndarray,
    seed: np.ndarray,
) -> np.ndarray:
    """Point each idle component's seed at its first open member; return those that have one."""
    open_pos = np.flatnonzero(idle[owner] & ~taken[flat])
    o, first = np.unique(owner[open_pos], return_index=True)
    chosen = active[o]
    seed[chosen] = flat[open_pos[first]]
    return chosen


def _grows(box: np.ndarray, big_b: np.ndarray) -> np.ndarray:
    """Rows whose box reaches outside ``big_b`` on some side."""
    return (
        (box[:, 0] < big_b[:, 0])
        | (box[:, 1] < big_b[:, 1])
        | (box[:, 2] > big_b[:, 2])
        | (box[:, 3] > big_b[:, 3])
    )
