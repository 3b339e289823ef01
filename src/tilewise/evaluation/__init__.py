"""Evaluation: COCO metrics with size buckets, error analysis, run comparison and sweeps.

Needs the ``eval`` extra (faster-coco-eval, matplotlib): ``pip install 'tilewise[eval]'``.
Both are imported only when a function needs them.
"""

from tilewise.evaluation.buckets import (
    ALL_RANGE,
    COCO_AREA_RANGES,
    TINY_AREA_RANGES,
    AreaRange,
    build_area_ranges,
)
from tilewise.evaluation.coco import (
    GroundTruth,
    IouType,
    Predictions,
    SkipReason,
    SkipReport,
    load_ground_truth,
    load_predictions,
)
from tilewise.evaluation.compare import (
    Comparison,
    RunResult,
    RunSpec,
    compare_runs,
    predict_dataset,
    standard_runs,
)
from tilewise.evaluation.dataset import EvalDataset
from tilewise.evaluation.error_analysis import ErrorAnalysis, ErrorType, analyze_errors
from tilewise.evaluation.metrics import DEFAULT_MAX_DETS, evaluate, parse_max_dets
from tilewise.evaluation.result import ClassMetrics, EvaluationResult, stat_key
from tilewise.evaluation.sweep import SweepPoint, SweepResult, expand_grid, sweep

__all__ = [
    "ALL_RANGE",
    "COCO_AREA_RANGES",
    "DEFAULT_MAX_DETS",
    "TINY_AREA_RANGES",
    "AreaRange",
    "ClassMetrics",
    "Comparison",
    "ErrorAnalysis",
    "ErrorType",
    "EvalDataset",
    "EvaluationResult",
    "GroundTruth",
    "IouType",
    "Predictions",
    "RunResult",
    "RunSpec",
    "SkipReason",
    "SkipReport",
    "SweepPoint",
    "SweepResult",
    "analyze_errors",
    "build_area_ranges",
    "compare_runs",
    "evaluate",
    "expand_grid",
    "load_ground_truth",
    "load_predictions",
    "parse_max_dets",
    "predict_dataset",
    "standard_runs",
    "stat_key",
    "sweep",
]
