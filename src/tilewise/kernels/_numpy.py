"""Pure-numpy twin of ``tilewise.kernels._native``: same inputs, bit-identical results.

``group`` runs NMS, greedy NMM, NMM or WBF over rank-ordered float64 boxes split into
segments and writes each row's survivor row into ``parent``; ``pairs`` lists the
intersecting pairs of every segment. The semantics are those of ``_native.c``:

- only participants (area > 0) match anything; a candidate must intersect with positive
  width and height (strict ``<``), and with IoU its area must lie in the C prefilter's
  window (``thr * a * (1 - 1e-9)`` to ``a / thr * (1 + 1e-9)``). The window is kept on
  purpose: with exact float64 arithmetic it never drops a match, but for subnormal areas
  it could, and the twin must agree with C there too;
- overlaps use the same float64 operations in the same order (``_numpy_grid``): widths
  ``min(x2) - max(x1)`` clipped at zero, IoU ``inter / ((a + b) - inter)``, IoS
  ``inter / min(a, b)``, 0 when the denominator is not positive. Numpy's elementwise
  float64 operations round each step exactly as C without contraction does;
- NMS takes ``> thr``, greedy NMM and NMM ``>= thr``, WBF ``> thr`` with ties to the
  smallest rank, its sums accumulated in rank order.

Nothing forms an N x N matrix. ``pairs`` and the one-pass NMS and greedy NMM take every
intersecting pair at once from grids of cells, in chunks of bounded size (``_numpy_cells``);
other candidates come from a grid index queried in rounds of bounded size
(``_numpy_grid``; NMM's components and growing groups use the cell tables of
``_numpy_cell_index``). NMS and greedy NMM settle survivors per round of sources
(``_numpy_suppress``); NMM and WBF split each segment into independent components whose
(slightly widened) bounding boxes meet no other component's box (a dense segment is
taken whole), then run all small components in lockstep and the large ones in rounds over
a local index, all segments at once (``_numpy_components``, ``_numpy_nmm``,
``_numpy_wbf``). The order in which candidates are
found never matters: every decision is a minimum over ranks or a maximum over overlaps.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from tilewise.kernels._numpy_cells import intersecting_pairs
from tilewise.kernels._numpy_grid import area_of, inter_of
from tilewise.kernels._numpy_nmm import nmm
from tilewise.kernels._numpy_suppress import suppress
from tilewise.kernels._numpy_wbf import wbf

__all__ = ["group", "pairs"]

MODE_NMS = 0
MODE_GREEDY_NMM = 1
MODE_NMM = 2
MODE_WBF = 3
METRIC_IOU = 0
METRIC_IOS = 1

_INT32_MAX = 2**31 - 1
_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE


def group(
    boxes: Any,
    confidence: Any,
    offsets: Any,
    parent: Any,
    mode: int,
    metric: int,
    threshold: float,
) -> None:
    """Greedy grouping over rank-ordered float64 boxes split into segments.

    Args:
        boxes: n*4 float64 buffer (rows sorted by segment, then by rank).
        confidence: n float64 buffer (read in WBF mode only).
        offsets: int64 segment bounds (nseg + 1).
        parent: writable n int64 buffer; receives the row of each row's survivor.
        mode: 0 NMS, 1 greedy NMM, 2 NMM, 3 WBF.
        metric: 0 IoU, 1 IoS.
        threshold: overlap threshold.

    Raises:
        ValueError: buffer sizes that do not match, an unknown mode or metric, bad
            segment offsets, or a non-contiguous ndarray (same messages as ``_native.group``).
        TypeError: ``parent`` not a writable contiguous buffer, or an argument without one.
    """
    bx, cf, of = _raw(boxes), _raw(confidence), _raw(offsets)
    pa = _raw(parent, writable=4)
    mode, metric, thr = operator.index(mode), operator.index(metric), float(threshold)
    n = bx.shape[0] // 32
    if (
        bx.shape[0] % 32
        or cf.shape[0] != n * 8
        or of.shape[0] % 8
        or of.shape[0] < 8
        or pa.shape[0] != n * 8
    ):
        raise ValueError("group: buffer sizes do not match")
    if not MODE_NMS <= mode <= MODE_WBF or metric not in (METRIC_IOU, METRIC_IOS):
        raise ValueError("group: unknown mode or metric")
    off = of.view(np.int64)
    if not _good_offsets(off, n):
        raise ValueError("group: bad segment offsets")
    b = bx.view(np.float64).reshape(n, 4)
    seg = _segment_ids(off, n)
    if mode in (MODE_NMS, MODE_GREEDY_NMM):
        out = suppress(b, seg, metric, thr, strict=mode == MODE_NMS)
    elif mode == MODE_NMM:
        out = nmm(b, seg, metric, thr)
    else:
        out = wbf(b, cf.view(np.float64), seg, metric, thr)
    pa.view(np.int64)[:] = out


def pairs(boxes: Any, offsets: Any) -> np.ndarray:
    """Rows ``(i, j)``, ``i < j``, of one segment whose boxes have positive intersection area.

    Args:
        boxes: n*4 float64 buffer, rows sorted by segment.
        offsets: int64 segment bounds (nseg + 1).

    Returns:
        (P, 2) int64 pairs sorted lexicographically (the rows of ``_native.pairs``' bytes).

    Raises:
        ValueError: buffer sizes that do not match, bad segment offsets or a
            non-contiguous ndarray (same messages as ``_native.pairs``).
    """
    bx, of = _raw(boxes), _raw(offsets)
    if bx.shape[0] % 32 or of.shape[0] % 8 or of.shape[0] < 8:
        raise ValueError("pairs: buffer sizes do not match")
    n = bx.shape[0] // 32
    off = of.view(np.int64)
    if not _good_offsets(off, n):
        raise ValueError("pairs: bad segment offsets")
    b = bx.view(np.float64).reshape(n, 4)
    rows = np.flatnonzero(area_of(b) > 0.0)
    seg = _segment_ids(off, n)[rows]
    found = [np.zeros(0, dtype=np.int64)]
    for i, j in intersecting_pairs(b[rows], seg):
        i, j = rows[i], rows[j]
        keep = inter_of(b[i], b[j]) > 0.0
        found.append(i[keep] * n + j[keep])
    key = np.sort(np.concatenate(found))
    return np.ascontiguousarray(np.stack([key // max(n, 1), key % max(n, 1)], axis=1))


def _raw(obj: Any, writable: int = 0) -> np.ndarray:
    """The bytes of a C-contiguous buffer as a uint8 array (a view).

    The buffer is requested as ``_native``'s ``y*`` does (``np.frombuffer`` asks for a
    simple, C-contiguous one), so a bad argument raises what the C extension raises: a
    non-contiguous ndarray ``ValueError: ndarray is not C-contiguous``, a non-contiguous
    memoryview ``BufferError``, an object without a buffer ``TypeError``. With
    ``writable`` (the argument's position) the buffer must be writable and contiguous,
    else ``TypeError``, worded as ``w*`` words it.
    """
    try:
        arr = np.frombuffer(obj, np.uint8)
    except (ValueError, BufferError, TypeError):
        if not writable:
            raise
        arr = None
    if writable and (arr is None or not arr.flags.writeable):
        raise TypeError(
            f"argument {writable} must be read-write bytes-like object, not {_type_name(obj)}"
        )
    return arr


def _type_name(obj: Any) -> str:
    """The type's C ``tp_name`` as CPython's argument errors print it (``numpy.ndarray``).

    A type defined in C carries its module in ``tp_name`` (builtins excepted: ``bytes``); a
    class defined in Python (a heap type) carries its bare name; None is ``None``.
    """
    if obj is None:
        return "None"
    cls = type(obj)
    if cls.__flags__ & _HEAP_TYPE or cls.__module__ == "builtins":
        return cls.__name__
    return f"{cls.__module__}.{cls.__name__}"


def _good_offsets(off: np.ndarray, n: int) -> bool:
    """Offsets start at 0, end at n, never decrease, and no segment reaches 2**31 - 1 rows."""
    if off[0] != 0 or off[-1] != n:
        return False
    sizes = np.diff(off)
    return not (sizes < 0).any() and not (sizes >= _INT32_MAX).any()


def _segment_ids(off: np.ndarray, n: int) -> np.ndarray:
    """Segment of every row."""
    return np.repeat(np.arange(off.shape[0] - 1, dtype=np.int64), np.diff(off))[:n]
