"""The tests' one wait: returns the first truthy answer, fails on its deadline with the last
answer (a `Not` says why)."""

from __future__ import annotations

import pytest
from bridge_testing.wait import Not, until


async def test_until_returns_the_first_truthy_answer() -> None:
    answers = iter([None, Not("one"), [3]])
    assert await until(lambda: next(answers), 1.0, "a list") == [3]


async def test_until_fails_with_the_last_reason() -> None:
    async def never() -> bool | Not:
        return Not("API {} != PBX {'p': True}")

    with pytest.raises(AssertionError, match=r"never agrees .*not yet: API \{\} != PBX"):
        await until(never, 0.05, "never agrees")
