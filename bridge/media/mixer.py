"""Pick the mixer kernel once, at import: the Cython extension if built, else the pure twin.

- BRIDGE_NO_EXTENSIONS=1 forces the pure-Python twin (it wins over the next one).
- BRIDGE_REQUIRE_EXTENSIONS=1 makes a missing extension an ImportError instead of a fallback.

`IMPLEMENTATION` ("cython" or "python") is what /healthz reports.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import cast

from bridge.media import mix_py

MixFunction = Callable[
    [mix_py.BytesLike, mix_py.BytesLike, mix_py.BytesLike, bytearray | memoryview], None
]

_TRUE = frozenset({"1", "true", "yes", "on"})
EXTENSION_MODULE = "bridge.media._mix"


def _flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in _TRUE


def select_implementation(environ: Mapping[str, str]) -> tuple[MixFunction, str]:
    """Return (mix, name) for the given environment; see the module docstring."""
    if _flag(environ, "BRIDGE_NO_EXTENSIONS"):
        return mix_py.mix, "python"
    try:
        module = importlib.import_module(EXTENSION_MODULE)
    except ImportError as exc:
        if _flag(environ, "BRIDGE_REQUIRE_EXTENSIONS"):
            raise ImportError(
                f"BRIDGE_REQUIRE_EXTENSIONS=1 but {EXTENSION_MODULE} is not built ({exc}); "
                "install with a C compiler and Cython (`pip install -e .`) "
                "or run `python setup.py build_ext --inplace`"
            ) from exc
        return mix_py.mix, "python"
    return cast(MixFunction, module.mix), "cython"


mix, IMPLEMENTATION = select_implementation(os.environ)

__all__ = ["IMPLEMENTATION", "MixFunction", "mix", "select_implementation"]
