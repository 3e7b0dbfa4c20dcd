"""HMAC-SHA256 signatures: `X-Bridge-Signature: t=<unix>,v1=<hex>` over `<t>.<body>`."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Bridge-Signature"
DEFAULT_TOLERANCE = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, now: int, tolerance: int = DEFAULT_TOLERANCE
) -> bool:
    """What a receiver does: parse the header, check the age, compare in constant time."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)
