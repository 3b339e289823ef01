"""The root ``tilewise`` command and the one list of its sub-commands.

Registering a command group
---------------------------
Each command group lives in its own module, ``tilewise/cli/<group>_cmd.py``, and is
registered in ``COMMANDS`` below, the only place that knows them all. A module exposes
either

* a function, registered as a single command (``tilewise version``), or
* ``app: typer.Typer``, a sub-app registered with ``root.add_typer(module.app, name=...)``
  (``tilewise dataset tile ...``).

For example, a new group is written as::

    # tilewise/cli/eval_cmd.py
    import typer

    app = typer.Typer(help="Evaluate detections against COCO ground truth.",
                      no_args_is_help=True)

    @app.command()
    def coco(predictions: Path, annotations: Path) -> None:
        from tilewise.eval import evaluate_coco  # heavy/optional imports inside

        ...

and wired in with one line in ``COMMANDS``: ``Command("eval", eval_cmd.app)``.

Rules for command modules:

* Import heavy or optional dependencies (OpenCV, matplotlib, supervision, torch,
  faster-coco-eval, shapely, ...) inside the command functions, never at module top, so
  ``tilewise --help`` stays fast and works with only the core dependencies.
* Keep commands thin: parse arguments, call the library, print with
  ``tilewise.cli.console``. Let ``TilewiseError`` propagate: the root group prints its
  message to stderr and exits with code 2, for sub-apps too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, NamedTuple

import typer

from tilewise.cli import (
    bench_cmd,
    check_cmd,
    dataset_cmd,
    eval_cmd,
    predict_cmd,
    serve_cmd,
    tracking_cmd,
    train_cmd,
    tune_cmd,
    version_cmd,
)
from tilewise.cli.console import TilewiseGroup, echo

__all__ = ["COMMANDS", "Command", "app", "build_app", "main"]

HELP = (
    "Find small objects in large images: slice, detect in batches, merge, tile datasets, evaluate."
)


class Command(NamedTuple):
    """One entry of ``COMMANDS``: a name and a command function or a sub-app."""

    name: str
    target: Callable[..., Any] | typer.Typer


COMMANDS: tuple[Command, ...] = (
    Command("version", version_cmd.version),
    Command("predict", predict_cmd.predict),
    Command("check", check_cmd.check),
    Command("dataset", dataset_cmd.app),
    Command("eval", eval_cmd.eval_command),
    Command("compare", eval_cmd.compare_command),
    Command("sweep", eval_cmd.sweep_command),
    Command("tune", tune_cmd.tune_command),
    Command("eval-tracks", tracking_cmd.eval_tracks),
    Command("train", train_cmd.train),
    Command("export", train_cmd.export),
    Command("bench", bench_cmd.app),
    Command("serve", serve_cmd.serve),
)
"""Every sub-command of ``tilewise``, in help order."""


def _show_version(value: bool) -> None:
    if value:
        from tilewise._version import __version__

        echo(f"tilewise {__version__}")
        raise typer.Exit()


def _root_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the tilewise version and exit.",
        ),
    ] = False,
) -> None:
    """Find small objects in large images: slice, detect in batches, merge, evaluate."""


def build_app(commands: tuple[Command, ...] = COMMANDS) -> typer.Typer:
    """Build the root ``tilewise`` Typer app with ``commands`` registered.

    Example:
        >>> from typer.testing import CliRunner
        >>> result = CliRunner().invoke(build_app(), ["--version"])
        >>> result.exit_code, result.output.split()[0]
        (0, 'tilewise')
    """
    root = typer.Typer(
        name="tilewise",
        help=HELP,
        no_args_is_help=True,
        cls=TilewiseGroup,
        add_completion=False,
        pretty_exceptions_show_locals=False,
    )
    root.callback()(_root_callback)
    for command in commands:
        if isinstance(command.target, typer.Typer):
            root.add_typer(command.target, name=command.name)
        else:
            root.command(name=command.name)(command.target)
    return root


app = build_app()


def main() -> None:
    """Run the ``tilewise`` command line (the console-script entry point)."""
    app(prog_name="tilewise")
