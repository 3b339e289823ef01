"""``tilewise version``: the versions of tilewise and its core dependencies."""

from __future__ import annotations

import platform

from tilewise.cli import console

__all__ = ["version", "versions"]


def versions() -> list[tuple[str, str]]:
    """Name and version of tilewise, numpy, OpenCV and Python, in that order.

    Example:
        >>> [name for name, _ in versions()]
        ['tilewise', 'numpy', 'opencv', 'python']
    """
    import numpy

    from tilewise._version import __version__

    try:
        import cv2

        opencv = str(cv2.__version__)
    except ImportError:
        opencv = "not installed (pip install opencv-python-headless)"
    return [
        ("tilewise", __version__),
        ("numpy", numpy.__version__),
        ("opencv", opencv),
        ("python", platform.python_version()),
    ]


def version() -> None:
    """Print the versions of tilewise, numpy, OpenCV and Python."""
    for name, value in versions():
        console.echo(f"{name} {value}")
