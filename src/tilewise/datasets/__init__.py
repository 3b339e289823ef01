"""Dataset toolkit: columnar datasets, formats, tiling, classes, health, anchors, augmentation."""

from tilewise.datasets.anchors import analyse_anchors, evolve_anchors, label_sizes
from tilewise.datasets.classes import ClassChange, keep_classes, remap_classes
from tilewise.datasets.convert import (
    DatasetFormat,
    convert,
    detect_format,
    read_dataset,
    write_dataset,
)
from tilewise.datasets.dataset import (
    Dataset,
    DatasetBuilder,
    DatasetFormatError,
    ImageTable,
    Issue,
    Split,
)
from tilewise.datasets.formats import (
    ImageTransfer,
    OnError,
    WriteSummary,
    YoloTask,
    read_coco,
    read_voc,
    read_yolo,
    write_coco,
    write_voc,
    write_yolo,
)
from tilewise.datasets.health import health_check
from tilewise.datasets.segments import SegmentKind, Segments
from tilewise.datasets.tiling import TilingConfig, TilingReport, plan_tiles, tile_dataset

__all__ = [
    "ClassChange",
    "Dataset",
    "DatasetBuilder",
    "DatasetFormat",
    "DatasetFormatError",
    "ImageTable",
    "ImageTransfer",
    "Issue",
    "OnError",
    "SegmentKind",
    "Segments",
    "Split",
    "TilingConfig",
    "TilingReport",
    "WriteSummary",
    "YoloTask",
    "analyse_anchors",
    "convert",
    "detect_format",
    "evolve_anchors",
    "health_check",
    "keep_classes",
    "label_sizes",
    "plan_tiles",
    "read_coco",
    "read_dataset",
    "read_voc",
    "read_yolo",
    "remap_classes",
    "tile_dataset",
    "write_coco",
    "write_dataset",
    "write_voc",
    "write_yolo",
]
