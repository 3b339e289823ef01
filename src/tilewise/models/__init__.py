"""Detectors for sliced inference: ONNX (YOLOv8 layout) through ONNX Runtime, and adapters.

Nothing here imports torch: ``OnnxDetector`` needs only numpy, OpenCV and onnxruntime.
"""

from tilewise.models.adapters import TorchModuleDetector, UltralyticsDetector, as_batch_model
from tilewise.models.bundled import bundled_path, default_detector
from tilewise.models.dynamic_input import with_dynamic_input
from tilewise.models.letterbox import LetterboxInfo, letterbox, letterbox_batch, unletterbox_boxes
from tilewise.models.metadata import ModelMetadata
from tilewise.models.onnx_detector import OnnxDetector
from tilewise.models.yolo_layout import ModelLayoutError, check_output_shape, decode_yolov8

__all__ = [
    "LetterboxInfo",
    "ModelLayoutError",
    "ModelMetadata",
    "OnnxDetector",
    "TorchModuleDetector",
    "UltralyticsDetector",
    "as_batch_model",
    "bundled_path",
    "check_output_shape",
    "decode_yolov8",
    "default_detector",
    "letterbox",
    "letterbox_batch",
    "unletterbox_boxes",
    "with_dynamic_input",
]
