"""The FastAGI handlers: route each dialled-in caller, prepare each answered dial-out.

``dialin``: the dialplan passes the dialled code; we ask the router (core's admission
decision), collect a PIN with GET DATA when one is needed, and answer by setting channel
variables that ``[bridge-route]`` acts on: reject with a cause (404/403/486/503 on
PJSIP), divert (302), or admit into the conference, the lobby or hold with a
per-participant dynamic profile (``CONFBRIDGE(...)``).

Nothing the caller controls reaches a wire unchecked: the dialled code must be digits,
the caller id must pass the ``caller_id`` allow-list (else it is dropped), and every
variable we set passes ``safe_value`` and holds no splitting/expansion character.

A divert is ``Transfer(${BRIDGE_DIVERT})`` in ``[bridge-divert]``: chan_pjsip first looks
the whole target up *as a PJSIP endpoint name* and, if one exists, 302s the caller to
that endpoint's registered contact. So the target is never the stored text: it is a
``sip:`` URI rebuilt from the parsed :class:`~bridge.core.dialing.DialTarget`; a number or
a user goes through the configured dial endpoint (its contact, with the number as the
user), exactly like a dial-out, and no contact there means busy (486).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from bridge.core.admission import Outcome
from bridge.core.pin import PinDialog, PinPolicy, PinPrompt
from bridge.pbx.asterisk import mapping
from bridge.pbx.asterisk.fastagi import AgiSession
from bridge.pbx.backend import CallRouter, InboundCall, Route
from bridge.protocols import agi
from bridge.protocols.agi import AgiResponse
from bridge.protocols.safe import UnsafeValueError, is_safe

log = logging.getLogger(__name__)

Admit = Callable[[AgiSession, Route], Awaitable[None]]

PIN_PROMPT = "conf-getpin"
WRONG_PIN_PROMPT = "conf-invalidpin"
# Tells [bridge-join] that this call carries a dynamic profile (see set_dynamic_profile).
DYNAMIC_PROFILE_FLAG = "BRIDGE_DYNAMIC_PROFILE"

_DIGITS = re.compile(r"^200 result=([0-9*#]*)")


def collected_digits(reply: AgiResponse) -> str | None:
    """GET DATA's digits as typed (the codec's integer would drop leading zeros)."""
    match = _DIGITS.match(reply.text)
    if reply.code != 200 or match is None or not match.group(1):
        return None
    return match.group(1)


def confbridge_command(setting: mapping.ProfileSetting) -> bytes:
    """``SET VARIABLE CONFBRIDGE(type,option) value``: every part passed safe_value, and
    none of the allowed characters needs AGI quoting."""
    name, value = setting.checked()
    return f"SET VARIABLE {name} {value}\n".encode("ascii")


async def set_dynamic_profile(
    session: AgiSession, settings: Sequence[mapping.ProfileSetting]
) -> None:
    """Build the call's dynamic ConfBridge profile (the CONFBRIDGE() datastore) and say
    so: ConfBridge() reads it only with blank profile arguments, and the dialplan cannot
    read CONFBRIDGE() back, so ``[bridge-join]`` leaves them blank on this flag."""
    for setting in settings:
        await session.command(confbridge_command(setting))
    await session.set_variable(DYNAMIC_PROFILE_FLAG, "yes", "name")


def first_contact_uri(reply: AgiResponse, endpoint: str, user: str) -> str | None:
    """``sip:<user>@<host[:port]>`` of the first contact that
    ``PJSIP_DIAL_CONTACTS(endpoint)`` lists (``PJSIP/endpoint/<uri>&...``), the contact
    re-parsed as a DialTarget; None if there is none."""
    if reply.code != 200 or not reply.data:
        return None
    first = reply.data.split("&", 1)[0].strip()
    prefix = f"PJSIP/{endpoint}/"
    if not first.startswith(prefix):
        return None
    uri = first[len(prefix) :].strip("<>").split(";", 1)[0].split(">", 1)[0]
    try:
        contact = mapping.dial_target(uri)
    except UnsafeValueError:
        return None
    if contact.kind != "sip":
        return None
    try:
        return mapping.checked_divert_uri(f"sip:{user}@{contact.hostport}")
    except UnsafeValueError:
        return None


async def divert_target(session: AgiSession, divert: str | None, endpoint: str) -> str | None:
    """The ``sip:`` URI a divert 302s to, built only from a DialTarget; None to refuse."""
    try:
        target = mapping.dial_target(divert)
    except UnsafeValueError:
        return None
    if target.kind == "sip":
        return mapping.divert_uri(target)
    assert target.user is not None
    reply = await session.command(agi.get_dial_contacts(endpoint))
    return first_contact_uri(reply, endpoint, target.user)


async def reject(session: AgiSession, outcome: Outcome) -> None:
    cause = mapping.HANGUP_CAUSE.get(outcome, 21)
    await session.set_variable("BRIDGE_HANGUP_CAUSE", cause, "integer")
    await session.set_variable("BRIDGE_ACTION", "reject", "name")


class DialIn:
    """``handler(session)`` for ``agi://.../dialin``."""

    def __init__(
        self,
        router: CallRouter,
        admit: Admit,
        *,
        pin_policy: PinPolicy | None = None,
        dial_endpoint: str = "bridge-loopback",
    ):
        self._router = router
        self._admit = admit
        self._pin_policy = pin_policy
        self._dial_endpoint = dial_endpoint

    async def __call__(self, session: AgiSession) -> None:
        env = session.env
        code = env.args[0] if env.args else ""
        if not is_safe(code, "digits") or not is_safe(env.uniqueid, "channel"):
            log.info("dial-in %r: not a valid access code; rejected", code[:40])
            await reject(session, Outcome.UNKNOWN)
            return
        caller = env.caller_id if is_safe(env.caller_id, "caller_id") else None
        call = InboundCall(code, caller, env.uniqueid, caller_name=caller_name(env))
        route = await self._router.route(call)
        dialog = PinDialog(self._pin_policy)  # core/pin.py decides; this only does IO
        answered = False
        while (prompt := dialog.next_prompt(route.admission.outcome)) is not None:
            if not answered:
                await session.answer()
                answered = True
            if prompt is PinPrompt.RETRY:
                await session.command(agi.stream_file(WRONG_PIN_PROMPT))
            policy = dialog.policy
            reply = await session.get_data(
                PIN_PROMPT,
                timeout_ms=round(policy.digit_timeout * 1000),
                max_digits=policy.max_digits,
            )
            if session.hung_up:
                return
            pin = dialog.pin(collected_digits(reply))
            if pin is None:
                wrong = replace(route.admission, outcome=Outcome.WRONG_PIN)
                route = replace(route, admission=wrong)
                continue
            route = await self._router.route(replace(call, pin=pin))
        outcome = route.admission.outcome
        if outcome == Outcome.ADMIT and route.participant is not None:
            await self._admit(session, route)
        elif outcome == Outcome.DIVERT:
            uri = await divert_target(session, route.admission.divert, self._dial_endpoint)
            if uri is None:
                log.info("divert %r: no SIP URI for it; busy instead", route.admission.divert)
                await reject(session, Outcome.BUSY)
                return
            # "text": the URI was rebuilt from a DialTarget and matched mapping._DIVERT_URI
            # (an IPv6 host needs brackets, which the dial_target kind does not allow)
            await session.set_variable("BRIDGE_DIVERT", mapping.checked_divert_uri(uri), "text")
            await session.set_variable("BRIDGE_ACTION", "divert", "name")
        else:
            await reject(session, PinDialog.final(outcome))


def caller_name(env: agi.AgiEnvironment) -> str | None:
    """CALLERID(name) as AGI reports it; Asterisk says 'unknown' when there is none."""
    name = env.get("calleridname")
    return None if name in ("", "unknown") else name
