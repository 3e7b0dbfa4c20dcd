"""SIP dialogs (RFC 3261 12): the dialog record and in-dialog request construction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bridge.protocols.sip.build import build_request
from bridge.protocols.sip.message import SipMessage, SipRequest, SipResponse
from bridge.protocols.sip.syntax import NameAddr, SipParseError, SipUri, Via, parse_name_addr

# ---------------------------------------------------------------------------
# Dialogs (RFC 3261 12)


@dataclass(slots=True)
class Dialog:
    """The state of one dialog; pure record plus in-dialog request construction."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr
    remote_uri: NameAddr
    remote_target: SipUri
    local_contact: NameAddr
    local_seq: int
    remote_seq: int | None = None
    route_set: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def as_uas(
        cls, invite: SipRequest, local_tag: str, local_contact: NameAddr, local_seq: int = 1
    ) -> Dialog:
        """The dialog our 2xx/18x to ``invite`` creates (RFC 3261 12.1.1)."""
        remote = invite.from_addr
        contacts = invite.contacts
        if remote.tag is None or not contacts:
            raise SipParseError("INVITE without From tag or Contact")
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=remote.tag,
            local_uri=invite.to_addr.with_tag(local_tag),
            remote_uri=remote,
            remote_target=contacts[0].uri,
            local_contact=local_contact,
            local_seq=local_seq,
            remote_seq=invite.cseq.seq,
            route_set=invite.headers.get_all("record-route"),
        )

    @classmethod
    def as_uac(cls, invite: SipRequest, response: SipResponse) -> Dialog:
        """The dialog a 2xx/18x with a To tag to our ``invite`` creates (RFC 3261 12.1.2)."""
        local = invite.from_addr
        remote = response.to_addr
        contacts = response.contacts
        local_contacts = invite.contacts
        if local.tag is None or remote.tag is None or not local_contacts:
            raise SipParseError("dialog needs both tags and our Contact")
        return cls(
            call_id=invite.call_id,
            local_tag=local.tag,
            remote_tag=remote.tag,
            local_uri=local,
            remote_uri=remote,
            remote_target=contacts[0].uri if contacts else invite.uri,
            local_contact=local_contacts[0],
            local_seq=invite.cseq.seq,
            route_set=list(reversed(response.headers.get_all("record-route"))),
        )

    def matches(self, message: SipMessage, *, incoming: bool = True) -> bool:
        """Whether an in-dialog request or response belongs to this dialog."""
        try:
            from_tag, to_tag = message.from_addr.tag, message.to_addr.tag
        except SipParseError:
            return False
        remote, local = (from_tag, to_tag) if incoming else (to_tag, from_tag)
        same_call = message.call_id == self.call_id
        return same_call and local == self.local_tag and remote == self.remote_tag

    def accept_remote_cseq(self, seq: int) -> bool:
        """RFC 3261 12.2.2: a lower CSeq than the last one is out of order (answer 500)."""
        if self.remote_seq is not None and seq < self.remote_seq:
            return False
        self.remote_seq = seq
        return True

    def refresh_target(self, message: SipMessage) -> None:
        """A target refresh (re-INVITE or its 2xx) replaces the remote target."""
        contacts = message.contacts
        if contacts:
            self.remote_target = contacts[0].uri

    def _uri_and_routes(self) -> tuple[SipUri, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = parse_name_addr(self.route_set[0]).uri
        if "lr" in first.params:
            return self.remote_target, list(self.route_set)
        # strict routing (RFC 3261 12.2.1.1): the first route becomes the Request-URI
        return first, [*self.route_set[1:], f"<{self.remote_target}>"]

    def create_request(
        self,
        method: str,
        via: Via,
        *,
        cseq: int | None = None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> SipRequest:
        """An in-dialog request; the CSeq advances unless given (ACK reuses the INVITE's)."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        uri, routes = self._uri_and_routes()
        contact = self.local_contact if method in ("INVITE", "UPDATE") else None
        return build_request(
            method,
            uri,
            via=via,
            from_addr=self.local_uri,
            to_addr=self.remote_uri,
            call_id=self.call_id,
            cseq=cseq,
            contact=contact,
            routes=routes,
            headers=headers,
            body=body,
            content_type=content_type,
        )

    def create_ack(self, invite_cseq: int, via: Via, body: bytes = b"") -> SipRequest:
        """ACK for a 2xx (RFC 3261 13.2.2.4): new branch, the INVITE's CSeq number."""
        ack = self.create_request("ACK", via, cseq=invite_cseq, body=body)
        return ack
