"""Routes each dialled-in caller with core's admission decision (every engine uses this)."""

from __future__ import annotations

from bridge.core import admission as adm
from bridge.core import validate as v
from bridge.core.events import EventType
from bridge.core.ids import new_id
from bridge.core.models import Direction, EventDraft, Participant
from bridge.pbx.backend import InboundCall, Route
from bridge.services.context import Services, Unit
from bridge.services.live import in_conference
from bridge.store import repos


class Router:
    def __init__(self, services: Services) -> None:
        self.s = services

    async def route(self, call: InboundCall) -> Route:
        async with self.s.db.read() as conn:
            conf = await repos.conference_by_access_code(conn, call.access_code)
        if conf is None:
            return Route(adm.Admission(adm.Outcome.UNKNOWN))

        async def work(u: Unit) -> Route:
            conf = u.conference
            decision = adm.decide(
                conf,
                u.reservation,
                active=u.count_active(),
                pin=call.pin,
                unreserved_max=self.s.limits.unreserved_max_participants,
            )
            if decision.outcome != adm.Outcome.ADMIT or decision.options is None:
                if decision.outcome in (adm.Outcome.FULL, adm.Outcome.BUSY, adm.Outcome.DIVERT):
                    u.event(
                        EventDraft(
                            EventType.CONFERENCE_CALLER_REFUSED,
                            data={"outcome": decision.outcome.value, "caller_id": call.caller_id},
                        )
                    )
                return Route(decision, conf)
            opts = decision.options
            p = Participant(
                id=new_id("participant"),
                conference_id=conf.id,
                account_id=conf.account_id,
                created_at=u.now,
                updated_at=u.now,
                direction=Direction.INBOUND,
                options=opts,
                from_=call.caller_id,
                to=call.access_code,
                name=v.display_name(call.caller_name),
                call_ref=call.call_ref,
                moderator=decision.moderator,
                muted=opts.start_muted or not opts.talker,
                deaf=not opts.listen,
                dtmf_enabled=opts.dtmf_enabled,
            )
            data = {
                "direction": "inbound",
                "from": call.caller_id,
                "moderator": p.moderator,
                "name": p.name,
            }
            u.add_participant(p, EventDraft(EventType.PARTICIPANT_JOINING, p.id, data))
            return Route(decision, conf, p)

        return await in_conference(self.s, conf.id, work)
