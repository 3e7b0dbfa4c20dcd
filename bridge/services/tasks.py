"""Stopping a service's background task: the observer's, the scheduler's, the group
commit's and the event tail's loops all end the same way."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait until it has ended (None: it never started)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
