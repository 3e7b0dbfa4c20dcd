"""Pick one call's RTP hot path once, at import: the Cython `RtpCore` if built, else the twin.

See `bridge.media.extension` for BRIDGE_NO_EXTENSIONS / BRIDGE_REQUIRE_EXTENSIONS.
`IMPLEMENTATION` ("cython" or "python") is what /healthz reports.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from bridge.media.extension import load_extension
from bridge.pbx.embedded import rtp_core_py

EXTENSION_MODULE = "bridge.pbx.embedded._rtp_core"


def select_implementation(environ: Mapping[str, str]) -> tuple[type[rtp_core_py.RtpCore], str]:
    """Return (RtpCore class, name) for the given environment."""
    module = load_extension(environ, EXTENSION_MODULE)
    if module is None:
        return rtp_core_py.RtpCore, "python"
    core: type[rtp_core_py.RtpCore] = module.RtpCore
    return core, "cython"


RtpCore, IMPLEMENTATION = select_implementation(os.environ)

__all__ = ["IMPLEMENTATION", "RtpCore", "select_implementation"]
