"""Test data in the repository (tests/data), read the same way by tests and benchmarks.

Large recordings are stored gzip-compressed (`name.gz`); `read` finds either form.
"""

from __future__ import annotations

import gzip
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
FREESWITCH = DATA / "freeswitch"  # recorded ESL traffic (tests/data/freeswitch/README.md)


def read(path: Path) -> bytes:
    """The bytes of `path`, or of `path`.gz uncompressed."""
    if path.is_file():
        return path.read_bytes()
    return gzip.decompress(path.with_name(path.name + ".gz").read_bytes())


def read_text(path: Path) -> str:
    return read(path).decode()
