"""The tables of a bulk run: one row per image (parts), one row per detection (output).

A *part* holds one row per image: its name, ``status`` (``done`` or ``failed``), the
failing ``stage`` and ``reason``, its size and its detections as a list of structs, so
an image with no detection is recorded as done all the same. ``predictions.parquet``
explodes the parts into one row per detection, ordered by image, then rank (the
detection's position in the image's merged output).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tilewise.detections import Detections

__all__ = [
    "DETECTION_COLUMNS",
    "IMAGE_SCHEMA",
    "ImageResult",
    "Stage",
    "detections_table",
    "image_table",
]

Stage = Literal["read", "model"]
"""Where an image failed: reading/decoding it, or the model call."""

_DETECTION = pa.struct(
    [
        ("rank", pa.int32()),
        ("x1", pa.float32()),
        ("y1", pa.float32()),
        ("x2", pa.float32()),
        ("y2", pa.float32()),
        ("score", pa.float32()),
        ("class_id", pa.int64()),
        ("class_name", pa.string()),
        ("mask_rle", pa.string()),
        ("tracker_id", pa.int64()),
    ]
)

IMAGE_SCHEMA = pa.schema(
    [
        ("image", pa.string()),
        ("status", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("detections", pa.list_(_DETECTION)),
        ("source_bytes", pa.int64()),
        ("source_mtime_ns", pa.int64()),
    ]
)
"""One row per image: the schema of part files and of ``predict_images``'s dataset.

``source_bytes`` and ``source_mtime_ns`` are the image file's size and modification time
when it was read (null where unknown), so that a rerun redoes an image changed since.
"""

DETECTION_COLUMNS = ("image", "rank", "x1", "y1", "x2", "y2", "score", "class_id", "class_name")
"""The columns ``predictions.parquet`` always has (then ``mask_rle``, ``tracker_id``)."""

_OPTIONAL = ("mask_rle", "tracker_id")


@dataclass(frozen=True)
class ImageResult:
    """One image's outcome: its detections, or the stage and reason it failed.

    Example:
        >>> ImageResult.failed("a.jpg", "read", OSError("gone")).reason
        'OSError: gone'
    """

    image: str
    detections: Detections | None = None
    image_wh: tuple[int, int] = (0, 0)
    stage: Stage | None = None
    reason: str = ""
    source_stat: tuple[int, int] | None = None

    @classmethod
    def failed(cls, image: str, stage: Stage, error: BaseException | str) -> ImageResult:
        """A failure of ``image`` at ``stage``, the reason being the error's type and text."""
        reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls(image, None, (0, 0), stage, reason)

    @property
    def ok(self) -> bool:
        """Whether the image was predicted."""
        return self.stage is None


def _detection_rows(res: ImageResult, names: Sequence[str]) -> list[dict[str, Any]]:
    det = res.detections
    if det is None or len(det) == 0:
        return []
    rles: list[str | None] = [None] * len(det)
    if det.masks is not None:
        masks: Any = det.masks
        rles = [json.dumps(r, separators=(",", ":")) for r in masks.to_coco_rle(res.image_wh)]
    tracker = det.data.get("tracker_id")
    tracks = [None] * len(det) if tracker is None else [int(t) for t in np.asarray(tracker)]
    rows = []
    for rank, (box, score, cls) in enumerate(
        zip(det.xyxy.tolist(), det.confidence.tolist(), det.class_id.tolist(), strict=True)
    ):
        rows.append(
            {
                "rank": rank,
                "x1": box[0],
                "y1": box[1],
                "x2": box[2],
                "y2": box[3],
                "score": score,
                "class_id": int(cls),
                "class_name": names[cls] if 0 <= cls < len(names) else str(cls),
                "mask_rle": rles[rank],
                "tracker_id": tracks[rank],
            }
        )
    return rows


def image_table(results: Sequence[ImageResult], names: Sequence[str] = ()) -> pa.Table:
    """One row per image (``IMAGE_SCHEMA``), in the order of ``results``.

    Args:
        results: the images' outcomes.
        names: the model's class names (a class without one is named by its id).

    Example:
        >>> import numpy as np
        >>> det = Detections(np.array([[1, 2, 3, 4]]), [0.5], [1])
        >>> t = image_table([ImageResult("a.jpg", det, (8, 8))], ["car", "van"])
        >>> t.column("status").to_pylist(), t.column("detections")[0][0]["class_name"].as_py()
        (['done'], 'van')
    """
    cols: dict[str, list[Any]] = {name: [] for name in IMAGE_SCHEMA.names}
    for res in results:
        cols["image"].append(res.image)
        cols["status"].append("done" if res.ok else "failed")
        cols["stage"].append(res.stage)
        cols["reason"].append(res.reason or None)
        cols["width"].append(int(res.image_wh[0]))
        cols["height"].append(int(res.image_wh[1]))
        cols["detections"].append(_detection_rows(res, names))
        stat = res.source_stat
        cols["source_bytes"].append(None if stat is None else int(stat[0]))
        cols["source_mtime_ns"].append(None if stat is None else int(stat[1]))
    return pa.Table.from_pydict(cols, schema=IMAGE_SCHEMA)


def detections_table(images: pa.Table) -> pa.Table:
    """One row per detection of the ``done`` images, ordered by image, then rank.

    ``mask_rle`` (a COCO RLE as JSON, over the whole image) is kept when some detection
    has a mask, ``tracker_id`` when some has a track.

    Example:
        >>> import numpy as np
        >>> det = Detections(np.array([[1, 2, 3, 4], [0, 0, 1, 1]]), [0.5, 0.9])
        >>> t = image_table([ImageResult("b", det, (8, 8)), ImageResult("a", det, (8, 8))])
        >>> out = detections_table(t)
        >>> out.column_names == list(DETECTION_COLUMNS), out.column("image").to_pylist()
        (True, ['a', 'a', 'b', 'b'])
    """
    done = images.filter(pc.equal(images.column("status"), "done"))
    lists = done.column("detections").combine_chunks()
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists)
    columns = {"image": pc.take(done.column("image"), parents)}
    for field in _DETECTION:
        columns[field.name] = pc.struct_field(flat, field.name)
    table = pa.table(columns)
    for name in _OPTIONAL:
        if table.column(name).null_count == len(table):
            table = table.drop_columns([name])
    if len(table):
        table = table.sort_by([("image", "ascending"), ("rank", "ascending")])
    return table.combine_chunks()
