"""Accounting of tiling: what happened to every source annotation, per class."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

__all__ = ["AnnotationStatus", "DropReason", "TilingReport"]


class AnnotationStatus(IntEnum):
    """Fate of a source annotation after tiling."""

    KEPT = 0  # whole (unclipped) in at least one written tile
    CLIPPED = 1  # written, but only clipped by tile borders
    DROPPED = 2  # in no written tile; see DropReason


class DropReason(IntEnum):
    """Why a source annotation (or one tile's piece of it) was dropped."""

    NONE = 0
    DEGENERATE = 1  # zero or negative width/height in the source
    OUTSIDE_IMAGE = 2  # no part of the box lies in the image
    LOW_VISIBILITY = 3  # visible fraction below min_visibility in every tile
    TOO_SMALL = 4  # visible enough somewhere, but the clipped box is under min_size there
    EMPTY_SEGMENT = 5  # its polygon / mask has no area (after repair) where the box is kept
    IMAGE_UNREADABLE = 6  # its image could not be read, so none of its tiles were written
    IMAGE_TRUNCATED = 7  # its image file is truncated (not allowed), so no tiles were written

    @property
    def label(self) -> str:
        """Lower-case name used in reports."""
        return self.name.lower()


@dataclass
class TilingReport:
    """Counts from a tiling run.

    Attributes:
        class_names: the classes.
        status: (N,) ``AnnotationStatus`` of every source annotation.
        reason: (N,) ``DropReason`` of every dropped source annotation (NONE otherwise).
        class_id: (N,) class of every source annotation.
        piece_drops: (R,) tile-level pieces dropped per ``DropReason`` (an annotation can be
            kept in one tile and have a sliver dropped from the next).
        instances: annotations written across all tiles.
        instances_clipped: of those, how many were clipped by a tile border.
        tiles: dict of tile counts (total, with objects, empty, empty kept, written...).
        boxes_clipped_to_image: source boxes partly outside their image, clipped first.
        polygons_repaired: invalid polygons repaired with ``make_valid``.
        holes_dropped: polygon holes dropped (COCO polygons cannot hold holes).
        short_rings: polygon rings with < 3 points ignored.
        images_skipped: ``{file_name: reason}`` for source images that could not be read.
        images_truncated: source images that are truncated but were tiled anyway
            (``allow_truncated``): their tiles past the end of the data are black.
        splits: source images per split.

    Example:
        >>> r = TilingReport.empty(["car"], 2)
        >>> r.counts()["car"]["total"]
        2
    """

    class_names: tuple[str, ...]
    status: np.ndarray
    reason: np.ndarray
    class_id: np.ndarray
    piece_drops: np.ndarray = field(default_factory=lambda: np.zeros(len(DropReason), np.int64))
    instances: int = 0
    instances_clipped: int = 0
    tiles: dict[str, int] = field(default_factory=dict)
    boxes_clipped_to_image: int = 0
    polygons_repaired: int = 0
    holes_dropped: int = 0
    short_rings: int = 0
    images_skipped: dict[str, str] = field(default_factory=dict)
    images_truncated: list[str] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)

    @classmethod
    def empty(cls, class_names: tuple[str, ...] | list[str], n: int) -> TilingReport:
        """A report for ``n`` annotations of class 0, all dropped with no reason yet.

        Example:
            >>> TilingReport.empty(["a"], 0).instances
            0
        """
        return cls(
            tuple(class_names),
            np.full(n, AnnotationStatus.DROPPED, np.uint8),
            np.zeros(n, np.uint8),
            np.zeros(n, np.int64),
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """Per class: total, kept, clipped, dropped and dropped per reason.

        ``kept + clipped + dropped == total`` for every class.

        Example:
            >>> r = TilingReport.empty(["a", "b"], 1)
            >>> r.counts()["a"]["dropped"], r.counts()["b"]["total"]
            (1, 0)
        """
        c = len(self.class_names)
        table = np.zeros((c, len(AnnotationStatus)), dtype=np.int64)
        np.add.at(table, (self.class_id, self.status.astype(np.int64)), 1)
        reasons = np.zeros((c, len(DropReason)), dtype=np.int64)
        dropped = self.status == AnnotationStatus.DROPPED
        np.add.at(reasons, (self.class_id[dropped], self.reason[dropped].astype(np.int64)), 1)
        out: dict[str, dict[str, int]] = {}
        for k, name in enumerate(self.class_names):
            row = {
                "total": int(table[k].sum()),
                "kept": int(table[k, AnnotationStatus.KEPT]),
                "clipped": int(table[k, AnnotationStatus.CLIPPED]),
                "dropped": int(table[k, AnnotationStatus.DROPPED]),
            }
            for reason in DropReason:
                if reason is not DropReason.NONE:
                    row[f"dropped_{reason.label}"] = int(reasons[k, reason])
            out[name] = row
        return out

    def totals(self) -> dict[str, int]:
        """Counts summed over classes.

        Example:
            >>> TilingReport.empty(["a"], 3).totals()["dropped"]
            3
        """
        out: dict[str, int] = {}
        for row in self.counts().values():
            for key, value in row.items():
                out[key] = out.get(key, 0) + value
        if not out:
            out = {"total": 0, "kept": 0, "clipped": 0, "dropped": 0}
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-annotation arrays).

        Example:
            >>> sorted(TilingReport.empty(["a"], 0).to_dict())[:3]
            ['boxes_clipped_to_image', 'classes', 'holes_dropped']
        """
        return {
            "classes": self.counts(),
            "totals": self.totals(),
            "tile_pieces_dropped": {
                r.label: int(self.piece_drops[r]) for r in DropReason if r is not DropReason.NONE
            },
            "instances_written": self.instances,
            "instances_clipped": self.instances_clipped,
            "tiles": dict(self.tiles),
            "splits": dict(self.splits),
            "boxes_clipped_to_image": self.boxes_clipped_to_image,
            "polygons_repaired": self.polygons_repaired,
            "holes_dropped": self.holes_dropped,
            "short_rings": self.short_rings,
            "images_skipped": dict(self.images_skipped),
            "images_truncated": list(self.images_truncated),
        }

    def table(self) -> str:
        """A plain-text per-class table for terminals.

        Example:
            >>> print(TilingReport.empty(["car"], 1).table().splitlines()[0])
            class  total   kept  clipped  dropped  reasons
        """
        rows = self.counts()
        width = max([len("class"), *(len(n) for n in rows)])
        lines = [f"{'class':<{width}}  total   kept  clipped  dropped  reasons"]
        for name, row in [*rows.items(), ("(all)", self.totals())]:
            reasons = ", ".join(
                f"{key.removeprefix('dropped_')}={value}"
                for key, value in row.items()
                if key.startswith("dropped_") and value
            )
            lines.append(
                f"{name:<{width}}  {row['total']:>5}  {row['kept']:>5}  {row['clipped']:>7}  "
                f"{row['dropped']:>7}  {reasons}"
            )
        return "\n".join(lines)
