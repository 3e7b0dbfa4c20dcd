"""Signed, ordered, retried webhook delivery from the outbox."""
