"""Slicing: the slice grid and the batched sliced-inference engine."""

from tilewise.slicing.config import SlicerConfig
from tilewise.slicing.grid import OverlapLike, SizeLike, SliceGrid
from tilewise.slicing.model import (
    BatchModel,
    StagedModel,
    batched,
    check_model_outputs,
    is_staged,
)
from tilewise.slicing.report import SlicedPrediction, SliceReport, StageTimings
from tilewise.slicing.scales import Scale, ScaleStats
from tilewise.slicing.slicer import FULL_FRAME, Slicer

__all__ = [
    "FULL_FRAME",
    "BatchModel",
    "OverlapLike",
    "Scale",
    "ScaleStats",
    "SizeLike",
    "SliceGrid",
    "SliceReport",
    "SlicedPrediction",
    "Slicer",
    "SlicerConfig",
    "StageTimings",
    "StagedModel",
    "batched",
    "check_model_outputs",
    "is_staged",
]
