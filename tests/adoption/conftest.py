"""The adoption test's PBXs: one `Rig` per engine (pbx_rigs.py), each for this module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pbx_rigs import Rig, asterisk_rig, freeswitch_rig


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("asterisk", marks=pytest.mark.asterisk),
        pytest.param("freeswitch", marks=[pytest.mark.freeswitch, pytest.mark.freeswitch_real]),
    ],
)
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    yield from (asterisk_rig() if request.param == "asterisk" else freeswitch_rig())
