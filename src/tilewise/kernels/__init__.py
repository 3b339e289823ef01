"""Ground floor: pure array kernels for merging and overlap queries, and ``MergeResult``.

Everything here works on plain arrays (boxes as float64 ``xyxy`` rows, confidences, class
ids) and knows nothing of ``Detections``, masks or slicing; it imports only
``tilewise.errors`` and ``tilewise.choices``. The greedy grouping routine behind the
kernels has two interchangeable backends with bit-identical results: the C extension
``tilewise.kernels._native`` and its pure-numpy twin ``tilewise.kernels._numpy``
(``TILEWISE_KERNELS=native|python``; see ``tilewise.kernels.backend``).
"""

from tilewise.kernels.backend import KernelBackend, active_backend, use_backend
from tilewise.kernels.fusion import enclosing_boxes, mean_confidence, weighted_mean_boxes
from tilewise.kernels.greedy import greedy_nmm_kernel, nmm_kernel, nms_kernel, wbf_kernel
from tilewise.kernels.metric import Metric, MetricLike
from tilewise.kernels.pairs import overlapping_pairs
from tilewise.kernels.result import MergeAction, MergeResult

__all__ = [
    "KernelBackend",
    "MergeAction",
    "MergeResult",
    "Metric",
    "MetricLike",
    "active_backend",
    "enclosing_boxes",
    "greedy_nmm_kernel",
    "mean_confidence",
    "nmm_kernel",
    "nms_kernel",
    "overlapping_pairs",
    "use_backend",
    "wbf_kernel",
    "weighted_mean_boxes",
]
