"""The log guard and the redactor find secrets by shape and by value."""

from __future__ import annotations

import logging

from secret_guard import leaks

from bridge.redact import REDACTED, SecretRedactor

KEY = "cbk_ak_0123456789abcdefghijklmnop_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd"
WHSEC = "whsec_" + "ab" * 24


def test_guard_finds_keys_webhook_secrets_and_registered_literals() -> None:
    texts = ["fine", f"auth with {KEY}", f"signing with {WHSEC}", "Secret: hunter22", "ok"]
    assert len(leaks(texts, {"hunter22"})) == 3
    assert leaks(["cbk_ak_x and whsec_short"], set()) == []


def test_redactor_rewrites_message_args_and_traceback() -> None:
    redactor = SecretRedactor(["hunter22", "abc"])  # too short literals are ignored
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "login %s %s", ("hunter22", KEY), None
    )
    redactor.filter(record)
    assert record.getMessage() == f"login {REDACTED} {REDACTED}"
    try:
        raise RuntimeError(f"sent {WHSEC}")
    except RuntimeError:
        import sys

        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    redactor.filter(failed)
    assert failed.exc_text is not None and WHSEC not in failed.exc_text
    assert REDACTED in failed.exc_text
