"""``tilewise version``: the versions of tilewise and its core dependencies, and the kernels."""

from __future__ import annotations

import platform

from tilewise.cli import console

__all__ = ["version", "versions"]


def versions() -> list[tuple[str, str]]:
    """Name and version of tilewise, its merge-kernel backend, numpy, OpenCV and Python.

    The kernel backend is ``native`` (the C extension) or ``python`` (the pure-numpy
    twin, used when the extension is not built or ``TILEWISE_KERNELS=python``).

    Example:
        >>> [name for name, _ in versions()]
        ['tilewise', 'kernels', 'numpy', 'opencv', 'python']
    """
    import numpy

    from tilewise._version import __version__
    from tilewise.kernels import KernelBackend, active_backend

    try:
        import cv2

        opencv = str(cv2.__version__)
    except ImportError:
        opencv = "not installed (pip install opencv-python-headless)"
    kernels = {
        KernelBackend.NATIVE: "native (C extension)",
        KernelBackend.PYTHON: "python (pure numpy)",
    }[active_backend()]
    return [
        ("tilewise", __version__),
        ("kernels", kernels),
        ("numpy", numpy.__version__),
        ("opencv", opencv),
        ("python", platform.python_version()),
    ]


def version() -> None:
    """Print the versions of tilewise, numpy, OpenCV and Python, and the kernel backend."""
    for name, value in versions():
        console.echo(f"{name} {value}")
