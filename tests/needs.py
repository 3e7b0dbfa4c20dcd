"""What a test needs from the machine: skip naming the package to install, fail in CI.

Every suite reports a missing tool, service or install tree the same way: locally the test
is skipped with the Debian package (or the script) that provides it; with CI=true set (as
.ci/run does) the same message is a failure, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str, install: str) -> NoReturn:
    """`reason`: what is missing; `install`: what provides it (a package, a script)."""
    message = f"{reason} (install: {install})"
    if in_ci():
        pytest.fail(f"{message}; CI is set, so this is a failure, not a skip", pytrace=False)
    pytest.skip(message)


def need_command(command: str, package: str) -> str:
    """The path of `command`, or skip/fail naming the Debian `package` that has it."""
    path = shutil.which(command)
    if path is None:
        unavailable(f"`{command}` is not on PATH", f"apt-get install {package}")
    return path
