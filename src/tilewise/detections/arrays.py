"""``Detections`` to and from plain named arrays, for ``.npz`` files that need no pickle.

``detections_to_arrays`` gives a ``dict`` of numpy arrays that ``np.savez`` writes as
``.npy`` members, and ``detections_from_arrays`` rebuilds an equal ``Detections`` from
what ``np.load(..., allow_pickle=False)`` reads back: boxes, confidences, class ids,
every ``data`` column (any dtype but ``object``), ``CompactMasks`` (bit-packed crops,
origins, shapes and the image size) and the ``georef``. What is not an array (the
``data`` names, the georef, the mask image size) goes in one JSON header stored as
bytes, so loading never runs code from the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from tilewise.detections.core import Detections
from tilewise.detections.georef import GeoReference
from tilewise.errors import TilewiseError
from tilewise.masks.store import CompactMasks

__all__ = ["ARRAYS_FORMAT", "detections_from_arrays", "detections_to_arrays"]

ARRAYS_FORMAT = "tilewise.detections/1"
"""The header's ``format``: what ``detections_from_arrays`` reads."""

_MASK_PARTS = ("data", "start", "origin", "shape")


def detections_to_arrays(det: Detections, prefix: str = "") -> dict[str, np.ndarray]:
    """``det`` as named arrays (``prefix`` + ``header``, ``xyxy``, ...), none of dtype object.

    Raises:
        TilewiseError: a ``data`` column of dtype ``object`` (it would need pickle), or
            masks that are not ``CompactMasks``.

    Example:
        >>> import io
        >>> import numpy as np
        >>> det = Detections(np.array([[0, 0, 4, 4]]), [0.5], data={"name": np.array(["car"])})
        >>> buf = io.BytesIO()
        >>> np.savez(buf, **detections_to_arrays(det))
        >>> _ = buf.seek(0)
        >>> detections_from_arrays(np.load(buf, allow_pickle=False)) == det
        True
    """
    header: dict[str, Any] = {"format": ARRAYS_FORMAT, "data": list(det.data)}
    out = {
        f"{prefix}xyxy": det.xyxy,
        f"{prefix}confidence": det.confidence,
        f"{prefix}class_id": det.class_id,
    }
    for i, (key, column) in enumerate(det.data.items()):
        if column.dtype == object:
            raise TilewiseError(
                f"data[{key!r}] has dtype object, which cannot be stored without pickle: "
                "give it a numeric, bool or string dtype"
            )
        out[f"{prefix}data_{i}"] = column
    if det.masks is not None:
        masks = det.masks
        if not isinstance(masks, CompactMasks):
            raise TilewiseError(
                f"only CompactMasks can be stored as arrays, got {type(masks).__name__}"
            )
        header["masks"] = {"image_wh": None if masks.image_wh is None else list(masks.image_wh)}
        for name, array in zip(_MASK_PARTS, masks.to_arrays(), strict=True):
            out[f"{prefix}masks_{name}"] = array
    if det.georef is not None:
        header["georef"] = {"crs": det.georef.crs, "transform": list(det.georef.transform)}
    out[f"{prefix}header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return out


def _member(arrays: Mapping[str, Any], name: str) -> np.ndarray:
    try:
        return np.asarray(arrays[name])
    except KeyError:
        raise TilewiseError(f"stored detections lack their {name!r} array") from None


def detections_from_arrays(arrays: Mapping[str, Any], prefix: str = "") -> Detections:
    """The ``Detections`` that ``detections_to_arrays(det, prefix)`` stored.

    Raises:
        TilewiseError: a member is missing, or the header is not one this version reads.

    Example:
        >>> import numpy as np
        >>> det = Detections(np.array([[1, 2, 3, 4]]), [0.25], [3])
        >>> detections_from_arrays(detections_to_arrays(det, "a_"), "a_").class_id.tolist()
        [3]
    """
    raw = _member(arrays, f"{prefix}header")
    try:
        header = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TilewiseError(f"stored detections have an unreadable header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != ARRAYS_FORMAT:
        got = header.get("format") if isinstance(header, dict) else header
        raise TilewiseError(f"stored detections are in format {got!r}, expected {ARRAYS_FORMAT!r}")
    data = {key: _member(arrays, f"{prefix}data_{i}") for i, key in enumerate(header["data"])}
    masks = None
    if "masks" in header:
        wh = header["masks"]["image_wh"]
        parts = [_member(arrays, f"{prefix}masks_{name}") for name in _MASK_PARTS]
        masks = CompactMasks(*parts, image_wh=None if wh is None else (wh[0], wh[1]))
    georef = None
    if "georef" in header:
        georef = GeoReference(header["georef"]["crs"], tuple(header["georef"]["transform"]))
    return Detections(
        _member(arrays, f"{prefix}xyxy"),
        _member(arrays, f"{prefix}confidence"),
        _member(arrays, f"{prefix}class_id"),
        masks=masks,
        data=data,
        georef=georef,
    )
