"""Dataset file formats: COCO JSON, YOLO txt + data.yaml, Pascal VOC XML."""

from tilewise.datasets.formats.coco import coco_dict, read_coco, write_coco
from tilewise.datasets.formats.layout import ImageTransfer
from tilewise.datasets.formats.policy import OnError, WriteSummary
from tilewise.datasets.formats.voc import read_voc, write_voc
from tilewise.datasets.formats.yolo import YoloTask, read_yolo, write_yolo

__all__ = [
    "ImageTransfer",
    "OnError",
    "WriteSummary",
    "YoloTask",
    "coco_dict",
    "read_coco",
    "read_voc",
    "read_yolo",
    "write_coco",
    "write_voc",
    "write_yolo",
]
