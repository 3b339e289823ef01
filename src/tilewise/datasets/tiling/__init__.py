"""Tiling datasets for training with the same ``SliceGrid`` as sliced inference."""

from tilewise.datasets.tiling.accounting import AnnotationStatus, DropReason, TilingReport
from tilewise.datasets.tiling.config import CONFIG_NAME, TilingConfig
from tilewise.datasets.tiling.plan import TilePlan, plan_tiles
from tilewise.datasets.tiling.raster import RasterLabels, raster_labels, tile_raster
from tilewise.datasets.tiling.run import (
    ACCOUNTING_NAME,
    MARKER_NAME,
    PROVENANCE_NAME,
    TilingResult,
    is_complete,
    tile_dataset,
)
from tilewise.datasets.tiling.splits import assign_splits

__all__ = [
    "ACCOUNTING_NAME",
    "CONFIG_NAME",
    "MARKER_NAME",
    "PROVENANCE_NAME",
    "AnnotationStatus",
    "DropReason",
    "RasterLabels",
    "TilePlan",
    "TilingConfig",
    "TilingReport",
    "TilingResult",
    "assign_splits",
    "is_complete",
    "plan_tiles",
    "raster_labels",
    "tile_dataset",
    "tile_raster",
]
