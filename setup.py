"""Optional C extensions (the mixer, the RTP hot path); all metadata lives in pyproject.toml.

The build is best-effort: without Cython or a C compiler the package installs without
`bridge.media._mix` and runs the pure-Python twin. BRIDGE_REQUIRE_EXTENSIONS=1 turns a
failed build into an error; BRIDGE_NO_EXTENSIONS=1 skips the build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

_TRUE = {"1", "true", "yes", "on"}
REQUIRE = os.environ.get("BRIDGE_REQUIRE_EXTENSIONS", "").strip().lower() in _TRUE
SKIP = os.environ.get("BRIDGE_NO_EXTENSIONS", "").strip().lower() in _TRUE
_BUILD_ERRORS = (CCompilerError, ExecError, PlatformError, OSError)

HERE = Path(__file__).parent
# (module, Cython source): each has a pure-Python twin that runs when it is not built
EXTENSIONS = [
    ("bridge.media._mix", "bridge/media/_mix.pyx"),
    ("bridge.pbx.embedded._rtp_core", "bridge/pbx/embedded/_rtp_core.pyx"),
]


def _warn(message: str) -> None:
    print(f"WARNING: {message}; the pure-Python twins will be used", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """build_ext that tolerates a missing compiler unless extensions are required.

    A failed extension is dropped from `self.extensions`, so the later steps (the in-place
    copy of `pip install -e`, the wheel's file list) do not look for its missing binary.
    """

    def run(self) -> None:
        try:
            super().run()
        except _BUILD_ERRORS as exc:
            if REQUIRE:
                raise
            self.extensions = []
            _warn(f"building the C extensions failed ({exc})")

    def build_extensions(self) -> None:
        self.check_extensions_list(self.extensions)
        built = []
        for ext in self.extensions:
            try:
                self.build_extension(ext)
            except _BUILD_ERRORS as exc:
                if REQUIRE:
                    raise
                _warn(f"building {ext.name} failed ({exc})")
            else:
                built.append(ext)
        self.extensions = built


def _extensions() -> list[Extension]:
    if SKIP:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        generated = [(name, pyx[: -len(".pyx")] + ".c") for name, pyx in EXTENSIONS]
        if all((HERE / c).exists() for _, c in generated):  # an sdist may ship the generated C
            return [Extension(name, [c]) for name, c in generated]
        if REQUIRE:
            raise SystemExit("BRIDGE_REQUIRE_EXTENSIONS=1 but Cython is not installed") from None
        _warn("Cython is not installed")
        return []
    built = []
    for name, pyx in EXTENSIONS:
        try:
            built += cythonize([Extension(name, [pyx])], quiet=True)  # type: ignore[no-untyped-call]
        except Exception as exc:  # Cython raises its own CompileError types
            if REQUIRE:
                raise
            _warn(f"cythonizing {pyx} failed ({exc})")
    return built


setup(
    ext_modules=_extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
    exclude_package_data={
        "bridge.media": ["*.c"],
        "bridge.pbx.embedded": ["*.c"],
    },  # generated C stays out of the wheel
)
