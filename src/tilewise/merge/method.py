"""Names of the merge methods."""

from __future__ import annotations

from enum import Enum

from tilewise.errors import TilewiseError

__all__ = ["MergeMethod", "MergeMethodLike"]


class MergeMethod(str, Enum):
    """How duplicate detections are combined.

    ``NONE`` keeps everything; ``NMS`` suppresses (non-max suppression); ``NMM`` merges
    around a growing box (non-max merge); ``GREEDY_NMM`` merges into each keeper's own box
    (SAHI's default); ``WBF`` fuses boxes by confidence-weighted averaging.
    """

    NONE = "none"
    NMS = "nms"
    NMM = "nmm"
    GREEDY_NMM = "greedy_nmm"
    WBF = "wbf"

    @classmethod
    def parse(cls, value: MergeMethodLike) -> MergeMethod:
        """Turn a name (any case) or a MergeMethod into a MergeMethod.

        Example:
            >>> from tilewise.merge import MergeMethod
            >>> MergeMethod.parse("Greedy_NMM")
            <MergeMethod.GREEDY_NMM: 'greedy_nmm'>
        """
        if isinstance(value, MergeMethod):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise TilewiseError(
                f"merge method must be one of {[m.value for m in cls]}, got {value!r}"
            ) from None


MergeMethodLike = MergeMethod | str
