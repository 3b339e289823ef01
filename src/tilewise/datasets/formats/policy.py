"""How readers treat bad records: raise with file and place, or skip and report."""

from __future__ import annotations

import os
import warnings
from enum import Enum

from tilewise.datasets.dataset import DatasetBuilder, DatasetFormatError
from tilewise.errors import TilewiseWarning

__all__ = ["OnError", "RecordPolicy", "WriteSummary"]


class OnError(str, Enum):
    """What a reader does with a bad record: ``raise`` an error, or ``skip`` it and report it."""

    RAISE = "raise"
    SKIP = "skip"


class RecordPolicy:
    """Applies an ``OnError`` policy; every skip is recorded as an ``Issue`` on the builder.

    Example:
        >>> b = DatasetBuilder(["a"])
        >>> pol = RecordPolicy("skip", b)
        >>> pol.bad("f.txt", "line 1", "not a number")
        >>> pol.skipped, str(b.issues[0])
        (1, 'f.txt:line 1: not a number (skipped)')
    """

    def __init__(self, on_error: OnError | str, builder: DatasetBuilder) -> None:
        self.on_error = OnError(on_error)
        self.builder = builder
        self.skipped = 0

    def bad(self, file: str | os.PathLike[str], where: str, message: str) -> None:
        """A record cannot be used: raise (``raise``) or record and count it (``skip``)."""
        if self.on_error is OnError.RAISE:
            loc = f"{file}:{where}" if where else str(file)
            raise DatasetFormatError(f"{loc}: {message}")
        self.skipped += 1
        self.builder.add_issue(file, where, f"{message} (skipped)")

    def note(self, file: str | os.PathLike[str], where: str, message: str) -> None:
        """A record is kept but suspicious (e.g. a box outside its image): report it."""
        self.builder.add_issue(file, where, message)

    def warn_if_skipped(self, source: str | os.PathLike[str]) -> None:
        """Emit one ``TilewiseWarning`` naming how many records were skipped."""
        if self.skipped:
            warnings.warn(
                f"{source}: skipped {self.skipped} bad record(s); see Dataset.issues",
                TilewiseWarning,
                stacklevel=3,
            )


class WriteSummary:
    """What a writer produced, and notes on anything it had to change (never silent).

    Example:
        >>> s = WriteSummary(); s.add_note("3 masks converted"); s.notes
        ['3 masks converted']
    """

    def __init__(self) -> None:
        self.files: list[os.PathLike[str]] = []
        self.notes: list[str] = []

    def add_note(self, message: str) -> None:
        """Record a lossy or corrective change made while writing."""
        self.notes.append(message)

    def __repr__(self) -> str:
        return f"WriteSummary(files={len(self.files)}, notes={self.notes})"
