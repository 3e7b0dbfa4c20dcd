"""Which per-resource URLs an event is also delivered to, beside the account's subscriptions
and the conference's status callback (FreeClimb actionUrl/leaveConferenceUrl/notificationUrl/
callControlUrl; Aculab first/final/error/next pages)."""

from __future__ import annotations

from bridge.core.events import EventType
from bridge.core.models import Conference, Participant


def callback_urls(
    event_type: EventType, conference: Conference, participant: Participant | None
) -> list[str]:
    urls: list[str] = []
    if event_type == EventType.CONFERENCE_CREATED and conference.action_url:
        urls.append(conference.action_url)
    if participant is None:
        return urls
    opts = participant.options
    if opts.notification_url and event_type.startswith("participant."):
        urls.append(opts.notification_url)
    if event_type == EventType.PARTICIPANT_LEFT and opts.leave_conference_url:
        urls.append(opts.leave_conference_url)
    if event_type == EventType.PARTICIPANT_CALL_CONTROL and opts.call_control_url:
        urls.append(opts.call_control_url)
    call = participant.call_options
    if call is not None:
        if event_type == EventType.PARTICIPANT_ANSWERED and call.first_page:
            urls.append(call.first_page)
        if (
            event_type in (EventType.PARTICIPANT_LEFT, EventType.PARTICIPANT_FAILED)
            and call.final_page
        ):
            urls.append(call.final_page)
        if event_type == EventType.PARTICIPANT_FAILED and call.error_page:
            urls.append(call.error_page)
        if event_type == EventType.PARTICIPANT_LEFT and call.next_page:
            urls.append(call.next_page)
    return list(dict.fromkeys(urls))
