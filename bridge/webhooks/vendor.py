"""The fields the seed APIs' callbacks carry, beside our event in every webhook body, so an
app written for FreeClimb's statusCallbackUrl/actionUrl or Aculab's next_page reads what it
expects: FreeClimb's requestType, accountId, conferenceId and status; Aculab's action_result
with seconds_connected_duration (one decimal, as text)."""

from __future__ import annotations

from typing import Any

from bridge.core.events import EventType
from bridge.core.models import Event

# canonical status -> FreeClimb's (as bridge.api.facades.freeclimb shows them)
FREECLIMB_STATUS = {
    "reserved": "creating",
    "empty": "empty",
    "populated": "populated",
    "in_progress": "inProgress",
    "terminating": "inProgress",
    "terminated": "terminated",
}


def vendor_fields(ev: Event) -> dict[str, Any]:
    if ev.type == EventType.CONFERENCE_CREATED:
        status = FREECLIMB_STATUS.get(str(ev.data.get("status")), "empty")
        return _freeclimb(ev, "createConference", status)
    if ev.type == EventType.CONFERENCE_STATUS_CHANGED:
        return _freeclimb(ev, "conferenceStatus", FREECLIMB_STATUS.get(str(ev.data.get("to")), ""))
    if ev.type == EventType.PARTICIPANT_LEFT and "seconds_connected_duration" in ev.data:
        seconds = float(ev.data["seconds_connected_duration"])
        return {
            "action_result": {
                "action": "connect_to_conference",
                "result": {"seconds_connected_duration": f"{seconds:.1f}"},
            }
        }
    return {}


def _freeclimb(ev: Event, request_type: str, status: str) -> dict[str, Any]:
    return {
        "requestType": request_type,
        "accountId": ev.account_id,
        "conferenceId": ev.conference_id,
        "status": status,
    }
