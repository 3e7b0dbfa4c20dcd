"""Starting a process a test needs (a PBX, a container, a SIPp phone): loopback ports free
now, and the one start wait: until the process answers, or dies, within a deadline.

A start that fails says why in the test's failure: the last answer of the readiness check
and the tail of the process's own output, not only "timed out".
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Container
from typing import TypeVar

from bridge_testing.wait import Not, until_sync

T = TypeVar("T")

HOST = "127.0.0.1"


def free_port(
    kind: int = socket.SOCK_STREAM, *, both: bool = False, avoid: Container[int] = ()
) -> int:
    """A loopback port free now for `kind` (TCP or UDP), and for the other one too with
    `both` (a SIP server binds both); never one in `avoid`."""
    other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if port in avoid:
            continue
        if both:
            with socket.socket(socket.AF_INET, other) as s:
                try:
                    s.bind((HOST, port))
                except OSError:
                    continue
        return port


def wait_started(
    ready: Callable[[], T | Not | None],
    *,
    within: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    output: Callable[[], str] = lambda: "",
    every: float = 0.1,
) -> T:
    """Run `ready` until it answers something truthy (returned), with a deadline. An
    OSError from it (nothing listening yet) counts as not yet; `process` exiting first
    fails at once. Either failure carries `output()` (the process's log tail)."""

    def check() -> T | Not | None:
        if process is not None and process.poll() is not None:
            raise _Exited(process.returncode)
        try:
            return ready()
        except OSError as exc:
            return Not(repr(exc))

    try:
        return until_sync(check, within, what, every=every)
    except _Exited as exited:
        raise AssertionError(f"{what}: the process exited with {exited}:\n{output()}") from None
    except AssertionError as late:
        raise AssertionError(f"{late}\n{output()}") from None


class _Exited(Exception):
    """The process ended before it was ready (its exit status)."""
