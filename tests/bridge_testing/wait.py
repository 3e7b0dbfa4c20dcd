"""The one way a test waits: on a condition, with a deadline (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

# long enough for a loaded two-core machine; a deadline only matters when a test fails
TIMEOUT = 15.0
EVERY = 0.01


class Not:
    """A falsy answer that says why: `until` shows the last one in its failure."""

    def __init__(self, why: object) -> None:
        self.why = why

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"not yet: {self.why}"


@overload
async def until(
    condition: Callable[[], Awaitable[T | Not | None]],
    timeout: float = ...,  # noqa: ASYNC109
    what: str = ...,
    *,
    every: float = ...,
) -> T: ...


@overload
async def until(
    condition: Callable[[], T | Not | None],
    timeout: float = ...,  # noqa: ASYNC109
    what: str = ...,
    *,
    every: float = ...,
) -> T: ...


async def until(
    condition: Callable[[], Any],
    # a deadline for the condition, with the last value in the failure: not asyncio.timeout
    timeout: float = TIMEOUT,  # noqa: ASYNC109
    what: str = "",
    *,
    every: float = EVERY,
) -> Any:
    """Check `condition` (a plain or an async function) until it returns something truthy,
    and return that; fail the test with `what` and the last value after `timeout` seconds.

    The deadline is on the clock, not a count of checks: a check may take microseconds
    (an in-memory read) or most of a second (a database round trip under load).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise _late(timeout, what or repr(condition), value)
        await asyncio.sleep(every)


def until_sync(
    condition: Callable[[], T | Not | None],
    timeout: float = TIMEOUT,
    what: str = "",
    *,
    every: float = EVERY,
) -> T:
    """`until` for code without an event loop (a plain fixture waiting on a subprocess)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value and not isinstance(value, Not):  # a Not is always falsy: only narrows
            return value
        if time.monotonic() > deadline:
            raise _late(timeout, what or repr(condition), value)
        time.sleep(every)


def _late(timeout: float, what: str, value: object) -> AssertionError:
    return AssertionError(f"not within {timeout:g} s: {what} (last: {value!r})")
