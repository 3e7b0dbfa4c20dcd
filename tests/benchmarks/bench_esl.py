"""ESL parser throughput over the recorded FreeSWITCH streams. Prints figures only."""

from __future__ import annotations

import time

import pytest
import testdata

from bridge.protocols import esl

REFERENCE = testdata.FREESWITCH
STREAMS = [
    "10-events-plain-ALL",
    "11-events-plain-conference-maintenance",
    "12-events-json-conference-maintenance",
    "13-events-xml-conference-maintenance",
]


@pytest.mark.benchmark
@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("chunk", [65536, 1460])
def test_events_parsed_per_second(name: str, chunk: int) -> None:
    path = REFERENCE / f"{name}.fs2app.raw"
    data = testdata.read(path)
    rounds, events, best = 5, 0, float("inf")
    for _ in range(rounds):
        parser = esl.EslParser()
        start = time.perf_counter()
        count = 0
        for i in range(0, len(data), chunk):
            count += sum(isinstance(m, esl.Event) for m in parser.feed(data[i : i + chunk]))
        best = min(best, time.perf_counter() - start)
        events = count
    print(
        f"\nESL {name} chunk={chunk}: {events} events, {len(data) / 1e6:.2f} MB, "
        f"best of {rounds}: {best * 1000:.1f} ms = {events / best:,.0f} events/s, "
        f"{len(data) / best / 1e6:.1f} MB/s"
    )
