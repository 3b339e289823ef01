"""The one interchange type of tilewise: a column store of detections."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np

from tilewise.detections.georef import GeoReference
from tilewise.errors import TilewiseError

__all__ = ["Detections", "MaskStore", "Index"]

Index: TypeAlias = int | slice | Sequence[int] | np.ndarray


@runtime_checkable
class MaskStore(Protocol):
    """What ``Detections.masks`` must provide: a per-detection, crop-local mask column.

    The segmentation work supplies the concrete store; ``Detections`` only carries it
    along through indexing, concatenation and shifting. ``Detections.__eq__`` compares
    stores with ``==``: define content equality (``CompactMasks`` does), or two stores are
    equal only when they are the same object.
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: np.ndarray) -> MaskStore: ...

    def shifted(self, dx: int, dy: int) -> MaskStore:
        """Return the store moved by ``(dx, dy)`` pixels."""
        ...

    @classmethod
    def concatenate(cls, stores: Sequence[MaskStore]) -> MaskStore:
        """Stack several stores of the same type, in order."""
        ...


def _masks_equal(a: MaskStore | None, b: MaskStore | None) -> bool:
    """Mask columns compare by content (a store without ``__eq__`` only equals itself)."""
    if a is None or b is None:
        return a is b
    if a is b:
        return True
    return bool(a == b)


def _as_float32_boxes(xyxy: Any) -> np.ndarray:
    arr = np.asarray(xyxy)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise TilewiseError(f"xyxy must have shape (N, 4), got {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TilewiseError(f"xyxy must be numeric, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _as_column(values: Any, n: int, name: str, dtype: type, default: float | int) -> np.ndarray:
    if values is None:
        return np.full(n, default, dtype=dtype)
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise TilewiseError(f"{name} must have shape ({n},) to match xyxy, got {arr.shape}")
    integral = np.issubdtype(arr.dtype, np.integer)
    if dtype is np.int64 and arr.size and not integral and not np.all(np.mod(arr, 1) == 0):
        raise TilewiseError(f"{name} must hold integers, got values like {arr[:3]!r}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _normalise_index(index: Index, n: int) -> np.ndarray | slice:
    if isinstance(index, (int, np.integer)):
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} detections")
        return np.array([i % n], dtype=np.int64)
    if isinstance(index, slice):
        return index
    arr = np.asarray(index)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise TilewiseError(f"boolean index must have shape ({n},), got {arr.shape}")
        return np.flatnonzero(arr)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer) or arr.ndim != 1:
        raise TilewiseError(
            f"index must be an int, slice, 1-D int array or bool mask, got {arr.dtype} {arr.shape}"
        )
    if arr.min() < -n or arr.max() >= n:
        raise IndexError(f"index out of range for {n} detections")
    return arr.astype(np.int64) % max(n, 1)


class Detections:
    """Detections as parallel arrays: boxes, confidences, class ids, optional masks and data.

    Boxes are ``xyxy`` float32 in image pixels. ``confidence`` defaults to 1 and
    ``class_id`` to 0 when not given (handy for ground truth). ``data`` holds extra
    per-detection arrays whose first dimension is N; they travel through indexing,
    concatenation and merging (a merged detection takes its survivor's row).

    ``georef`` optionally says where the image's pixels lie on the map (a
    ``GeoReference``: CRS and affine transform). It is metadata on the boxes, never a
    second box type: boxes stay in pixels, and ``to_geodataframe`` or the writers in
    ``tilewise.geo`` turn them into map polygons. It travels through indexing,
    concatenation (parts must agree) and ``shifted`` (which moves it with the pixels, so
    map positions stay put); the ``Slicer`` sets it from a georeferenced source.

    Args:
        xyxy: (N, 4) boxes as x1, y1, x2, y2.
        confidence: (N,) scores, stored as float32.
        class_id: (N,) integer class ids, stored as int64.
        masks: optional per-detection mask store (see ``MaskStore``), never full-image
            arrays; a dense (N, H, W) bool array is compacted against the boxes into a
            ``tilewise.masks.CompactMasks`` (each mask kept as a crop inside its box).
        data: optional mapping of name to (N, ...) arrays.
        georef: optional ``GeoReference`` of the image the boxes are in.

    Example:
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> det = Detections(np.array([[0, 0, 10, 10], [5, 5, 20, 20]]), confidence=[0.9, 0.4])
        >>> len(det), det.class_id.tolist()
        (2, [0, 0])
        >>> det[det.confidence > 0.5].xyxy.tolist()
        [[0.0, 0.0, 10.0, 10.0]]
    """

    __slots__ = ("class_id", "confidence", "data", "georef", "masks", "xyxy")

    def __init__(
        self,
        xyxy: Any,
        confidence: Any = None,
        class_id: Any = None,
        *,
        masks: MaskStore | np.ndarray | None = None,
        data: Mapping[str, Any] | None = None,
        georef: GeoReference | None = None,
    ) -> None:
        self.xyxy = _as_float32_boxes(xyxy)
        n = self.xyxy.shape[0]
        self.confidence = _as_column(confidence, n, "confidence", np.float32, 1.0)
        self.class_id = _as_column(class_id, n, "class_id", np.int64, 0)
        if isinstance(masks, np.ndarray):
            from tilewise.masks.store import CompactMasks

            if masks.ndim != 3 or masks.shape[0] != n:
                raise TilewiseError(
                    f"dense masks must have shape ({n}, H, W) to match xyxy, got {masks.shape}"
                )
            masks = CompactMasks.from_dense(masks, self.xyxy)
        if masks is not None and len(masks) != n:
            raise TilewiseError(f"masks hold {len(masks)} entries, expected {n} to match xyxy")
        self.masks = masks
        self.data: dict[str, np.ndarray] = {}
        for key, value in (data or {}).items():
            arr = np.asarray(value)
            if arr.ndim == 0 or arr.shape[0] != n:
                raise TilewiseError(
                    f"data[{key!r}] must have first dimension {n}, got shape {arr.shape}"
                )
            self.data[key] = arr
        if georef is not None and not isinstance(georef, GeoReference):
            raise TilewiseError(
                f"georef must be a tilewise.detections.GeoReference or None, "
                f"got {type(georef).__name__}"
            )
        self.georef = georef

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls) -> Detections:
        """Return a Detections with no rows.

        Example:
            >>> from tilewise import Detections
            >>> len(Detections.empty())
            0
        """
        return cls(np.zeros((0, 4), dtype=np.float32))

    @classmethod
    def concatenate(cls, parts: Iterable[Detections]) -> Detections:
        """Stack several Detections into one, in order.

        All parts must carry the same ``data`` keys and either all or none have masks.
        Parts that carry a ``georef`` must agree on it; the result carries it.

        Example:
            >>> import numpy as np
            >>> from tilewise import Detections
            >>> a = Detections(np.array([[0, 0, 1, 1]]))
            >>> len(Detections.concatenate([a, a, Detections.empty()]))
            2
        """
        items = list(parts)
        for p in items:
            if not isinstance(p, Detections):
                raise TilewiseError(f"concatenate takes Detections, got {type(p).__name__}")
        georefs = {p.georef for p in items if p.georef is not None}
        if len(georefs) > 1:
            raise TilewiseError(
                "cannot concatenate Detections of differently georeferenced images: "
                f"{sorted(map(repr, georefs))}"
            )
        georef = next(iter(georefs), None)
        nonempty = [p for p in items if len(p)]
        if not nonempty:
            out = items[0][:0] if items else cls.empty()
            out.georef = georef
            return out
        keys = set(nonempty[0].data)
        for p in nonempty[1:]:
            if set(p.data) != keys:
                raise TilewiseError(
                    f"cannot concatenate Detections with different data keys: "
                    f"{sorted(keys)} vs {sorted(p.data)}"
                )
        has_masks = [p.masks is not None for p in nonempty]
        if any(has_masks) and not all(has_masks):
            raise TilewiseError("cannot concatenate Detections with and without masks")
        masks = None
        if all(has_masks):
            first = nonempty[0].masks
            assert first is not None
            masks = type(first).concatenate([p.masks for p in nonempty])  # type: ignore[misc]
        return cls(
            np.concatenate([p.xyxy for p in nonempty]),
            np.concatenate([p.confidence for p in nonempty]),
            np.concatenate([p.class_id for p in nonempty]),
            masks=masks,
            data={k: np.concatenate([p.data[k] for p in nonempty]) for k in keys},
            georef=georef,
        )

    # ------------------------------------------------------------------ container protocol
    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: Index) -> Detections:
        """Select rows with an int, a slice, an int array or a boolean mask."""
        idx = _normalise_index(index, len(self))
        mask_idx = idx if isinstance(idx, np.ndarray) else np.arange(len(self))[idx]
        return Detections(
            self.xyxy[idx],
            self.confidence[idx],
            self.class_id[idx],
            masks=None if self.masks is None else self.masks[mask_idx],
            data={k: v[idx] for k, v in self.data.items()},
            georef=self.georef,
        )

    def __repr__(self) -> str:
        extra = f", data={sorted(self.data)}" if self.data else ""
        masks = ", masks" if self.masks is not None else ""
        geo = f", crs={self.georef.crs!r}" if self.georef is not None else ""
        return f"Detections(n={len(self)}{masks}{extra}{geo})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        return (
            np.array_equal(self.xyxy, other.xyxy)
            and np.array_equal(self.confidence, other.confidence)
            and np.array_equal(self.class_id, other.class_id)
            and set(self.data) == set(other.data)
            and all(np.array_equal(v, other.data[k]) for k, v in self.data.items())
            and _masks_equal(self.masks, other.masks)
            and self.georef == other.georef
        )

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ geometry
    @property
    def area(self) -> np.ndarray:
        """Box areas, (N,) float32 (zero for degenerate boxes)."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def shifted(self, dx: float, dy: float) -> Detections:
        """Return a copy with boxes (and masks) moved by ``(dx, dy)`` pixels.

        A ``georef`` moves with them (``GeoReference.translated(-dx, -dy)``), so each
        box keeps its place on the map.

        Example:
            >>> import numpy as np
            >>> from tilewise import Detections
            >>> Detections(np.array([[0, 0, 2, 2]])).shifted(10, 5).xyxy.tolist()
            [[10.0, 5.0, 12.0, 7.0]]
        """
        offset = np.array([dx, dy, dx, dy], dtype=np.float32)
        masks = None if self.masks is None else self.masks.shifted(int(dx), int(dy))
        georef = None if self.georef is None else self.georef.translated(-dx, -dy)
        return Detections(
            self.xyxy + offset,
            self.confidence,
            self.class_id,
            masks=masks,
            data=self.data,
            georef=georef,
        )

    def to_geodataframe(self, class_names: Any = None) -> Any:
        """The detections as a ``geopandas.GeoDataFrame`` in their georef's CRS.

        Each box becomes the polygon of its four mapped corners (exact for rotated
        transforms), each mask its outline; columns ``score``, ``class_id``,
        ``class_name`` (from ``class_names``, a list or a mapping), and ``tracker_id`` /
        ``mask_area`` where present. Needs geopandas (the ``geo`` extra) and a ``georef``.

        Example:
            >>> import pytest; _ = pytest.importorskip("geopandas")
            >>> import numpy as np
            >>> from tilewise import Detections
            >>> from tilewise.detections import GeoReference
            >>> g = GeoReference("EPSG:32633", (0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0))
            >>> det = Detections(np.array([[0, 0, 10, 4]]), [0.9], georef=g)
            >>> gdf = det.to_geodataframe(["car"])
            >>> gdf.crs.to_epsg(), gdf.class_name.tolist(), gdf.geometry[0].bounds
            (32633, ['car'], (500000.0, 3999998.0, 500005.0, 4000000.0))
        """
        from tilewise.detections.geoframe import to_geodataframe

        return to_geodataframe(self, class_names)

    def finite_mask(self) -> np.ndarray:
        """Boolean (N,) mask of rows whose boxes and confidence are all finite."""
        return np.isfinite(self.xyxy).all(axis=1) & np.isfinite(self.confidence)
