"""Training the tilewise detector (needs the ``train`` extra: PyTorch and onnx).

Nothing in the inference path imports this package; import it explicitly::

    from tilewise.training import TrainConfig, train
"""

from tilewise.training.batch_size import BatchMemoryError, MemoryProfile
from tilewise.training.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from tilewise.training.config import DEFAULT_ANCHORS, STRIDES, DetectorConfig, TrainConfig
from tilewise.training.detector import TileDetector, count_parameters
from tilewise.training.export import export_checkpoint, export_onnx
from tilewise.training.train import TrainResult, train

__all__ = [
    "DEFAULT_ANCHORS",
    "STRIDES",
    "BatchMemoryError",
    "CheckpointError",
    "DetectorConfig",
    "MemoryProfile",
    "TileDetector",
    "TrainConfig",
    "TrainResult",
    "count_parameters",
    "export_checkpoint",
    "export_onnx",
    "load_checkpoint",
    "model_from_checkpoint",
    "train",
]
