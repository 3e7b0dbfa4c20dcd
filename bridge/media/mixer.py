"""Pick the mixer kernel once, at import: the Cython extension if built, else the pure twin.

See `bridge.media.extension` for BRIDGE_NO_EXTENSIONS / BRIDGE_REQUIRE_EXTENSIONS.
`IMPLEMENTATION` ("cython" or "python") is what /healthz reports.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import cast

from bridge.media import mix_py
from bridge.media.extension import load_extension

MixFunction = Callable[
    [mix_py.BytesLike, mix_py.BytesLike, mix_py.BytesLike, bytearray | memoryview], None
]

EXTENSION_MODULE = "bridge.media._mix"


def select_implementation(environ: Mapping[str, str]) -> tuple[MixFunction, str]:
    """Return (mix, name) for the given environment."""
    module = load_extension(environ, EXTENSION_MODULE)
    if module is None:
        return mix_py.mix, "python"
    return cast(MixFunction, module.mix), "cython"


mix, IMPLEMENTATION = select_implementation(os.environ)

__all__ = ["IMPLEMENTATION", "MixFunction", "mix", "select_implementation"]
