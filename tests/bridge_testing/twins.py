"""Which tests run the C/pure twins, so CI can run exactly those on both (a pytest plugin).

The twins (the mixer kernel in bridge.media.mixer and the RTP core in
bridge.pbx.embedded.rtp_core) run only inside the embedded engine's calls: a test that never
gives a call an RTP core gets the same result on either twin, and running it twice proves
nothing. So the suite runs once on the compiled twins, and CI then runs every test marked
`twins` again with BRIDGE_NO_EXTENSIONS=1 (`python -m pytest -m twins`).

The mark is kept honest here, not by hand: in the compiled run, a test that creates an RTP core
in this process without the mark fails, telling which mark to add. The directories in
TWIN_DIRS carry the mark implicitly. Benchmarks are left out: they measure the compiled build
(bench_mixer prints the pure mixer beside it). A test whose bridge runs in a child process
(`bridge serve`) is not seen by this check and carries the mark itself when its child takes
calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.pbx.embedded import rtp_core

TESTS = Path(__file__).resolve().parent.parent
TWIN_DIRS = ("unit/media", "embedded", "facades", "console")
MARK = "twins"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARK}: runs the embedded engine's media (the C/pure twins); CI runs it on both",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    dirs = [TESTS / d for d in TWIN_DIRS]
    for item in items:
        if any(item.path.is_relative_to(d) for d in dirs):
            item.add_marker(MARK)


@pytest.fixture(autouse=True)
def _twins_marked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Fail an unmarked test that gave a call an RTP core (counted, not changed)."""
    # benchmarks measure the compiled twins and print the pure ones beside them themselves
    if any(request.node.get_closest_marker(m) for m in (MARK, "benchmark", "docker")):
        yield
        return
    created: list[int] = []
    real = rtp_core.RtpCore

    def counted(*args: Any) -> Any:
        created.append(1)
        return real(*args)

    monkeypatch.setattr(rtp_core, "RtpCore", counted)
    yield
    if created:
        pytest.fail(
            f"this test created {len(created)} RTP core(s): it runs the embedded engine's media,"
            f" so mark it `@pytest.mark.{MARK}` (CI then runs it on the pure twins too)",
            pytrace=False,
        )
