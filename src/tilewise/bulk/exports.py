"""From ``predictions.parquet`` back to one ``Detections`` per image, for the writers."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from tilewise.detections import Detections

__all__ = ["per_image"]


def per_image(detections: pa.Table) -> Iterator[tuple[str, Detections]]:
    """``(image, Detections)`` for each image with detections, in the table's order.

    Tracks come back in ``data["tracker_id"]``; masks are not rebuilt (they stay as
    ``mask_rle`` in the table).

    Example:
        >>> t = pa.table({"image": ["a", "a"], "x1": [0.0, 1.0], "y1": [0.0, 1.0],
        ...               "x2": [2.0, 3.0], "y2": [2.0, 3.0], "score": [0.5, 0.25],
        ...               "class_id": [0, 1]})
        >>> [(n, len(d)) for n, d in per_image(t)]
        [('a', 2)]
    """
    if len(detections) == 0:
        return
    names = detections.column("image").to_numpy(zero_copy_only=False)
    boxes = np.stack([detections.column(c).to_numpy() for c in ("x1", "y1", "x2", "y2")], axis=1)
    score = detections.column("score").to_numpy()
    cls = detections.column("class_id").to_numpy()
    track = (
        detections.column("tracker_id").to_numpy()
        if "tracker_id" in detections.column_names
        else None
    )
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
    ends = np.r_[starts[1:], len(names)]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        data = None if track is None else {"tracker_id": track[a:b]}
        yield str(names[a]), Detections(boxes[a:b], score[a:b], cls[a:b], data=data)
