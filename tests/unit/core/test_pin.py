"""The PIN dialogue's policy (core/pin.py), which every engine follows."""

from __future__ import annotations

from bridge.core.admission import Outcome
from bridge.core.pin import PinDialog, PinPolicy, PinPrompt


def test_three_entries_first_asked_then_retried_then_over() -> None:
    dialog = PinDialog(PinPolicy(attempts=3))
    assert dialog.next_prompt(Outcome.NEED_PIN) is PinPrompt.ENTER
    assert dialog.next_prompt(Outcome.WRONG_PIN) is PinPrompt.RETRY
    assert dialog.next_prompt(Outcome.WRONG_PIN) is PinPrompt.RETRY
    assert dialog.next_prompt(Outcome.WRONG_PIN) is None  # the attempts are used up
    assert PinDialog.final(Outcome.WRONG_PIN) is Outcome.WRONG_PIN


def test_a_decision_other_than_asking_ends_the_dialogue() -> None:
    for outcome in (Outcome.ADMIT, Outcome.FULL, Outcome.BUSY, Outcome.DIVERT):
        dialog = PinDialog()
        assert dialog.next_prompt(Outcome.NEED_PIN) is PinPrompt.ENTER
        assert dialog.next_prompt(outcome) is None
        assert PinDialog.final(outcome) is outcome


def test_no_valid_pin_in_time_is_refused_as_a_wrong_pin() -> None:
    assert PinDialog.final(Outcome.NEED_PIN) is Outcome.WRONG_PIN


def test_an_empty_or_non_numeric_entry_is_a_wrong_one() -> None:
    dialog = PinDialog(PinPolicy(max_digits=4))
    assert dialog.pin("1234") == "1234"
    assert dialog.pin("0012"[:4]) == "0012"  # leading zeros are kept
    for entry in ("", None, "12*4", "A1", "12345"):
        assert dialog.pin(entry) is None, entry


def test_one_digit_timeout_for_every_engine() -> None:
    dialog = PinDialog()
    assert dialog.policy == PinPolicy() and dialog.policy.digit_timeout == 8.0
