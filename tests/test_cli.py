from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import tilewise
from tilewise import TilewiseError
from tilewise.cli import app, main
from tilewise.cli.app import COMMANDS, Command, build_app
from tilewise.cli.console import ExitCode, fail

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    for command in COMMANDS:
        assert command.name in result.output
    assert "--version" in result.output


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "Usage" in result.output
    assert "version" in result.output


def test_version_command_output() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"tilewise {tilewise.__version__}"
    assert f"numpy {np.__version__}" in lines
    assert f"opencv {cv2.__version__}" in lines
    assert any(line.startswith("python 3.") for line in lines)
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("backend", "line"),
    [("native", "kernels native (C extension)"), ("python", "kernels python (pure numpy)")],
)
def test_version_names_the_kernel_backend(backend: str, line: str) -> None:
    from tilewise.kernels import use_backend

    with use_backend(backend):
        result = runner.invoke(app, ["version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == line


def test_version_option() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"tilewise {tilewise.__version__}"


def test_unknown_command_is_a_usage_error() -> None:
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2
    assert "no-such-command" in result.stderr


def test_command_names_are_unique() -> None:
    names = [c.name for c in COMMANDS]
    assert len(names) == len(set(names))


def _app_with_failing_commands() -> typer.Typer:
    def boom(path: str = "x.png") -> None:
        """Fail like a library call on bad input."""
        raise TilewiseError(f"image file not found: {path}")

    def crash() -> None:
        """Fail with a bug, which must not be disguised as bad input."""
        raise RuntimeError("a bug")

    sub = typer.Typer(no_args_is_help=True)
    sub.command("inner")(boom)
    sub.command("other")(crash)
    return build_app(
        (*COMMANDS, Command("boom", boom), Command("crash", crash), Command("sub", sub))
    )


def test_tilewise_error_becomes_exit_code_2_on_stderr() -> None:
    result = runner.invoke(_app_with_failing_commands(), ["boom", "--path", "missing.png"])
    assert result.exit_code == ExitCode.BAD_INPUT == 2
    assert result.stderr.strip() == "error: image file not found: missing.png"
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, TilewiseError)


def test_tilewise_error_in_sub_app_also_exits_2() -> None:
    custom = _app_with_failing_commands()
    result = runner.invoke(custom, ["sub", "inner"])
    assert result.exit_code == 2
    assert "error: image file not found: x.png" in result.stderr
    help_result = runner.invoke(custom, ["--help"])
    assert "sub" in help_result.output
    assert "boom" in help_result.output


def test_other_exceptions_are_not_swallowed() -> None:
    result = runner.invoke(_app_with_failing_commands(), ["crash"])
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)


def test_fail_helper(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as info:
        fail("bad slice size", ExitCode.FAILURE)
    assert info.value.exit_code == 1
    assert capsys.readouterr().err == "error: bad slice size\n"


def test_main_runs_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["tilewise", "--version"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 0


def test_module_entry_point_and_lazy_imports() -> None:
    """``tilewise --help`` in a fresh interpreter imports no optional dependency."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from tilewise.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "optional = ['supervision', 'sahi', 'matplotlib', 'torch', 'faster_coco_eval',\n"
        "            'pycocotools', 'shapely', 'ensemble_boxes', 'yaml']\n"
        "print(sorted(m for m in optional if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    version = subprocess.run(
        [sys.executable, "-m", "tilewise.cli", "version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert version.stdout.startswith(f"tilewise {tilewise.__version__}\n")
