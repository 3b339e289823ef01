"""Shared by the exact ``plan_tiles`` tests."""

from __future__ import annotations


def tiles(candidates: int, with_objects: int, empty_kept: int = 0) -> dict[str, int]:
    """The report's ``tiles`` counters: every tile with objects is written, plus the empty
    tiles kept."""
    return {
        "candidates": candidates,
        "with_objects": with_objects,
        "empty": candidates - with_objects,
        "empty_kept": empty_kept,
        "selected": with_objects + empty_kept,
    }
