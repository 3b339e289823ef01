"""Plain-text and markdown tables for evaluation reports (no extra dependencies)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["format_value", "html_table", "markdown_table", "text_table"]

MISSING = "-"
"""Shown for an undefined metric (COCO's -1: no ground truth in that slice)."""


def format_value(value: Any, digits: int = 3) -> str:
    """Format a table cell: floats to ``digits`` places, NaN/None as ``-``.

    Example:
        >>> format_value(0.12345), format_value(float("nan")), format_value(7)
        ('0.123', '-', '7')
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        return f"{value:.{digits}f}"
    return str(value)


def _cells(rows: Sequence[Sequence[Any]], digits: int) -> list[list[str]]:
    return [[format_value(v, digits) for v in row] for row in rows]


def _is_number(cell: str) -> bool:
    if cell == MISSING:
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _numeric_columns(body: Sequence[Sequence[str]], n: int) -> list[bool]:
    """Columns whose cells are all numbers (or ``-``); the first column never is."""
    return [i > 0 and all(_is_number(row[i]) for row in body) for i in range(n)]


def text_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, digits: int = 3, title: str = ""
) -> str:
    """Render a fixed-width table; numeric columns are right-aligned, others left.

    Example:
        >>> print(text_table(["metric", "value"], [["AP", 0.5], ["AR", float("nan")]]))
        metric  value
        ------  -----
        AP      0.500
        AR          -
    """
    body = _cells(rows, digits)
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    numeric = _numeric_columns(body, len(headers))

    def line(cells: Sequence[str]) -> str:
        out = [
            cell.rjust(widths[i]) if numeric[i] else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(out).rstrip()

    lines = [title] if title else []
    lines.append(line(list(headers)))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(line(row) for row in body)
    return "\n".join(lines)


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, digits: int = 3
) -> str:
    """Render a GitHub-flavoured markdown table (numeric columns right-aligned).

    Example:
        >>> print(markdown_table(["metric", "value"], [["AP", 0.5]]))
        | metric | value |
        |:--|--:|
        | AP | 0.500 |
    """
    body = _cells(rows, digits)
    esc = [[c.replace("|", "\\|") for c in row] for row in body]
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in headers) + " |"]
    numeric = _numeric_columns(body, len(headers))
    lines.append("|" + "|".join("--:" if num else ":--" for num in numeric) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in esc)
    return "\n".join(lines)


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, digits: int = 3) -> str:
    """Render an HTML ``<table>`` (cells escaped; numeric columns right-aligned).

    Example:
        >>> html_table(["run", "AP"], [["a<b", 0.5]]).splitlines()[2]
        '<tr><td>a&lt;b</td><td class="num">0.500</td></tr>'
    """
    import html

    body = _cells(rows, digits)
    numeric = _numeric_columns(body, len(headers))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    lines = ["<table>", f"<tr>{head}</tr>"]
    for row in body:
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>' if numeric[i] else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</table>")
    return "\n".join(lines)
