"""Conference Bridge: one HTTP API over ConfBridge, mod_conference and an embedded engine."""

__version__ = "0.1.0"
