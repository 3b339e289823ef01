"""Names of the merge methods."""

from __future__ import annotations

from tilewise.choices import Choice

__all__ = ["MergeMethod", "MergeMethodLike"]


class MergeMethod(Choice):
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
    def option_name(cls) -> str:
        """Name used in error messages.

        Example:
            >>> from tilewise.merge import MergeMethod
            >>> MergeMethod.parse("Greedy_NMM")
            <MergeMethod.GREEDY_NMM: 'greedy_nmm'>
        """
        return "merge method"


MergeMethodLike = MergeMethod | str
