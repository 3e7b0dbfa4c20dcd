"""The tests' one start wait: returns what the readiness check answers, fails at once when
the process exits first, and on its deadline with the last answer; both failures carry the
process's output. Real child processes, a real TCP listener."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from bridge_testing.process import free_port, wait_started
from bridge_testing.wait import Not


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)


def test_a_process_that_exits_fails_at_once_with_its_output() -> None:
    child = _child("raise SystemExit(3)")
    child.wait(10)
    with pytest.raises(AssertionError, match=r"exited with 3:\nits last words"):
        wait_started(
            lambda: Not("never ready"), within=30, what="child", process=child,
            output=lambda: "its last words",
        )  # fmt: skip


def test_the_deadline_names_the_last_answer_and_the_output() -> None:
    child = _child("import time; time.sleep(30)")
    try:
        with pytest.raises(AssertionError, match=r"not yet: port shut.*\n.*log tail"):
            wait_started(
                lambda: Not("port shut"), within=0.05, what="child", process=child,
                output=lambda: "log tail",
            )  # fmt: skip
    finally:
        child.kill()
        child.wait(10)


def test_connection_refused_is_not_yet_then_a_listener_is_ready() -> None:
    port = free_port()
    tries: list[int] = []

    def ready() -> bool:
        tries.append(1)
        if len(tries) == 3:
            listener.listen()
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        assert wait_started(ready, within=5, what="listener", every=0.01) is True
    assert len(tries) == 3


def test_a_port_free_for_both_protocols() -> None:
    port = free_port(socket.SOCK_DGRAM, both=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
        u.bind(("127.0.0.1", port))
        t.bind(("127.0.0.1", port))
