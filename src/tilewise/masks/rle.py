"""COCO run-length encoded masks, handled as runs (no full-image mask is ever decoded).

COCO RLE flattens an H x W mask in column-major order and stores alternating run lengths,
starting with a run of zeros. Here a mask is processed as *vertical segments of ones*
``(column, row_start, row_end)``, which makes cropping, areas and bounding boxes cheap.
``crop_to_rle`` and ``rle_to_crop`` go between a crop placed in an image and the image's
runs without building the image-sized mask. The compressed string form is the one
pycocotools writes (``rle_to_string`` / ``rle_from_string``).
"""

from __future__ import annotations

import numpy as np

from tilewise.errors import TilewiseError

__all__ = [
    "crop_to_rle",
    "rle_area",
    "rle_bbox",
    "rle_crop",
    "rle_decode",
    "rle_encode",
    "rle_from_string",
    "rle_to_crop",
    "rle_to_rings",
    "rle_to_string",
]


def rle_from_string(text: str) -> np.ndarray:
    """Decode COCO's compressed RLE string into run lengths (uint32).

    Example:
        >>> rle_from_string(rle_to_string(np.array([3, 2, 5]))).tolist()
        [3, 2, 5]
    """
    counts: list[int] = []
    data = text.encode("ascii")
    p = 0
    n = len(data)
    while p < n:
        x = 0
        k = 0
        more = True
        while more:
            if p >= n:
                raise TilewiseError(f"truncated compressed RLE string {text[:40]!r}")
            c = data[p] - 48
            if c < 0 or c > 63:
                raise TilewiseError(f"invalid character {chr(data[p])!r} in compressed RLE")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    arr = np.asarray(counts, dtype=np.int64)
    if arr.size and arr.min() < 0:
        raise TilewiseError("compressed RLE decodes to a negative run length")
    return arr.astype(np.uint32)


def rle_to_string(counts: np.ndarray) -> str:
    """Encode run lengths as COCO's compressed RLE string.

    Example:
        >>> rle_to_string(np.array([3, 2, 5]))
        '325'
    """
    cnts = [int(v) for v in np.asarray(counts).tolist()]
    out: list[str] = []
    for i, value in enumerate(cnts):
        x = value - cnts[i - 2] if i > 2 else value
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def _check(counts: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(counts, dtype=np.int64).ravel()
    total = int(arr.sum()) if arr.size else 0
    if arr.size and arr.min() < 0:
        raise TilewiseError("RLE run lengths must be >= 0")
    if total != hw[0] * hw[1]:
        raise TilewiseError(f"RLE runs sum to {total}; a {hw} mask needs {hw[0] * hw[1]}")
    return arr


def _segments(counts: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical segments of ones: (column, row_start, row_end) arrays, in column-major order."""
    arr = np.asarray(counts, dtype=np.int64).ravel()
    ends = np.cumsum(arr)
    starts = ends - arr
    ones = (np.arange(arr.size) % 2 == 1) & (arr > 0)
    s = starts[ones]
    e = ends[ones]
    if s.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    c0 = s // height
    c1 = (e - 1) // height
    pieces = c1 - c0 + 1
    run = np.repeat(np.arange(s.size), pieces)
    first = np.cumsum(pieces) - pieces
    step = np.arange(run.size) - first[run]
    col = c0[run] + step
    r0 = np.where(step == 0, s[run] - col * height, 0)
    r1 = np.where(col == c1[run], e[run] - col * height, height)
    return col, r0, r1


def _from_segments(
    col: np.ndarray, r0: np.ndarray, r1: np.ndarray, hw: tuple[int, int]
) -> np.ndarray:
    h, w = hw
    keep = r1 > r0
    start = (col * h + r0)[keep]
    end = (col * h + r1)[keep]
    if start.size == 0:
        return np.array([h * w], dtype=np.uint32)
    order = np.argsort(start, kind="stable")
    start = start[order]
    end = end[order]
    joined = np.concatenate([[False], start[1:] == end[:-1]])
    group = np.cumsum(~joined) - 1
    g_start = start[~joined]
    g_end = np.zeros(g_start.size, dtype=np.int64)
    np.maximum.at(g_end, group, end)
    bounds = np.empty(2 * g_start.size + 2, dtype=np.int64)
    bounds[0] = 0
    bounds[1:-1:2] = g_start
    bounds[2:-1:2] = g_end
    bounds[-1] = h * w
    runs = np.diff(bounds)
    if runs[-1] == 0:  # mask ends with ones: no empty closing run (pycocotools writes none)
        runs = runs[:-1]
    return runs.astype(np.uint32)


def rle_area(counts: np.ndarray) -> int:
    """Number of foreground pixels.

    Example:
        >>> rle_area(np.array([3, 2, 5, 1]))
        3
    """
    return int(np.asarray(counts, dtype=np.int64)[1::2].sum())


def rle_bbox(counts: np.ndarray, hw: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Tight xyxy bounding box of the foreground, or None for an empty mask.

    Example:
        >>> m = np.zeros((4, 5), dtype=bool); m[1:3, 2:4] = True
        >>> rle_bbox(rle_encode(m), (4, 5))
        (2, 1, 4, 3)
    """
    col, r0, r1 = _segments(_check(counts, hw), hw[0])
    if col.size == 0:
        return None
    return int(col.min()), int(r0.min()), int(col.max()) + 1, int(r1.max())


def rle_crop(
    counts: np.ndarray, hw: tuple[int, int], window: tuple[int, int, int, int]
) -> tuple[np.ndarray, int]:
    """Crop a mask to an xyxy window; returns the window's runs and its foreground area.

    Example:
        >>> m = np.zeros((4, 5), dtype=bool); m[1:3, 2:4] = True
        >>> runs, area = rle_crop(rle_encode(m), (4, 5), (3, 0, 5, 4))
        >>> area, rle_decode(runs, (4, 2)).astype(int).tolist()
        (2, [[0, 0], [1, 0], [1, 0], [0, 0]])
    """
    x1, y1, x2, y2 = (int(v) for v in window)
    col, r0, r1 = _segments(_check(counts, hw), hw[0])
    inside = (col >= x1) & (col < x2)
    col = col[inside] - x1
    r0 = np.clip(r0[inside], y1, y2) - y1
    r1 = np.clip(r1[inside], y1, y2) - y1
    runs = _from_segments(col, r0, r1, (y2 - y1, x2 - x1))
    return runs, int(np.clip(r1 - r0, 0, None).sum())


def rle_encode(mask: np.ndarray) -> np.ndarray:
    """Run lengths (uint32) of a 2-D boolean mask in COCO's column-major order.

    Example:
        >>> rle_encode(np.array([[0, 1], [0, 1]], dtype=bool)).tolist()
        [2, 2]
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise TilewiseError(f"mask must be 2-D, got shape {m.shape}")
    flat = m.ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds)
    if flat.size and flat[0]:
        runs = np.concatenate([[0], runs])
    return runs.astype(np.uint32)


def rle_decode(counts: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Decode run lengths into an H x W boolean mask.

    Example:
        >>> rle_decode(np.array([2, 2]), (2, 2)).astype(int).tolist()
        [[0, 1], [0, 1]]
    """
    arr = _check(counts, hw)
    values = np.arange(arr.size) % 2 == 1
    flat = np.repeat(values, arr)
    return flat.reshape(hw[1], hw[0]).T.copy()


def rle_to_rings(counts: np.ndarray, hw: tuple[int, int]) -> list[np.ndarray]:
    """Outer contours of a mask as polygon rings ((k, 2) float64 pixel-corner coordinates).

    Only the bounding-box window of the mask is decoded. Holes are not represented.

    Example:
        >>> m = np.zeros((6, 6), dtype=bool); m[1:4, 2:5] = True
        >>> [r.tolist() for r in rle_to_rings(rle_encode(m), (6, 6))]
        [[[2.0, 1.0], [2.0, 4.0], [5.0, 4.0], [5.0, 1.0]]]
    """
    from tilewise.masks.polygons import crop_to_polygons

    origin, crop = rle_to_crop(counts, hw)
    return crop_to_polygons(crop, origin)


def _crop_segments(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical segments of ones of a 2-D bool crop: (column, row_start, row_end)."""
    h, w = crop.shape
    if h == 0 or w == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    cols = np.zeros((w, h + 2), dtype=np.int8)
    cols[:, 1:-1] = crop.T
    step = np.diff(cols, axis=1)
    col_s, r0 = np.nonzero(step == 1)
    _, r1 = np.nonzero(step == -1)
    return col_s.astype(np.int64), r0.astype(np.int64), r1.astype(np.int64)


def crop_to_rle(crop: np.ndarray, origin: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
    """Runs (uint32) of an ``hw`` image that is empty except for ``crop`` at ``origin``.

    ``origin`` is the ``(x, y)`` of the crop's top-left pixel in the image. Parts of the
    crop outside the image are cut off. Only the crop is scanned: the cost follows its
    size, not the image's.

    Example:
        >>> crop = np.ones((2, 1), dtype=bool)
        >>> crop_to_rle(crop, (1, 1), (4, 3)).tolist()
        [5, 2, 5]
        >>> m = np.zeros((4, 3), dtype=bool); m[1:3, 1] = True
        >>> rle_encode(m).tolist()
        [5, 2, 5]
    """
    arr = np.asarray(crop, dtype=bool)
    if arr.ndim != 2:
        raise TilewiseError(f"crop must be 2-D, got shape {arr.shape}")
    h, w = int(hw[0]), int(hw[1])
    x0, y0 = int(origin[0]), int(origin[1])
    col, r0, r1 = _crop_segments(arr)
    col = col + x0
    r0 = np.clip(r0 + y0, 0, h)
    r1 = np.clip(r1 + y0, 0, h)
    inside = (col >= 0) & (col < w)
    return _from_segments(col[inside], r0[inside], r1[inside], (h, w))


def rle_to_crop(counts: np.ndarray, hw: tuple[int, int]) -> tuple[tuple[int, int], np.ndarray]:
    """The foreground of an ``hw`` mask given as runs: ``((x, y) origin, tight bool crop)``.

    Only the mask's bounding box is decoded. An empty mask gives ``((0, 0), (0, 0) crop)``.

    Example:
        >>> origin, crop = rle_to_crop(np.array([5, 2, 5]), (4, 3))
        >>> origin, crop.astype(int).tolist()
        ((1, 1), [[1], [1]])
    """
    arr = _check(counts, hw)
    col, r0, r1 = _segments(arr, hw[0])
    if col.size == 0:
        return (0, 0), np.zeros((0, 0), dtype=bool)
    x1, y1 = int(col.min()), int(r0.min())
    x2, y2 = int(col.max()) + 1, int(r1.max())
    runs = _from_segments(col - x1, r0 - y1, r1 - y1, (y2 - y1, x2 - x1))
    return (x1, y1), rle_decode(runs, (y2 - y1, x2 - x1))
