"""Consistent CLI output: results to stdout, messages and errors to stderr, exit codes.

Commands stay thin: they call the library and let ``TilewiseError`` propagate. The root
group (``TilewiseGroup``) turns it into ``error: <message>`` on stderr and exit code 2
(``ExitCode.BAD_INPUT``), without a traceback; this covers sub-apps added with
``add_typer`` too, because they run inside the root group's ``invoke``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from tilewise.errors import TilewiseError

__all__ = ["ExitCode", "TilewiseGroup", "echo", "error", "fail", "warn"]


class ExitCode(IntEnum):
    """Process exit codes of the ``tilewise`` command."""

    OK = 0
    FAILURE = 1
    BAD_INPUT = 2


def echo(message: str) -> None:
    """Print a result line to stdout.

    Example:
        >>> echo("done")
        done
    """
    typer.echo(message)


def warn(message: str) -> None:
    """Print ``warning: <message>`` to stderr.

    Example:
        >>> warn("3 detections dropped")
    """
    typer.echo(f"warning: {message}", err=True)


def error(message: str) -> None:
    """Print ``error: <message>`` to stderr.

    Example:
        >>> error("no such file")
    """
    typer.echo(f"error: {message}", err=True)


def fail(message: str, code: ExitCode = ExitCode.BAD_INPUT) -> NoReturn:
    """Print ``message`` as an error and exit with ``code`` (2, bad input, by default).

    Example:
        >>> import typer
        >>> try:
        ...     fail("slice size must be positive")
        ... except typer.Exit as exc:
        ...     exc.exit_code
        2
    """
    error(message)
    raise typer.Exit(code=int(code))


class TilewiseGroup(TyperGroup):
    """Root command group that reports ``TilewiseError`` as a clean exit-code-2 error."""

    def invoke(self, ctx: typer.Context) -> Any:
        """Run the command; a ``TilewiseError`` becomes ``error: ...`` and exit code 2."""
        try:
            return super().invoke(ctx)
        except TilewiseError as exc:
            fail(str(exc), ExitCode.BAD_INPUT)
