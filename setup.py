"""Build hook for tilewise's C extension; all other configuration lives in pyproject.toml."""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """Compile with floating-point contraction off so no FMA changes an overlap value."""

    def build_extensions(self) -> None:
        """Add ``-ffp-contract=off`` for gcc/clang, then build as usual."""
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args = [*ext.extra_compile_args, "-ffp-contract=off"]
        super().build_extensions()


setup(
    ext_modules=[
        Extension("tilewise.merge._native", sources=["src/tilewise/merge/_native.c"]),
    ],
    cmdclass={"build_ext": BuildExt},
)
