"""Build hook for tilewise's optional C extension; all other configuration is in pyproject.toml.

The extension (``tilewise.kernels._native``) speeds up the merge kernels; without a C
compiler the build skips it and tilewise runs its bit-identical pure-numpy twin
(``tilewise.kernels._numpy``). ``TILEWISE_BUILD_NATIVE=0`` skips it on purpose;
``TILEWISE_BUILD_NATIVE=1`` makes a failed build an error (wheel builds use it).
"""

import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_WANT = os.environ.get("TILEWISE_BUILD_NATIVE", "auto").strip().lower()


class BuildExt(build_ext):
    """Compile with floating-point contraction off so no FMA changes an overlap value."""

    def build_extensions(self) -> None:
        """Add ``-ffp-contract=off`` for gcc/clang, then build as usual."""
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args = [*ext.extra_compile_args, "-ffp-contract=off"]
        super().build_extensions()


ext_modules = []
if _WANT not in ("0", "false", "no", "off"):
    ext_modules.append(
        Extension(
            "tilewise.kernels._native",
            sources=["src/tilewise/kernels/_native.c"],
            # without a compiler the build warns and goes on: the numpy twin takes over
            optional=_WANT not in ("1", "true", "yes", "on"),
        )
    )

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExt})
