"""What a digit does for a participant: decided once here, for every engine."""

from __future__ import annotations

from enum import StrEnum

from bridge.core.models import Participant


class DigitAction(StrEnum):
    NONE = "none"
    MUTE = "mute"
    UNMUTE = "unmute"
    EXIT = "exit"
    CALL_CONTROL = "call_control"


MAX_RECENT_DIGITS = 16


def decide_digit(p: Participant, digit: str) -> DigitAction:
    """Aculab rules: exit digit leaves; mute/unmute digits; with no separate unmute digit the
    mute digit toggles. Nothing when dtmf_enabled is false; a non-talker is never unmuted."""
    if not p.dtmf_enabled or not p.active:
        return DigitAction.NONE
    opts = p.options
    if opts.exit_digit is not None and digit == opts.exit_digit:
        return DigitAction.EXIT
    if opts.mute_digit is not None and digit == opts.mute_digit:
        toggles = opts.unmute_digit is None or opts.unmute_digit == opts.mute_digit
        if toggles and p.muted:
            return DigitAction.UNMUTE if opts.talker else DigitAction.NONE
        return DigitAction.NONE if p.muted else DigitAction.MUTE
    if opts.unmute_digit is not None and digit == opts.unmute_digit:
        if not opts.talker or not p.muted:
            return DigitAction.NONE
        return DigitAction.UNMUTE
    seq = opts.call_control_sequence
    if seq and (p.recent_digits + digit).endswith(seq):
        return DigitAction.CALL_CONTROL
    return DigitAction.NONE


def remember_digit(recent: str, digit: str) -> str:
    return (recent + digit)[-MAX_RECENT_DIGITS:]
