"""Choose between an optional compiled extension and its pure-Python twin, once, at import.

- BRIDGE_NO_EXTENSIONS=1 forces the pure-Python twin (it wins over the next one).
- BRIDGE_REQUIRE_EXTENSIONS=1 makes a missing extension an ImportError instead of a fallback.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType

_TRUE = frozenset({"1", "true", "yes", "on"})


def flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in _TRUE


def load_extension(environ: Mapping[str, str], module_name: str) -> ModuleType | None:
    """The compiled module, or None when the pure twin must run (see the module docstring)."""
    if flag(environ, "BRIDGE_NO_EXTENSIONS"):
        return None
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        if flag(environ, "BRIDGE_REQUIRE_EXTENSIONS"):
            raise ImportError(
                f"BRIDGE_REQUIRE_EXTENSIONS=1 but {module_name} is not built ({exc}); "
                "install with a C compiler and Cython (`pip install -e .`) "
                "or run `python setup.py build_ext --inplace`"
            ) from exc
        return None
