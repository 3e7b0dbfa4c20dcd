"""The PIN dialogue a dial-in caller goes through, decided once for every engine.

Policy: at most `attempts` entries; an entry ends at '#', at `max_digits` digits or after
`digit_timeout` seconds without a digit; an empty or non-numeric entry counts as a wrong one
(a silent caller is not kept forever); the first entry is asked with the PIN prompt, every
later one with the retry prompt. The router judges each PIN (core/admission.py). The engines
only play the prompt they are told and gather digits: Asterisk with GET DATA, FreeSWITCH from
DTMF events, the embedded engine from RFC 4733 events.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bridge.core.admission import Outcome


@dataclass(frozen=True, slots=True)
class PinPolicy:
    attempts: int = 3
    max_digits: int = 12
    digit_timeout: float = 8.0  # seconds; one value for every engine


POLICY = PinPolicy()  # what every engine uses unless told otherwise (tests shorten it)


class PinPrompt(StrEnum):
    ENTER = "enter"  # "please enter the PIN"
    RETRY = "retry"  # "that PIN is not valid", then the entry again


_ASKING = (Outcome.NEED_PIN, Outcome.WRONG_PIN)


class PinDialog:
    """Sans-IO: give it each routing outcome, it says which prompt to play before the next
    entry, or None when the dialogue is over (admitted, refused, or the attempts used up)."""

    def __init__(self, policy: PinPolicy | None = None) -> None:
        self.policy = policy or POLICY
        self.entries = 0

    def next_prompt(self, outcome: Outcome) -> PinPrompt | None:
        if outcome not in _ASKING or self.entries >= self.policy.attempts:
            return None
        self.entries += 1
        return PinPrompt.ENTER if self.entries == 1 else PinPrompt.RETRY

    def pin(self, entry: str | None) -> str | None:
        """The PIN an entry gives the router, or None for a wrong one (nothing typed, or
        not digits: a letter key or '*')."""
        if not entry or not entry.isdigit() or len(entry) > self.policy.max_digits:
            return None
        return entry

    @staticmethod
    def final(outcome: Outcome) -> Outcome:
        """The outcome a caller is refused with when the dialogue ends without admission:
        still asked for a PIN means no valid one came, which is a wrong PIN."""
        return Outcome.WRONG_PIN if outcome in _ASKING else outcome
