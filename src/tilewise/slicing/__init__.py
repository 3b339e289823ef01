"""Slicing: the slice grid and the batched sliced-inference engine."""

from tilewise.slicing.grid import OverlapLike, SizeLike, SliceGrid

__all__ = ["OverlapLike", "SizeLike", "SliceGrid"]
