"""The real PBXs, as the suites start them: the one shared Asterisk (shared_asterisk.py)
and a FreeSWITCH in a tree of its own, each skipped (failed in CI) when it is not
installed, and the Config fields that point a bridge at each.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from needs import unavailable
from secret_guard import register_secret

from bridge_testing import shared_asterisk
from bridge_testing.asterisk_pbx import AMI_USER, AsteriskProcess, asterisk_root, root_is_complete
from bridge_testing.real_freeswitch import (
    INSTALL_HINT,
    FreeSwitchPorts,
    FreeSwitchProcess,
    freeswitch_home,
)
from bridge_testing.real_freeswitch import installed as freeswitch_installed


@contextlib.contextmanager
def shared_asterisk_pbx() -> Iterator[AsteriskProcess]:
    """The process's one Asterisk (tests/asterisk and tests/adoption share it)."""
    root = asterisk_root()
    if not root_is_complete(root):
        unavailable(f"no Asterisk root at {root}", "bash .ci/asterisk-root.sh")
    if os.geteuid() != 0:
        unavailable("the Asterisk tests need root (chroot, mount)", "run them as root")
    pbx = shared_asterisk.acquire()
    try:
        yield pbx
    finally:
        shared_asterisk.release()


def asterisk_config(pbx: AsteriskProcess) -> dict[str, Any]:
    """The Config fields of a bridge on `pbx` (AMI and FastAGI on the loopback)."""
    return {
        "engine": "asterisk",
        "ami_host": "127.0.0.1",
        "ami_port": pbx.ports.ami,
        "ami_username": AMI_USER,
        "ami_secret": pbx.secret,
        "agi_host": "127.0.0.1",
        "agi_port": pbx.ports.agi,
    }


@contextlib.contextmanager
def running_freeswitch() -> Iterator[FreeSwitchProcess]:
    """A real FreeSWITCH with freeswitch-conf/, in a temporary tree, on free ports."""
    home = freeswitch_home()
    if not freeswitch_installed(home):
        unavailable(f"no FreeSWITCH at {home}", INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="cb-freeswitch-") as tmp:
        fs = FreeSwitchProcess(home, Path(tmp) / "fs", FreeSwitchPorts.pick())
        register_secret(fs.password)  # the ESL password must never reach the log
        fs.prepare()
        try:
            seconds = fs.start()
            print(f"\nfreeswitch: ready {seconds:.2f}s after start (ports {fs.ports})")
            yield fs
        finally:
            fs.stop()


def freeswitch_config(fs: FreeSwitchProcess) -> dict[str, Any]:
    """The Config fields of a bridge on `fs` (ESL inbound and outbound on the loopback)."""
    return {
        "engine": "freeswitch",
        "esl_host": "127.0.0.1",
        "esl_port": fs.ports.esl,
        "esl_password": fs.password,
        "esl_outbound_port": fs.ports.outbound,
        "esl_media_dir": str(fs.sounds),
    }
