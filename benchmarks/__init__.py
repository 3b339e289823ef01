"""Benchmarks for tilewise's sliced-inference engine, measured beside supervision and SAHI.

Run everything with ``python -m benchmarks`` (see ``python -m benchmarks --help``).
Results of the latest full run live in ``benchmarks/RESULTS.md``.

Nothing here is imported by tilewise itself, and speed is measured only here: the unit
tests never time anything.
"""

from __future__ import annotations

__all__: list[str] = []
