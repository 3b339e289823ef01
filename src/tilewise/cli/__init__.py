"""The ``tilewise`` command line: a thin typer layer over the library."""

from tilewise.cli.app import app, main

__all__ = ["app", "main"]
