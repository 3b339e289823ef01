"""``CompactMasks``: one mask per detection, stored as a bit-packed crop inside its box.

Each mask is a tight crop (the bounding box of its pixels) placed at an integer origin
``(x, y)`` in image pixels. The crop's rows are bit-packed (``np.packbits``, 8 pixels a
byte, each row starting on a byte) and all crops live back to back in one flat uint8
buffer, found by a byte offset per mask. So:

- memory follows the objects' areas / 8, never the image size;
- shifting is O(N) (only origins change), indexing shares the buffer, concatenation
  copies each mask's bytes once;
- any pixel of any crop is addressable in the flat buffer, which is what the pairwise
  AND / OR / popcount kernels of ``tilewise.masks.ops`` gather over, vectorised.

An empty mask has a 0 x 0 crop. Nothing here ever builds an image-sized array unless
asked to (``to_dense``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["ClipCounts", "CompactMasks", "pixel_rects"]

_POPCOUNT = np.array([bin(v).count("1") for v in range(256)], dtype=np.uint8)


def _popcount(data: np.ndarray) -> np.ndarray:
    """Set bits of each byte (numpy >= 2 has a ufunc for it)."""
    count = getattr(np, "bitwise_count", None)
    return count(data) if count is not None else _POPCOUNT[data]


def pixel_rects(xyxy: Any) -> np.ndarray:
    """Integer pixel rectangles ``[x1, y1, x2)`` x ``[y1, y2)`` covering float boxes.

    A pixel belongs to a box's rectangle when the box covers any part of it:
    ``floor`` of the top-left corner, ``ceil`` of the bottom-right one.

    Example:
        >>> pixel_rects([[0.5, 1.0, 3.2, 4.0]]).tolist()
        [[0, 1, 4, 4]]
    """
    arr = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.empty(arr.shape, dtype=np.int64)
    out[:, :2] = np.floor(arr[:, :2])
    out[:, 2:] = np.ceil(arr[:, 2:])
    out[:, 2:] = np.maximum(out[:, 2:], out[:, :2])
    return out


def _row_bytes(w: np.ndarray) -> np.ndarray:
    return (w + 7) // 8


def _tight(crop: np.ndarray) -> tuple[int, int, np.ndarray]:
    """``(dx, dy, tight crop)`` of a 2-D bool crop; a 0 x 0 crop when it is empty."""
    rows = np.flatnonzero(crop.any(axis=1))
    if rows.size == 0:
        return 0, 0, np.zeros((0, 0), dtype=bool)
    cols = np.flatnonzero(crop.any(axis=0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return x0, y0, crop[y0:y1, x0:x1]


def _as_bool_masks(masks: Any, name: str = "masks") -> np.ndarray:
    arr = np.asarray(masks)
    if arr.dtype == bool:
        return arr
    if np.issubdtype(arr.dtype, np.integer):
        return arr != 0
    raise TilewiseError(
        f"{name} must be boolean (or integer 0/1), got dtype {arr.dtype}; "
        "threshold probabilities first, e.g. masks > 0.5"
    )


def _check_wh(image_wh: Any, name: str = "image_wh") -> tuple[int, int]:
    try:
        w, h = (int(v) for v in image_wh)
    except (TypeError, ValueError):
        raise TilewiseError(f"{name} must be a (width, height) pair, got {image_wh!r}") from None
    if w < 0 or h < 0:
        raise TilewiseError(f"{name} must be >= 0, got {image_wh!r}")
    return w, h


@dataclass(frozen=True)
class ClipCounts:
    """What clipping masks to their boxes removed.

    Attributes:
        masks: masks that had pixels outside their box.
        pixels: pixels removed in all.
        emptied: masks left with no pixels.
    """

    masks: int = 0
    pixels: int = 0
    emptied: int = 0


class CompactMasks:
    """A column of N masks, each a bit-packed tight crop with its origin in the image.

    Build one with ``from_dense``, ``from_crops``, ``from_coco_rle`` or
    ``from_polygons``; give it to ``Detections(..., masks=...)`` (a dense (N, H, W) bool
    array given there is compacted with ``from_dense`` against the boxes). It implements
    the ``MaskStore`` protocol, so indexing, filtering, concatenating and shifting
    ``Detections`` carry it along.

    Attributes:
        image_wh: (width, height) of the image the masks belong to, when known; the
            default size of ``to_dense`` and ``to_coco_rle``.

    Example:
        >>> import numpy as np
        >>> dense = np.zeros((2, 6, 8), dtype=bool)
        >>> dense[0, 1:3, 2:5] = True
        >>> dense[1, 4:6, 0:8] = True
        >>> masks = CompactMasks.from_dense(dense)
        >>> len(masks), masks.area.tolist(), masks.crop_boxes.tolist()
        (2, [6, 16], [[2, 1, 5, 3], [0, 4, 8, 6]])
        >>> bool((masks.to_dense() == dense).all()), masks.nbytes
        (True, 4)
    """

    __slots__ = ("_data", "_origin", "_shape", "_start", "image_wh")

    def __init__(
        self,
        data: np.ndarray,
        start: np.ndarray,
        origin: np.ndarray,
        shape: np.ndarray,
        image_wh: tuple[int, int] | None = None,
    ) -> None:
        self._data = np.asarray(data, dtype=np.uint8).ravel()
        self._start = np.asarray(start, dtype=np.int64).ravel()
        self._origin = np.asarray(origin, dtype=np.int64).reshape(-1, 2)
        self._shape = np.asarray(shape, dtype=np.int64).reshape(-1, 2)
        n = self._start.shape[0]
        if self._origin.shape[0] != n or self._shape.shape[0] != n:
            raise TilewiseError("start, origin and shape must have one row per mask")
        if n and (self._shape.min() < 0 or self._start.min() < 0):
            raise TilewiseError("mask shapes and byte offsets must be >= 0")
        if n and int((self._start + self.nbytes_each).max()) > self._data.size:
            raise TilewiseError("a mask's bytes run past the end of the buffer")
        self.image_wh = None if image_wh is None else _check_wh(image_wh)

    @classmethod
    def _trusted(
        cls,
        data: np.ndarray,
        start: np.ndarray,
        origin: np.ndarray,
        shape: np.ndarray,
        image_wh: tuple[int, int] | None,
    ) -> CompactMasks:
        """Build from arrays already checked and typed (internal fast path)."""
        out = cls.__new__(cls)
        out._data, out._start, out._origin, out._shape = data, start, origin, shape
        out.image_wh = image_wh
        return out

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, image_wh: tuple[int, int] | None = None) -> CompactMasks:
        """A store with no masks.

        Example:
            >>> len(CompactMasks.empty())
            0
        """
        z = np.zeros(0, dtype=np.int64)
        return cls(np.zeros(0, np.uint8), z, z.reshape(0, 2), z.reshape(0, 2), image_wh)

    @classmethod
    def from_crops(
        cls,
        crops: Sequence[np.ndarray],
        origins: Any,
        image_wh: tuple[int, int] | None = None,
    ) -> CompactMasks:
        """Build from 2-D bool crops and the ``(x, y)`` image position of each crop.

        Crops are tightened to their pixels' bounding box (so a crop may carry margins).

        Example:
            >>> import numpy as np
            >>> crop = np.array([[0, 0, 0], [0, 1, 1]], dtype=bool)
            >>> m = CompactMasks.from_crops([crop], [(10, 20)])
            >>> m.crop_boxes.tolist(), m.crop(0).astype(int).tolist()
            ([[11, 21, 13, 22]], [[1, 1]])
        """
        org = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
        if len(crops) != org.shape[0]:
            raise TilewiseError(f"got {len(crops)} crops but {org.shape[0]} origins")
        tight_origins = np.empty_like(org)
        tight: list[np.ndarray] = []
        for i, crop in enumerate(crops):
            arr = _as_bool_masks(crop, f"crop {i}")
            if arr.ndim != 2:
                raise TilewiseError(f"crop {i} must be 2-D, got shape {arr.shape}")
            dx, dy, t = _tight(arr)
            tight_origins[i] = (org[i, 0] + dx, org[i, 1] + dy)
            tight.append(t)
        return cls._pack(tight, tight_origins, image_wh)

    @classmethod
    def _pack(
        cls,
        crops: Sequence[np.ndarray],
        origins: np.ndarray,
        image_wh: tuple[int, int] | None,
    ) -> CompactMasks:
        """Pack tight bool crops (no checks)."""
        n = len(crops)
        shape = np.array([c.shape for c in crops], dtype=np.int64).reshape(n, 2)
        sizes = shape[:, 0] * _row_bytes(shape[:, 1])
        start = np.zeros(n, dtype=np.int64)
        if n > 1:
            np.cumsum(sizes[:-1], out=start[1:])
        parts = [np.packbits(c, axis=1).ravel() for c in crops if c.size]
        data = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
        origins = np.ascontiguousarray(origins, dtype=np.int64).reshape(n, 2)
        return cls._trusted(data, start, origins, shape, image_wh)

    @classmethod
    def from_dense(cls, masks: Any, xyxy: Any = None) -> CompactMasks:
        """Compact a dense (N, H, W) (or one (H, W)) bool mask array.

        Each mask is cropped to its pixels' bounding box. With ``xyxy`` given (boxes in
        the masks' pixel coordinates), a mask whose pixels all lie in its box is only
        scanned inside the box; nothing is clipped here: pixels outside the box are kept
        (the Slicer clips them to the box and counts them). ``image_wh`` is set to
        (W, H).

        Raises:
            TilewiseError: not 2-D/3-D, not boolean/integer, or ``xyxy`` not (N, 4).

        Example:
            >>> import numpy as np
            >>> dense = np.zeros((1, 4, 6), dtype=bool); dense[0, 1:3, 2:4] = True
            >>> m = CompactMasks.from_dense(dense, xyxy=[[2, 1, 4, 3]])
            >>> m.crop_boxes.tolist(), m.image_wh
            ([[2, 1, 4, 3]], (6, 4))
        """
        arr = _as_bool_masks(masks)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise TilewiseError(f"dense masks must have shape (N, H, W), got {arr.shape}")
        n, h, w = arr.shape
        rects: np.ndarray | None = None
        if xyxy is not None:
            boxes = np.asarray(xyxy, dtype=np.float64)
            if boxes.size == 0 and n == 0:
                boxes = boxes.reshape(0, 4)
            if boxes.ndim != 2 or boxes.shape != (n, 4):
                raise TilewiseError(f"xyxy must have shape ({n}, 4) to match masks")
            finite = np.isfinite(boxes).all(axis=1)
            rects = pixel_rects(np.where(finite[:, None], boxes, 0.0))
            rects[:, 0::2] = np.clip(rects[:, 0::2], 0, w)
            rects[:, 1::2] = np.clip(rects[:, 1::2], 0, h)
            rects[~finite] = (0, 0, w, h)
        crops: list[np.ndarray] = []
        origins = np.zeros((n, 2), dtype=np.int64)
        subs: list[tuple[np.ndarray, int, int] | None] = [None] * n
        if rects is not None:
            inside = 0
            for i in range(n):
                rx0, ry0, rx1, ry1 = (int(v) for v in rects[i])
                sub = arr[i, ry0:ry1, rx0:rx1]
                subs[i] = (sub, rx0, ry0)
                inside += np.count_nonzero(sub)
            if inside != np.count_nonzero(arr):  # some pixels lie outside their box
                for i in range(n):
                    sub = subs[i][0]  # type: ignore[index]
                    if np.count_nonzero(sub) != np.count_nonzero(arr[i]):
                        subs[i] = None
        for i in range(n):
            mask, x0, y0 = subs[i] or (arr[i], 0, 0)
            dx, dy, tight = _tight(mask)
            origins[i] = (x0 + dx, y0 + dy)
            crops.append(tight)
        return cls._pack(crops, origins, (w, h))

    @classmethod
    def from_coco_rle(
        cls, rles: Iterable[dict[str, Any]], image_wh: tuple[int, int] | None = None
    ) -> CompactMasks:
        """Build from COCO RLE dicts (``{"size": [h, w], "counts": str | list}``).

        Compressed strings (pycocotools' ``encode``) and uncompressed run lists are both
        read; only each mask's bounding box is decoded.

        Example:
            >>> m = CompactMasks.from_coco_rle([{"size": [4, 3], "counts": [5, 2, 5]}])
            >>> m.crop_boxes.tolist(), m.image_wh
            ([[1, 1, 2, 3]], (3, 4))
        """
        from tilewise.masks.rle import rle_from_string, rle_to_crop

        crops: list[np.ndarray] = []
        origins: list[tuple[int, int]] = []
        sizes: set[tuple[int, int]] = set()
        for i, rle in enumerate(rles):
            if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
                raise TilewiseError(f"RLE {i} must be a dict with 'size' and 'counts'")
            try:
                h, w = (int(v) for v in rle["size"])
            except (TypeError, ValueError):
                raise TilewiseError(f"RLE {i}: 'size' must be [height, width]") from None
            counts = rle["counts"]
            if isinstance(counts, bytes):
                counts = counts.decode("ascii")
            runs = rle_from_string(counts) if isinstance(counts, str) else np.asarray(counts)
            origin, crop = rle_to_crop(runs, (h, w))
            crops.append(crop)
            origins.append(origin)
            sizes.add((w, h))
        if image_wh is None and len(sizes) == 1:
            image_wh = next(iter(sizes))
        org = np.array(origins, dtype=np.int64).reshape(-1, 2)
        return cls._pack(crops, org, image_wh)

    @classmethod
    def from_polygons(
        cls, polygons: Sequence[Sequence[Any]], image_wh: tuple[int, int] | None = None
    ) -> CompactMasks:
        """Rasterise polygons, one list of rings per mask (see ``tilewise.masks.polygons``).

        Example:
            >>> m = CompactMasks.from_polygons([[[(1, 1), (4, 1), (4, 3), (1, 3)]]])
            >>> m.crop_boxes.tolist(), m.area.tolist()
            ([[1, 1, 4, 3]], [6])
        """
        from tilewise.masks.polygons import polygons_to_crop

        crops: list[np.ndarray] = []
        origins = np.zeros((len(polygons), 2), dtype=np.int64)
        for i, rings in enumerate(polygons):
            origin, crop = polygons_to_crop(rings)
            origins[i] = origin
            crops.append(crop)
        return cls._pack(crops, origins, image_wh)

    # ------------------------------------------------------------------ properties
    @property
    def origins(self) -> np.ndarray:
        """(N, 2) int64 ``(x, y)`` image position of each crop's top-left pixel."""
        return self._origin.copy()

    @property
    def shapes(self) -> np.ndarray:
        """(N, 2) int64 ``(height, width)`` of each crop."""
        return self._shape.copy()

    @property
    def crop_boxes(self) -> np.ndarray:
        """(N, 4) int64 ``x1, y1, x2, y2`` of each crop: the masks' tight bounding boxes.

        Example:
            >>> import numpy as np
            >>> CompactMasks.from_crops([np.ones((2, 3), bool)], [(5, 6)]).crop_boxes.tolist()
            [[5, 6, 8, 8]]
        """
        out = np.empty((len(self), 4), dtype=np.int64)
        out[:, :2] = self._origin
        out[:, 2] = self._origin[:, 0] + self._shape[:, 1]
        out[:, 3] = self._origin[:, 1] + self._shape[:, 0]
        return out

    @property
    def nbytes_each(self) -> np.ndarray:
        """(N,) bytes of each packed crop."""
        return self._shape[:, 0] * _row_bytes(self._shape[:, 1])

    @property
    def nbytes(self) -> int:
        """Bytes of packed mask data the masks use (the buffer may be shared and larger)."""
        return int(self.nbytes_each.sum())

    @property
    def area(self) -> np.ndarray:
        """(N,) int64 pixel count of each mask.

        Example:
            >>> import numpy as np
            >>> CompactMasks.from_dense(np.eye(3, dtype=bool)[None]).area.tolist()
            [3]
        """
        out = np.zeros(len(self), dtype=np.int64)
        sizes = self.nbytes_each
        filled = np.flatnonzero(sizes)
        if filled.size:
            bits = _popcount(self._data)
            out[filled] = np.add.reduceat(bits, self._start[filled], dtype=np.int64)
            # reduceat runs each sum to the next start: take off what lies past each mask.
            ends = self._start[filled] + sizes[filled]
            nxt = np.append(self._start[filled][1:], bits.size)
            spill = filled[nxt != ends]
            if spill.size > 64:  # masks out of buffer order: prefix sums instead
                cum = np.zeros(bits.size + 1, dtype=np.int64)
                np.cumsum(bits, out=cum[1:])
                out[spill] = cum[self._start[spill] + sizes[spill]] - cum[self._start[spill]]
            else:
                for i in spill.tolist():
                    s = int(self._start[i])
                    out[i] = int(bits[s : s + int(sizes[i])].sum(dtype=np.int64))
        return out

    def __len__(self) -> int:
        return int(self._start.shape[0])

    def __repr__(self) -> str:
        size = "" if self.image_wh is None else f", image_wh={self.image_wh}"
        return f"CompactMasks(n={len(self)}, {self.nbytes} bytes{size})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactMasks):
            return NotImplemented
        if len(self) != len(other):
            return False
        if not (
            np.array_equal(self._origin, other._origin)
            and np.array_equal(self._shape, other._shape)
        ):
            return False
        return bool(np.array_equal(self._packed()[0], other._packed()[0]))

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ MaskStore protocol
    def __getitem__(self, index: Any) -> CompactMasks:
        """Select masks with an int, a slice, an int array or a bool array (shares the buffer).

        Example:
            >>> import numpy as np
            >>> m = CompactMasks.from_crops([np.ones((1, 1), bool)] * 3, [(0, 0), (1, 0), (2, 0)])
            >>> m[np.array([2, 0])].origins[:, 0].tolist(), len(m[1:])
            ([2, 0], 2)
        """
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        idx = np.arange(len(self))[index]
        return CompactMasks._trusted(
            self._data, self._start[idx], self._origin[idx], self._shape[idx], self.image_wh
        )

    def shifted(self, dx: int, dy: int) -> CompactMasks:
        """The masks moved by ``(dx, dy)`` whole pixels (no pixel data is touched).

        The result's ``image_wh`` is unknown (None): shifting moves masks into another
        image's coordinates.

        Example:
            >>> import numpy as np
            >>> m = CompactMasks.from_crops([np.ones((1, 1), bool)], [(3, 4)])
            >>> m.shifted(10, -2).origins.tolist()
            [[13, 2]]
        """
        origin = self._origin + np.array([int(dx), int(dy)], dtype=np.int64)
        return CompactMasks._trusted(self._data, self._start, origin, self._shape, None)

    @classmethod
    def concatenate(cls, stores: Sequence[Any]) -> CompactMasks:
        """Stack stores in order; ``image_wh`` is kept when all agree.

        Example:
            >>> import numpy as np
            >>> a = CompactMasks.from_crops([np.ones((2, 2), bool)], [(0, 0)])
            >>> len(CompactMasks.concatenate([a, a, CompactMasks.empty()]))
            2
        """
        items = list(stores)
        for s in items:
            if not isinstance(s, CompactMasks):
                raise TilewiseError(
                    f"cannot concatenate CompactMasks with {type(s).__name__}; "
                    "convert masks with CompactMasks.from_dense first"
                )
        if not items:
            return cls.empty()
        packed = [s._packed() for s in items]
        data = np.concatenate([p[0] for p in packed])
        base = np.cumsum([0] + [p[0].size for p in packed[:-1]])
        start = np.concatenate([p[1] + b for p, b in zip(packed, base, strict=True)])
        sizes = {s.image_wh for s in items}
        image_wh = items[0].image_wh if len(sizes) == 1 else None
        return cls._trusted(
            data,
            start,
            np.concatenate([s._origin for s in items]),
            np.concatenate([s._shape for s in items]),
            image_wh,
        )

    # ------------------------------------------------------------------ bytes
    def _packed(self) -> tuple[np.ndarray, np.ndarray]:
        """``(data, start)`` holding exactly these masks' bytes, in order."""
        sizes = self.nbytes_each
        start = np.zeros(len(self), dtype=np.int64)
        if len(self) > 1:
            np.cumsum(sizes[:-1], out=start[1:])
        total = int(sizes.sum())
        if total == self._data.size and np.array_equal(start, self._start):
            return self._data, start
        return self._data[ragged_range(self._start, sizes)], start

    def to_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(data, start, origin, shape)``: the constructor's arrays, holding only these masks.

        A store indexed out of a larger one shares its buffer; this gives just its own
        bytes, so ``CompactMasks(*masks.to_arrays(), image_wh=masks.image_wh)`` is an equal,
        self-contained copy (what ``.npz`` files store).

        Example:
            >>> import numpy as np
            >>> masks = CompactMasks.from_crops([np.ones((2, 9), bool)] * 3, [(0, 0)] * 3)
            >>> masks.to_arrays()[0].size, [a.tolist() for a in masks[1:2].to_arrays()]
            (12, [[255, 128, 255, 128], [0], [[0, 0]], [[2, 9]]])
        """
        data, start = self._packed()
        return data, start, self._origin, self._shape

    def with_image_wh(self, image_wh: tuple[int, int] | None) -> CompactMasks:
        """The same masks, declared to belong to an image of ``image_wh`` (width, height).

        Example:
            >>> CompactMasks.empty().with_image_wh((640, 480)).image_wh
            (640, 480)
        """
        size = None if image_wh is None else _check_wh(image_wh)
        return CompactMasks._trusted(self._data, self._start, self._origin, self._shape, size)

    # ------------------------------------------------------------------ dense views
    def crop(self, i: int) -> np.ndarray:
        """Mask ``i`` as its (height, width) bool crop (at ``origins[i]``).

        Example:
            >>> import numpy as np
            >>> m = CompactMasks.from_dense(np.eye(3, dtype=bool))
            >>> m.crop(0).astype(int).tolist()
            [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        """
        i = int(np.arange(len(self))[i])
        h, w = (int(v) for v in self._shape[i])
        if h == 0 or w == 0:
            return np.zeros((h, w), dtype=bool)
        wb = (w + 7) // 8
        s = int(self._start[i])
        rows = self._data[s : s + h * wb].reshape(h, wb)
        return np.unpackbits(rows, axis=1, count=w).view(bool)

    def _size(self, image_wh: tuple[int, int] | None) -> tuple[int, int]:
        size = image_wh if image_wh is not None else self.image_wh
        if size is None:
            raise TilewiseError("the image size is unknown: pass image_wh=(width, height)")
        return _check_wh(size)

    def paste(self, i: int, canvas: np.ndarray) -> np.ndarray:
        """OR mask ``i`` into a 2-D bool ``canvas`` in image coordinates (clipped); returns it.

        Example:
            >>> import numpy as np
            >>> m = CompactMasks.from_crops([np.ones((2, 2), bool)], [(3, 0)])
            >>> m.paste(0, np.zeros((2, 4), bool)).astype(int).tolist()
            [[0, 0, 0, 1], [0, 0, 0, 1]]
        """
        h_img, w_img = canvas.shape[:2]
        x0, y0 = (int(v) for v in self._origin[i])
        crop = self.crop(i)
        h, w = crop.shape
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x0 + w, w_img), min(y0 + h, h_img)
        if cx1 > cx0 and cy1 > cy0:
            canvas[cy0:cy1, cx0:cx1] |= crop[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        return canvas

    def to_dense(self, image_wh: tuple[int, int] | None = None) -> np.ndarray:
        """All masks as a dense (N, H, W) bool array (pixels outside the image are cut).

        Use it for small images or a few masks: it allocates N x H x W bytes.

        Example:
            >>> import numpy as np
            >>> m = CompactMasks.from_crops([np.ones((1, 2), bool)], [(1, 1)])
            >>> m.to_dense((3, 2)).astype(int).tolist()
            [[[0, 0, 0], [0, 1, 1]]]
        """
        w, h = self._size(image_wh)
        out = np.zeros((len(self), h, w), dtype=bool)
        for i in range(len(self)):
            self.paste(i, out[i])
        return out

    def mask(self, i: int, image_wh: tuple[int, int] | None = None) -> np.ndarray:
        """Mask ``i`` as a dense (H, W) bool array of the image.

        Example:
            >>> import numpy as np
            >>> m = CompactMasks.from_crops([np.ones((1, 1), bool)], [(1, 0)])
            >>> m.mask(0, (2, 1)).tolist()
            [[False, True]]
        """
        w, h = self._size(image_wh)
        return self.paste(i, np.zeros((h, w), dtype=bool))

    # ------------------------------------------------------------------ formats
    def to_coco_rle(
        self, image_wh: tuple[int, int] | None = None, *, compress: bool = True
    ) -> list[dict[str, Any]]:
        """COCO RLE dicts over the whole image, as pycocotools' ``mask.encode`` writes them.

        ``counts`` is the compressed string (``compress=True``) or the list of runs.
        Only crops are scanned, never the whole image.

        Example:
            >>> import numpy as np
            >>> m = CompactMasks.from_crops([np.ones((2, 1), bool)], [(1, 1)])
            >>> m.to_coco_rle((3, 4))
            [{'size': [4, 3], 'counts': '525'}]
            >>> m.to_coco_rle((3, 4), compress=False)[0]["counts"]
            [5, 2, 5]
        """
        from tilewise.masks.rle import crop_to_rle, rle_to_string

        w, h = self._size(image_wh)
        out: list[dict[str, Any]] = []
        for i in range(len(self)):
            runs = crop_to_rle(self.crop(i), tuple(self._origin[i]), (h, w))
            counts: Any = rle_to_string(runs) if compress else runs.tolist()
            out.append({"size": [h, w], "counts": counts})
        return out

    def to_polygons(self) -> list[list[np.ndarray]]:
        """Outer contours of each mask as rings of (k, 2) pixel-corner coordinates.

        Holes are filled (COCO polygons cannot hold them); see
        ``tilewise.masks.polygons.crop_to_polygons``.

        Example:
            >>> import numpy as np
            >>> m = CompactMasks.from_crops([np.ones((2, 3), bool)], [(1, 1)])
            >>> [r.tolist() for r in m.to_polygons()[0]]
            [[[1.0, 1.0], [1.0, 3.0], [4.0, 3.0], [4.0, 1.0]]]
        """
        from tilewise.masks.polygons import crop_to_polygons

        return [
            crop_to_polygons(self.crop(i), tuple(int(v) for v in self._origin[i]))
            for i in range(len(self))
        ]

    # ------------------------------------------------------------------ geometry
    def clipped(self, rects: Any) -> tuple[CompactMasks, ClipCounts]:
        """Cut each mask to an integer rectangle (e.g. ``pixel_rects(boxes)``); count the cut.

        Example:
            >>> import numpy as np
            >>> m = CompactMasks.from_crops([np.ones((2, 4), bool)], [(0, 0)])
            >>> out, counts = m.clipped([[1, 0, 3, 2]])
            >>> out.crop_boxes.tolist(), counts
            ([[1, 0, 3, 2]], ClipCounts(masks=1, pixels=4, emptied=0))
        """
        r = np.asarray(rects, dtype=np.int64).reshape(-1, 4)
        if r.shape[0] != len(self):
            raise TilewiseError(f"need {len(self)} rectangles, got {r.shape[0]}")
        cb = self.crop_boxes
        nonempty = (self._shape > 0).all(axis=1)
        outside = nonempty & (
            (cb[:, 0] < r[:, 0])
            | (cb[:, 1] < r[:, 1])
            | (cb[:, 2] > r[:, 2])
            | (cb[:, 3] > r[:, 3])
        )
        if not outside.any():
            return self, ClipCounts()
        idx = np.flatnonzero(outside)
        crops: list[np.ndarray] = []
        origins = np.zeros((idx.size, 2), dtype=np.int64)
        pixels = emptied = 0
        for k, i in enumerate(idx.tolist()):
            crop = self.crop(i)
            x0, y0 = (int(v) for v in self._origin[i])
            rx0, ry0, rx1, ry1 = (int(v) for v in r[i])
            sx0, sy0 = min(max(rx0 - x0, 0), crop.shape[1]), min(max(ry0 - y0, 0), crop.shape[0])
            sx1 = min(max(rx1 - x0, sx0), crop.shape[1])
            sy1 = min(max(ry1 - y0, sy0), crop.shape[0])
            sub = crop[sy0:sy1, sx0:sx1]
            kept = int(np.count_nonzero(sub))
            pixels += int(np.count_nonzero(crop)) - kept
            emptied += kept == 0
            dx, dy, tight = _tight(sub)
            origins[k] = (x0 + sx0 + dx, y0 + sy0 + dy)
            crops.append(tight)
        fixed = CompactMasks._pack(crops, origins, self.image_wh)
        return self._replace(idx, fixed), ClipCounts(int(idx.size), pixels, emptied)

    def _replace(self, idx: np.ndarray, new: CompactMasks) -> CompactMasks:
        """These masks with rows ``idx`` replaced by the masks of ``new``, in order."""
        both = CompactMasks.concatenate([self, new])
        pick = np.arange(len(self), dtype=np.int64)
        pick[idx] = len(self) + np.arange(len(new), dtype=np.int64)
        return both[pick].with_image_wh(self.image_wh)

    def resized(self, image_wh: tuple[int, int]) -> CompactMasks:
        """The masks scaled from their ``image_wh`` to a new image size, nearest neighbour.

        Pixel ``x`` of the new image takes source pixel ``floor((x + 0.5) * W_src / W)``
        (likewise for rows), computed exactly in integers: centre-aligned nearest
        neighbour. ``cv2.resize(..., interpolation=cv2.INTER_NEAREST_EXACT)`` picks the same
        pixels except at exact ties (a target centre halfway between two source pixels),
        where it takes the lower one. Only crops are resampled.

        Raises:
            TilewiseError: the masks' own ``image_wh`` is unknown.

        Example:
            >>> import numpy as np
            >>> m = CompactMasks.from_crops([np.ones((1, 1), bool)], [(1, 0)], image_wh=(2, 1))
            >>> out = m.resized((4, 2))
            >>> out.crop_boxes.tolist(), out.image_wh
            ([[2, 0, 4, 2]], (4, 2))
        """
        if self.image_wh is None:
            raise TilewiseError("resizing needs the masks' own image_wh")
        src_w, src_h = self.image_wh
        dst_w, dst_h = _check_wh(image_wh)
        if (src_w, src_h) == (dst_w, dst_h):
            return self
        col_map = ((2 * np.arange(dst_w, dtype=np.int64) + 1) * src_w) // (2 * max(dst_w, 1))
        row_map = ((2 * np.arange(dst_h, dtype=np.int64) + 1) * src_h) // (2 * max(dst_h, 1))
        crops: list[np.ndarray] = []
        origins = np.zeros((len(self), 2), dtype=np.int64)
        for i in range(len(self)):
            x0, y0 = (int(v) for v in self._origin[i])
            h, w = (int(v) for v in self._shape[i])
            c0, c1 = np.searchsorted(col_map, [x0, x0 + w])
            r0, r1 = np.searchsorted(row_map, [y0, y0 + h])
            crop = self.crop(i)
            sub = crop[np.ix_(row_map[r0:r1] - y0, col_map[c0:c1] - x0)]
            dx, dy, tight = _tight(sub)
            origins[i] = (int(c0) + dx, int(r0) + dy)
            crops.append(tight)
        return CompactMasks._pack(crops, origins, (dst_w, dst_h))


def ragged_range(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for each ``(s, n)``, without a Python loop.

    Example:
        >>> ragged_range(np.array([10, 3]), np.array([2, 3])).tolist()
        [10, 11, 3, 4, 5]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    shift = np.asarray(starts, dtype=np.int64) - (ends - lengths)
    return np.arange(total, dtype=np.int64) + np.repeat(shift, lengths)
