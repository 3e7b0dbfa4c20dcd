"""Fixtures for the container tests (marker ``docker``): podman, our images, the stacks.

They run only when asked for (`python -m pytest -m docker`): building four images and
running four stacks takes minutes. What they need that a machine may lack (podman,
podman-compose, runc, the base images, the FreeSWITCH tree) is a skip naming what to
install, and a failure with CI=true.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from podman_stack import Podman

# the first test builds the images (minutes on a new machine) in its session fixture
TIMEOUT = 1800


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.docker)
            item.add_marker(pytest.mark.timeout(TIMEOUT))


@pytest.fixture(scope="session")
def podman() -> Iterator[Podman]:
    with tempfile.TemporaryDirectory(prefix="cbtest-podman-") as tmp:
        p = Podman.check(Path(tmp))
        try:
            yield p
        finally:
            p.remove_images()
