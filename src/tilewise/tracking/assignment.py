"""Minimum-cost assignment (the linear sum assignment problem), pure numpy.

A shortest-augmenting-path solver (Jonker-Volgenant / Crouse's variant, the algorithm
behind ``scipy.optimize.linear_sum_assignment``), with the inner loop over columns in
numpy. It needs no SciPy, and its tie rule is fixed and documented, so the tracker and
the tracking metrics give the same answer on every machine.

Forbidden pairs are ``inf`` (or ``nan``) in the cost matrix. The solver first matches as
many rows as the allowed pairs permit, then, among those matchings, minimises the total
cost; pairs that no full matching can avoid being forbidden are simply left out.

Problems that fall apart into independent blocks (as gated tracking costs do) are solved
block by block, which keeps large sparse problems fast.
"""

from __future__ import annotations

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["linear_assignment"]


def _solve_dense(cost: np.ndarray) -> np.ndarray:
    """``col4row`` of a finite (nr, nc) problem with ``nr <= nc``.

    Tie rule: among columns at the same shortest distance, an unassigned column wins over
    an assigned one, then the lowest column index wins.
    """
    nr, nc = cost.shape
    u = np.zeros(nr)
    v = np.zeros(nc)
    path = np.full(nc, -1, dtype=np.int64)
    col4row = np.full(nr, -1, dtype=np.int64)
    row4col = np.full(nc, -1, dtype=np.int64)
    for cur_row in range(nr):
        shortest = np.full(nc, np.inf)
        scanned_rows = np.zeros(nr, dtype=bool)
        scanned_cols = np.zeros(nc, dtype=bool)
        min_val = 0.0
        i = cur_row
        sink = -1
        while sink < 0:
            scanned_rows[i] = True
            reduced = min_val + cost[i] - u[i] - v
            better = (reduced < shortest) & ~scanned_cols
            path[better] = i
            shortest[better] = reduced[better]
            candidates = np.where(scanned_cols, np.inf, shortest)
            min_val = float(candidates.min())
            at_min = np.flatnonzero(candidates == min_val)
            free = at_min[row4col[at_min] < 0]
            j = int(free[0]) if free.size else int(at_min[0])
            scanned_cols[j] = True
            if row4col[j] < 0:
                sink = j
            else:
                i = int(row4col[j])
        u[cur_row] += min_val
        others = scanned_rows.copy()
        others[cur_row] = False
        rows = np.flatnonzero(others)
        u[rows] += min_val - shortest[col4row[rows]]
        v[scanned_cols] -= min_val - shortest[scanned_cols]
        j = sink
        while True:
            i = int(path[j])
            row4col[j] = i
            col4row[i], j = j, int(col4row[i])
            if i == cur_row:
                break
    return col4row


def _components(allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected-component labels of the rows and columns of a bipartite ``allowed`` graph.

    Label propagation: every node takes the smallest label among its neighbours until
    nothing changes (as many rounds as the longest path, few for gated tracking costs).
    A row or column with no allowed pair keeps a label of its own.
    """
    nr, nc = allowed.shape
    rows = np.arange(nr, dtype=np.int64)
    cols = np.full(nc, nr + nc, dtype=np.int64)
    big = np.int64(nr + nc)
    while True:
        new_cols = np.where(allowed, rows[:, None], big).min(axis=0, initial=big)
        new_cols = np.minimum(new_cols, cols)
        new_rows = np.minimum(np.where(allowed, new_cols[None, :], big).min(axis=1), rows)
        if np.array_equal(new_rows, rows) and np.array_equal(new_cols, cols):
            break
        rows, cols = new_rows, new_cols
    lonely = cols == big
    cols[lonely] = nr + np.flatnonzero(lonely)
    return rows, cols


def _solve_block(cost: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns matched in one block (forbidden pairs left out)."""
    transposed = cost.shape[0] > cost.shape[1]
    if transposed:
        cost, allowed = cost.T, allowed.T
    finite = cost[allowed]
    # a forbidden pair costs more than any matching of allowed pairs: the solver first
    # maximises the number of allowed pairs, then minimises their total cost
    spread = float(np.abs(finite).sum()) if finite.size else 0.0
    big = 2.0 * spread + 1.0
    dense = np.where(allowed, cost, big)
    col4row = _solve_dense(dense)
    rows = np.arange(dense.shape[0])
    keep = allowed[rows, col4row]
    rows, cols = rows[keep], col4row[keep]
    if transposed:
        rows, cols = cols, rows
    return rows, cols


def linear_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Match rows to columns at minimum total cost; ``inf``/``nan`` entries are forbidden.

    Each row and each column is used at most once. As many rows as the allowed pairs
    permit are matched (a maximum matching), and among those the total cost is minimal.
    Ties are broken deterministically (see the module docstring), so the result depends
    only on the matrix.

    Args:
        cost: (R, C) array of costs; any real values, ``inf`` or ``nan`` for forbidden.

    Returns:
        ``(rows, cols)``: int64 arrays of matched pairs, sorted by row.

    Raises:
        TilewiseError: ``cost`` is not two-dimensional.

    Example:
        >>> import numpy as np
        >>> rows, cols = linear_assignment(np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0]]))
        >>> rows.tolist(), cols.tolist()
        ([0, 1], [1, 0])
        >>> rows, cols = linear_assignment(np.array([[1.0, np.inf], [0.5, np.inf]]))
        >>> rows.tolist(), cols.tolist()
        ([1], [0])
    """
    arr = np.asarray(cost, dtype=np.float64)
    if arr.ndim != 2:
        raise TilewiseError(f"cost must be a 2-D matrix, got shape {arr.shape}")
    empty = np.zeros(0, dtype=np.int64)
    if arr.size == 0:
        return empty, empty.copy()
    allowed = np.isfinite(arr)
    if not allowed.any():
        return empty, empty.copy()
    if allowed.all():
        rows, cols = _solve_block(arr, allowed)
        order = np.argsort(rows, kind="stable")
        return rows[order].astype(np.int64), cols[order].astype(np.int64)
    row_labels, col_labels = _components(allowed)
    out_rows: list[np.ndarray] = []
    out_cols: list[np.ndarray] = []
    for label in np.unique(row_labels):
        r = np.flatnonzero(row_labels == label)
        c = np.flatnonzero(col_labels == label)
        if c.size == 0:
            continue
        block = np.ix_(r, c)
        br, bc = _solve_block(arr[block], allowed[block])
        out_rows.append(r[br])
        out_cols.append(c[bc])
    if not out_rows:
        return empty, empty.copy()
    rows = np.concatenate(out_rows).astype(np.int64)
    cols = np.concatenate(out_cols).astype(np.int64)
    order = np.argsort(rows, kind="stable")
    return rows[order], cols[order]
