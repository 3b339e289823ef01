"""Exception and warning types raised by tilewise."""

from __future__ import annotations

__all__ = ["TilewiseError", "TilewiseWarning", "ModelOutputError"]


class TilewiseError(ValueError):
    """Bad input to a tilewise function; the message says what was expected."""


class ModelOutputError(TilewiseError):
    """A model callback returned something other than one ``Detections`` per input image."""


class TilewiseWarning(UserWarning):
    """Something was dropped or corrected; the message says what and how many."""
