"""Keep secrets out of the log, whoever writes the record (we, aiohttp or panoramisk).

The bridge itself never logs a secret (tests/secret_guard.py checks a whole test run).
This filter is the second line for libraries: panoramisk, for one, logs whole actions
(its login with the AMI secret among them) when a connection drops. Installed on the
root handlers by the CLI; API keys and webhook secrets are caught by their shape, the
configured passwords by value.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Final

# cbk_<key id>_<secret>: an API key; whsec_<hex>: a webhook signing secret
SECRET_SHAPES: Final = re.compile(r"\bcbk_[A-Za-z0-9_]+_[A-Za-z0-9]{20,}\b|\bwhsec_[0-9a-f]{16,}\b")
REDACTED: Final = "[redacted]"
# an API key carried in a URL (VoIPbin's ?accesskey= / ?token=), whatever its shape: a
# mistyped key is still someone's secret
URL_KEYS: Final = re.compile(r"([?&](?:accesskey|token)=)[^&\s\"']*", re.IGNORECASE)


class SecretRedactor(logging.Filter):
    def __init__(self, literals: Iterable[str] = ()) -> None:
        super().__init__()
        # short literals would redact ordinary words; our settings refuse them anyway
        self._literals = sorted({s for s in literals if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._literals:
            text = text.replace(secret, REDACTED)
        text = URL_KEYS.sub(rf"\g<1>{REDACTED}", text)
        return SECRET_SHAPES.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install(literals: Iterable[str]) -> SecretRedactor:
    """Add the redactor to every handler of the root logger."""
    redactor = SecretRedactor(literals)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
