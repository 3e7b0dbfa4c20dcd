"""Benchmarks run for minutes (load, then a baseline in the same run): a longer per-test
timeout than the suite's default in pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

TIMEOUT = 1200


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(TIMEOUT))
