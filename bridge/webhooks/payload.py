"""The JSON body of a webhook: the event, as the API shows it."""

from __future__ import annotations

import json
from typing import Any

from bridge.core.clock import rfc3339
from bridge.core.models import Event
from bridge.webhooks.vendor import vendor_fields


def event_to_dict(ev: Event) -> dict[str, Any]:
    return {
        "id": ev.id,
        "type": ev.type,
        "conference_id": ev.conference_id,
        "participant_id": ev.participant_id,
        "sequence": ev.sequence,
        "occurred_at": rfc3339(ev.occurred_at),
        "data": ev.data,
    }


def body_for(ev: Event, delivery_id: str) -> bytes:
    payload = {**vendor_fields(ev), "delivery_id": delivery_id, "event": event_to_dict(ev)}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
