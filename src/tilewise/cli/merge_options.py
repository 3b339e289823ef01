"""The merge options shared by every ``predict`` route (image, raster, video, bulk).

``--merge`` picks the method; ``--merge-threshold``, ``--merge-metric`` and
``--class-agnostic`` set the rest of the merge, as ``Slicer``'s ``threshold``, ``metric``
and ``class_agnostic`` and as the HTTP service's ``threshold``, ``metric`` and
``class_agnostic`` form fields do: the same settings give the same detections through
every adapter. ``merge_settings`` checks them once, before any model is loaded or file
written, and gives the ``Slicer`` keyword arguments.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tilewise.errors import TilewiseError
from tilewise.kernels import Metric
from tilewise.merge import MergeMethod

__all__ = [
    "MERGE_DEFAULTS",
    "MERGE_KEYS",
    "ClassAgnosticOption",
    "MergeMetricOption",
    "MergeThresholdOption",
    "merge_settings",
    "slicer_merge",
]

MergeThresholdOption = Annotated[
    float,
    typer.Option(
        "--merge-threshold",
        help="Overlap at which two detections are merged (or one suppressed), in [0, 1].",
    ),
]
MergeMetricOption = Annotated[
    str,
    typer.Option(
        "--merge-metric",
        help="Overlap measure of the merge: iou, or ios (intersection over the smaller box: "
        "a piece cut by a slice edge inside the whole box scores 1).",
    ),
]
ClassAgnosticOption = Annotated[
    bool,
    typer.Option(
        "--class-agnostic",
        help="Merge duplicates across classes (a detector that names the same object "
        "differently in two slices); by default only detections of the same class merge.",
    ),
]

MERGE_KEYS = ("merge", "merge_threshold", "merge_metric", "class_agnostic")
"""``predict``'s parameter names of the four options, in ``merge_settings``'s order."""


def merge_settings(
    merge: str = "nms",
    threshold: float = 0.5,
    metric: str = "iou",
    class_agnostic: bool = False,
) -> dict[str, Any]:
    """The ``Slicer`` merge keyword arguments of the options, checked; else a clear error.

    Example:
        >>> merge_settings("WBF", 0.6, "IoS", True)
        {'merge': 'wbf', 'threshold': 0.6, 'metric': 'ios', 'class_agnostic': True}
        >>> merge_settings(threshold=1.5)
        Traceback (most recent call last):
        ...
        tilewise.errors.TilewiseError: --merge-threshold must be in [0, 1], got 1.5
    """
    try:
        method = MergeMethod.parse(merge)
    except TilewiseError as exc:
        raise TilewiseError(f"--merge: {exc}") from None
    try:
        measure = Metric.parse(metric)
    except TilewiseError as exc:
        raise TilewiseError(f"--merge-metric: {exc}") from None
    value = float(threshold)
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise TilewiseError(f"--merge-threshold must be in [0, 1], got {threshold:g}")
    return {
        "merge": method.value,
        "threshold": value,
        "metric": measure.value,
        "class_agnostic": bool(class_agnostic),
    }


MERGE_DEFAULTS: dict[str, Any] = merge_settings()
"""The defaults, as ``merge_settings`` gives them (``Slicer`` keyword arguments; the
output files record the settings under the same names, as the HTTP service does)."""


def slicer_merge(slicer: Any) -> dict[str, Any]:
    """The merge settings a built ``Slicer`` runs (a config's, say), as ``merge_settings``.

    Example:
        >>> from tilewise import Slicer
        >>> slicer_merge(Slicer(lambda ims: [], merge="wbf", metric="ios"))
        {'merge': 'wbf', 'threshold': 0.5, 'metric': 'ios', 'class_agnostic': False}
    """
    return merge_settings(
        slicer.merge.value, slicer.threshold, slicer.metric.value, slicer.class_agnostic
    )
