"""A pytest plugin: no secret may reach the log during the whole test run.

Every record at INFO and above, from any logger (ours, aiohttp, panoramisk), is
kept with its traceback text. At the end of the session the text is searched for
API keys and webhook secrets by their shape and for every literal a fixture
registered (AMI secrets, ESL passwords); a hit fails the run. The check can fail:
tests/unit/test_secret_guard.py feeds it a leaking record.
"""

from __future__ import annotations

import logging

import pytest

from bridge.redact import SECRET_SHAPES

_literals: set[str] = set()


def register_secret(value: str) -> None:
    """A secret a fixture knows (an AMI secret, an ESL password) that must never be logged."""
    if len(value) >= 4:
        _literals.add(value)


class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.texts: list[str] = []
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"{record.name}: {record.getMessage()}"
            if record.exc_info:
                text += "\n" + self._formatter.formatException(record.exc_info)
        except Exception:  # a broken record is the test's problem, not this guard's
            return
        self.texts.append(text)


def leaks(texts: list[str], literals: set[str]) -> list[str]:
    found = []
    for text in texts:
        if SECRET_SHAPES.search(text) or any(s in text for s in literals):
            found.append(text[:300])
    return found


_collector = Collector()


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(_collector)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    found = leaks(_collector.texts, _literals)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"secret guard: {len(_collector.texts)} log records searched, {len(found)} leaks"
        )
        for text in found[:20]:
            reporter.write_line(f"  secret in the log: {text!r}")
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
