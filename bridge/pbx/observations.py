"""The one queue of engine observations, shared by every engine and the observer.

An engine reports what it saw with `report` (never blocks, never waits on a state change);
the observer takes them in order with `get` and marks each `done` once applied, so
`drained` is true exactly when everything reported so far was applied. Tests and shutdown
drain it instead of polling.
"""

from __future__ import annotations

import asyncio

from bridge.core.engine import Observation


class ObservationQueue:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Observation] = asyncio.Queue()
        self.reported = 0

    def report(self, observation: Observation) -> None:
        """An engine saw something: queue it, in order."""
        self.reported += 1
        self._queue.put_nowait(observation)

    async def get(self) -> Observation:
        """The next observation, for the one consumer; call `done` after applying it."""
        return await self._queue.get()

    def done(self) -> None:
        self._queue.task_done()

    async def drained(self) -> None:
        """Every observation reported so far has been taken and marked done."""
        await self._queue.join()

    def __len__(self) -> int:
        return self._queue.qsize()
