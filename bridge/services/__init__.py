"""Use cases: load -> state machine -> persist + outbox in one transaction -> engine command."""
