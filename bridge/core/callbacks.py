"""Which per-resource URLs an event is also delivered to, beside the account's subscriptions
and the conference's status callback (FreeClimb actionUrl/leaveConferenceUrl/notificationUrl/
callControlUrl; Aculab first/final/error/next pages)."""

from __future__ import annotations

from bridge.core.models import Conference, Participant


def callback_urls(
    event_type: str, conference: Conference, participant: Participant | None
) -> list[str]:
    urls: list[str] = []
    if event_type == "conference.created" and conference.action_url:
        urls.append(conference.action_url)
    if participant is None:
        return urls
    opts = participant.options
    if opts.notification_url and event_type.startswith("participant."):
        urls.append(opts.notification_url)
    if event_type == "participant.left" and opts.leave_conference_url:
        urls.append(opts.leave_conference_url)
    if event_type == "participant.call_control" and opts.call_control_url:
        urls.append(opts.call_control_url)
    call = participant.call_options
    if call is not None:
        if event_type == "participant.answered" and call.first_page:
            urls.append(call.first_page)
        if event_type in ("participant.left", "participant.failed") and call.final_page:
            urls.append(call.final_page)
        if event_type == "participant.failed" and call.error_page:
            urls.append(call.error_page)
        if event_type == "participant.left" and call.next_page:
            urls.append(call.next_page)
    return list(dict.fromkeys(urls))
