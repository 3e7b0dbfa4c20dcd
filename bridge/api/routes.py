"""Every route of the API, registered from one table (the OpenAPI document is built from it)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import Counter

from bridge.api import admin_view, errors, facades, stream
from bridge.api import handlers as h
from bridge.api.ops import Op
from bridge.api.state import STATE
from bridge.console import console
from bridge.core.errors import Forbidden, Unauthorized
from bridge.metrics import Metrics
from bridge.services import accounts
from bridge.services.accounts import Principal

C = "/v1/conferences/{conference_id}"
P = C + "/participants/{participant_id}"
R = C + "/recordings/{recording_id}"
PAGE = ("limit", "after")

OPS: tuple[Op, ...] = (
    Op("POST", "/v1/conferences", h.create_conference, "Create a conference", "conferences",
       body="ConferenceCreate", response="Conference", status=201),
    Op("GET", "/v1/conferences", h.list_conferences, "List conferences", "conferences",
       response="ConferencePage", query=("status", "name", *PAGE)),
    Op("GET", C, h.get_conference, "Get a conference", "conferences", response="Conference"),
    Op("PATCH", C, h.update_conference, "Update a conference (or set status=terminated)",
       "conferences", body="ConferenceUpdate", response="Conference"),
    Op("DELETE", C, h.terminate_conference, "Terminate a conference: every call ends",
       "conferences", response="Conference"),
    Op("GET", C + "/events", h.list_events, "A conference's event log", "events",
       response="EventPage", query=("after_sequence", "limit")),
    Op("GET", "/v1/events/stream", stream.stream_events, stream.SUMMARY, "events",
       content_type="text/event-stream", query=("conference_id", "types", "after_sequence", "last_event_id"),
       extra={"headers": stream.HEADERS}),
    Op("POST", C + "/participants", h.create_participant,
       "Dial out and connect the call to the conference (connect_to_conference)", "participants",
       body="ParticipantCreate", response="Participant", status=201),
    Op("GET", C + "/participants", h.list_participants, "List participants", "participants",
       response="ParticipantPage", query=("status", *PAGE)),
    Op("GET", P, h.get_participant, "Get a participant", "participants", response="Participant"),
    Op("PATCH", P, h.update_participant, "Mute, deafen, hold or set dtmf_enabled",
       "participants", body="ParticipantUpdate", response="Participant"),
    Op("DELETE", P, h.eject_participant, "Eject a participant", "participants",
       response="Participant"),
    Op("POST", C + "/announcements", h.create_announcement,
       "Play or say into the conference or to one participant", "announcements",
       body="AnnouncementCreate", response="Announcement", status=202),
    Op("POST", C + "/recordings", h.start_recording, "Start recording the conference",
       "recordings", response="Recording", status=201),
    Op("GET", C + "/recordings", h.list_recordings, "List recordings", "recordings",
       response="RecordingPage"),
    Op("GET", R, h.get_recording, "Recording metadata", "recordings", response="Recording"),
    Op("PATCH", R, h.update_recording, "Pause, resume or stop a recording", "recordings",
       body="RecordingUpdate", response="Recording"),
    Op("GET", R + "/audio", h.get_recording_audio, "Download the recording (WAV)", "recordings",
       content_type="audio/wav"),
    Op("POST", "/v1/reservations", h.create_reservation, "Reserve a conference", "reservations",
       body="ReservationCreate", response="Reservation", status=201),
    Op("GET", "/v1/reservations", h.list_reservations, "List reservations", "reservations",
       response="ReservationPage", query=("status", *PAGE)),
    Op("GET", "/v1/reservations/{reservation_token}", h.get_reservation, "Get a reservation",
       "reservations", response="Reservation"),
    Op("PATCH", "/v1/reservations/{reservation_token}", h.extend_reservation,
       "Extend a reservation by 15-60 minutes", "reservations", body="ReservationExtend",
       response="ReservationExtended"),
    Op("DELETE", "/v1/reservations/{reservation_token}", h.remove_reservation,
       "Remove a reservation that has not started", "reservations",
       response="ReservationRemoved"),
    Op("POST", "/v1/webhooks", h.create_subscription, "Subscribe a URL to account events",
       "webhooks", body="SubscriptionCreate", response="Subscription", status=201),
    Op("GET", "/v1/webhooks", h.list_subscriptions, "List webhook subscriptions", "webhooks",
       response="SubscriptionPage"),
    Op("GET", "/v1/webhooks/{subscription_id}", h.get_subscription, "Get a subscription",
       "webhooks", response="Subscription"),
    Op("DELETE", "/v1/webhooks/{subscription_id}", h.delete_subscription,
       "Delete a subscription", "webhooks", response="Deleted"),
    Op("GET", "/v1/deliveries", h.list_deliveries,
       "Webhook deliveries: pending, delivered, dead-lettered", "webhooks",
       response="DeliveryPage", query=("status", "conference_id", *PAGE)),
    Op("POST", "/v1/deliveries/{delivery_id}/retry", h.retry_delivery,
       "Send a dead-lettered delivery again", "webhooks", response="Retrying", status=202),
    Op("GET", "/v1/account", h.get_own_account, "Your account (its webhook secret is never shown again)",
       "accounts", response="Account"),
    Op("POST", "/v1/account/webhook-secret", h.rotate_webhook_secret,
       "Make a new webhook signing secret, shown once; the old one stops signing at once",
       "accounts", response="WebhookSecret"),
    Op("POST", "/v1/accounts", h.create_account, "Create an account", "accounts", auth="admin",
       body="AccountCreate", response="Account", status=201),
    Op("GET", "/v1/accounts", h.list_accounts, "List accounts", "accounts", auth="admin",
       response="AccountPage", query=PAGE),
    Op("GET", "/v1/accounts/{account_id}", h.get_account, "Get an account", "accounts",
       auth="admin", response="Account"),
    Op("POST", "/v1/accounts/{account_id}/keys", h.create_key,
       "Create an API key (the key is shown once)", "accounts", auth="admin",
       body="KeyCreate", response="ApiKey", status=201),
    Op("GET", "/v1/accounts/{account_id}/keys", h.list_keys, "List an account's API keys",
       "accounts", auth="admin", response="ApiKeyPage"),
    Op("DELETE", "/v1/accounts/{account_id}/keys/{key_id}", h.revoke_key, "Revoke an API key",
       "accounts", auth="admin", response="ApiKey"),
    Op("GET", "/healthz", h.healthz, "Liveness and dependencies", "operations", auth="public",
       response="Health"),
    Op("GET", "/metrics", h.metrics, "Prometheus metrics", "operations", auth="public",
       content_type="text/plain"),
    Op("GET", "/openapi.json", h.openapi_json, "This document", "operations", auth="public"),
    Op("GET", "/docs", h.docs_page, "API documentation page", "operations", auth="public",
       content_type="text/html"),
    Op("GET", "/console", console.console_page, console.PAGE_SUMMARY, "console", auth="public",
       content_type="text/html"),
    Op("GET", "/console/{name}", console.console_file, console.FILE_SUMMARY, "console",
       auth="public", content_type="text/javascript"),
)  # fmt: skip
OPS = OPS + facades.OPS  # the vendor facades: FreeClimb, Aculab, VoIPbin


def _credentials(request: web.Request) -> tuple[str, str | None]:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip(), None
    if scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise Unauthorized("invalid_credentials", "malformed Basic credentials") from exc
        return password, user or None
    raise Unauthorized(
        "missing_credentials", "send an API key: 'Authorization: Bearer <key>' or Basic"
    )


class _RouteMetrics:
    """One route's labelled metric children, looked up once: `labels()` costs more than the
    update itself, and a route's labels never change (only the status varies)."""

    __slots__ = ("counts", "latency", "method", "metrics", "path")

    def __init__(self, metrics: Metrics, op: Op) -> None:
        self.metrics = metrics
        self.method, self.path = op.method, op.path
        self.latency = metrics.http_latency.labels(op.path)
        self.counts: dict[int, Counter] = {}

    def record(self, status: int, seconds: float) -> None:
        counter = self.counts.get(status)
        if counter is None:
            counter = self.metrics.http_requests.labels(self.method, self.path, str(status))
            self.counts[status] = counter
        counter.inc()
        self.latency.observe(seconds)


def _endpoint(op: Op) -> Callable[[web.Request], object]:
    route_metrics: _RouteMetrics | None = None
    needs_key = op.auth != "public"
    admin_only = op.auth == "admin"
    handler = op.handler

    async def endpoint(request: web.Request) -> web.StreamResponse:
        nonlocal route_metrics
        state = request.app[STATE]
        started = time.perf_counter()
        principal: Principal | None = None
        status = 500
        try:
            try:
                if needs_key:
                    token, account_hint = _credentials(request)
                    principal = await accounts.authenticate(
                        state.services, token, account_hint=account_hint
                    )
                    if admin_only and not principal.is_admin:
                        raise Forbidden("admin_only", "this operation needs an admin API key")
                    principal = await admin_view.acting_as(state.services, request, principal)
                response: web.StreamResponse = await handler(request, principal)
            except Exception as exc:
                status = getattr(exc, "status", 500)  # kept if a redirect is raised again
                response = errors.response_for(request, exc)
            status = response.status
            return response
        finally:
            m = state.services.metrics
            if route_metrics is None or route_metrics.metrics is not m:
                route_metrics = _RouteMetrics(m, op)
            route_metrics.record(status, time.perf_counter() - started)

    endpoint.__name__ = op.operation_id
    return endpoint


def register(app: web.Application) -> None:
    for op in OPS:
        app.router.add_route(op.method, op.path, _endpoint(op), name=op.operation_id)  # type: ignore[arg-type]
