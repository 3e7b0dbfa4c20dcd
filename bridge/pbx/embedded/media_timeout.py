"""Calls whose RTP stopped: a phone that lost power or network never sends BYE.

Like Asterisk's `rtp_timeout`, a confirmed two-way call that has not sent a single packet
for `timeout` seconds is hung up. Calls on hold either way are not watched: many phones
send nothing while they hold.
"""

from __future__ import annotations

from collections.abc import Iterable

from bridge.pbx.embedded.user_agent import Call, CallState


class MediaTimeout:
    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("the RTP timeout must be positive")
        self.timeout = timeout
        self._seen: dict[str, tuple[int, float]] = {}  # call ref -> (packets, since when)

    def expired(self, calls: Iterable[Call], now: float) -> list[Call]:
        """The calls silent for `timeout` seconds as of `now` (each reported once)."""
        out: list[Call] = []
        watched: dict[str, tuple[int, float]] = {}
        for call in calls:
            audio = call.stream.audio
            if call.state is not CallState.CONFIRMED or audio is None:
                continue
            if audio.direction != "sendrecv":
                continue
            packets = call.stream.packets
            last = self._seen.get(call.ref)
            if last is None or last[0] != packets:
                watched[call.ref] = (packets, now)
            elif now - last[1] >= self.timeout:
                out.append(call)
            else:
                watched[call.ref] = last
        self._seen = watched
        return out
