"""Pick one call's RTP hot path once, at import: the Cython `RtpCore` if built, else the twin.

See `bridge.media.extension` for BRIDGE_NO_EXTENSIONS / BRIDGE_REQUIRE_EXTENSIONS.
`IMPLEMENTATION` ("cython" or "python") is what /healthz reports. An extension built from
an older `_rtp_core.pyx` (no `on_stray`) counts as not built: the twins must agree.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from bridge.media.extension import flag, load_extension
from bridge.pbx.embedded import rtp_core_py

EXTENSION_MODULE = "bridge.pbx.embedded._rtp_core"
REBUILD = "run `python setup.py build_ext --inplace`"

log = logging.getLogger(__name__)


def select_implementation(environ: Mapping[str, str]) -> tuple[type[rtp_core_py.RtpCore], str]:
    """Return (RtpCore class, name) for the given environment."""
    module = load_extension(environ, EXTENSION_MODULE)
    if module is None:
        return rtp_core_py.RtpCore, "python"
    core: type[rtp_core_py.RtpCore] = module.RtpCore
    if not hasattr(core, "on_stray"):
        if flag(environ, "BRIDGE_REQUIRE_EXTENSIONS"):
            raise ImportError(f"{EXTENSION_MODULE} is built from an older source; {REBUILD}")
        log.warning(
            "%s is built from an older source: the pure twin runs; %s", EXTENSION_MODULE, REBUILD
        )
        return rtp_core_py.RtpCore, "python"
    return core, "cython"


RtpCore, IMPLEMENTATION = select_implementation(os.environ)

__all__ = ["IMPLEMENTATION", "RtpCore", "select_implementation"]
