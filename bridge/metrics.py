"""Prometheus metrics, in one registry per application (tests run several side by side)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "bridge_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.http_latency = Histogram(
            "bridge_http_request_seconds", "HTTP request latency", ["route"], registry=r
        )
        self.webhook_attempts = Counter(
            "bridge_webhook_attempts_total", "Webhook delivery attempts", ["outcome"], registry=r
        )
        self.webhook_latency = Histogram(
            "bridge_webhook_seconds", "Webhook POST latency", registry=r
        )
        self.observations = Counter(
            "bridge_engine_observations_total", "Engine observations applied", ["type"], registry=r
        )
        self.commands = Counter(
            "bridge_engine_commands_total", "Engine commands sent", ["type", "outcome"], registry=r
        )
        self.conferences = Gauge(
            "bridge_conferences", "Conferences by status", ["status"], registry=r
        )
        self.deliveries = Gauge(
            "bridge_webhook_deliveries", "Webhook deliveries by status", ["status"], registry=r
        )
