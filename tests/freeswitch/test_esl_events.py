"""BACKGROUND_JOB decoding and Event-Sequence ordering."""

from __future__ import annotations

import itertools
import random

from bridge_testing.fake_esl import raw_stream

from bridge.protocols import esl
from bridge.protocols.esl_events import EventOrderer, background_job, conference_event


def recorded_events(name: str) -> list[esl.Event]:
    return [m for m in esl.EslParser().feed(raw_stream(name, "fs2app")) if isinstance(m, esl.Event)]


def test_background_job_result() -> None:
    jobs = [background_job(e) for e in recorded_events("20-control")]
    found = [j for j in jobs if j is not None]
    assert [j.ok for j in found] == [True, True]
    assert found[0].command == "conference"
    assert conference_event(recorded_events("20-control")[0]) is None


def sequence(event: esl.Event) -> int:
    """Event-Sequence, which every recorded event carries."""
    assert event.sequence is not None, event
    return event.sequence


def test_the_recorded_all_stream_really_is_out_of_order() -> None:
    seqs = [sequence(e) for e in recorded_events("10-events-plain-ALL")]
    assert sum(1 for a, b in itertools.pairwise(seqs) if b < a) == 60


def test_orderer_sorts_the_recorded_all_stream() -> None:
    events = recorded_events("10-events-plain-ALL")
    orderer = EventOrderer(hold=1e9, window=64)
    out = [e for i, ev in enumerate(events) for e in orderer.push(ev, float(i))]
    out += orderer.reset()
    assert orderer.dropped == 0
    assert out == sorted(events, key=lambda e: e.sequence or 0)


def test_orderer_without_hold_never_goes_backwards() -> None:
    events = recorded_events("10-events-plain-ALL")
    orderer = EventOrderer(hold=0.0)
    out = [e for i, ev in enumerate(events) for e in orderer.push(ev, float(i))]
    seqs = [e.sequence or 0 for e in out]
    assert seqs == sorted(seqs) and len(out) + orderer.dropped == len(events)


def test_orderer_restores_order_and_drops_duplicates() -> None:
    events = recorded_events("11-events-plain-conference-maintenance")
    rng = random.Random(4)
    shuffled = list(events)
    # swap neighbours and repeat some: what dispatch threads and replays do
    for i in range(0, len(shuffled) - 1, 3):
        shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    shuffled += rng.sample(events, 10)
    orderer = EventOrderer(hold=1.0, window=8)
    out: list[esl.Event] = []
    for t, ev in enumerate(shuffled):
        out += orderer.push(ev, t * 0.1)
    out += orderer.reset()
    assert [sequence(e) for e in out] == sorted(sequence(e) for e in events)
    assert orderer.dropped == 10


def test_orderer_holds_until_due_and_drops_late_arrivals() -> None:
    a, b, c = recorded_events("11-events-plain-conference-maintenance")[:3]
    orderer = EventOrderer(hold=0.05)
    assert orderer.push(b, 0.0) == []
    assert orderer.push(a, 0.01) == []
    assert orderer.next_deadline() == 0.05
    assert orderer.poll(0.06) == [a, b]
    assert orderer.push(a, 0.07) == []  # already released
    assert orderer.dropped == 1
    assert orderer.push(c, 0.2) == []
    assert orderer.poll(0.3) == [c]
