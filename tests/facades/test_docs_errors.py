"""What /docs says an error looks like is what each part of the API answers: our own shape
under /v1 and VoIPbin's /v1.0, FreeClimb's and Aculab's under their facades. The page is read
as a browser gets it; the errors are real answers of the running app."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

from bridge_testing.facades import Tenant
from harness import Bridge


class _Sections(HTMLParser):
    """The page's sections (<h2>), and the <code> items of its opening paragraph (`intro`)
    and of each section's "errors" note (`notes`)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.intro: list[str] = []
        self.notes: dict[str, list[str]] = {}
        self._h2 = False
        self._codes: list[str] | None = None  # where the <code> items of this <p> go
        self._code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self._h2 = True
            self.sections.append("")
        elif tag == "p" and ("class", "errors") in attrs:
            self._codes = self.notes.setdefault(self.sections[-1], [])
        elif tag == "p" and not self.sections:
            self._codes = self.intro
        elif tag == "code" and self._codes is not None:
            self._code = True
            self._codes.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._h2 = False
        elif tag == "p":
            self._codes = None
        elif tag == "code":
            self._code = False

    def handle_data(self, data: str) -> None:
        if self._h2:
            self.sections[-1] += data
        elif self._code and self._codes is not None:
            self._codes[-1] += data


def documented(codes: list[str]) -> list[Any]:
    """The error shapes among <code> items, as trees: {"a", "b": {"c", …}} becomes
    {"a": None, "b": {"c": None, "…": None}}."""
    out = []
    for literal in codes:
        if not literal.startswith("{"):
            continue  # Authorization: ...
        literal = re.sub(r'"([\w.-]+)"(?!\s*:)', r'"\1": null', literal)
        out.append(json.loads(literal.replace("…", '"…": null')))
    return out


def fits(body: Any, tree: dict[str, Any]) -> bool:
    """Every key of `tree` is in `body`, and `body` has no other (unless the tree has "…"),
    two levels down."""
    if not isinstance(body, dict):
        return False
    named = {k for k in tree if k != "…"}
    if not named <= set(body) or ("…" not in tree and set(body) != named):
        return False
    return all(tree[k] is None or fits(body[k], tree[k]) for k in named)


async def test_the_docs_page_tells_each_sections_error_shape_truly(
    bridge: Bridge, tenant: Tenant
) -> None:
    resp = await bridge.client.get("/docs")
    assert resp.status == 200
    page = _Sections()
    page.feed(await resp.text())
    page.close()
    assert {"conferences", "freeclimb", "aculab", "voipbin"} <= set(page.sections)

    fc = f"/apiserver/Accounts/{tenant.account_id}/Conferences"
    # per section: requests that fail (no or a wrong key, an unknown id, a bad value)
    failing: dict[str, list[tuple[str, str, dict[str, str]]]] = {
        "conferences": [
            ("GET", "/v1/conferences", {}),
            ("GET", "/v1/conferences/cf_nope", {"Authorization": f"Bearer {tenant.key}"}),
        ],
        "voipbin": [
            ("GET", "/v1.0/conferences", {}),
            ("GET", "/v1.0/conferences/cf_nope", {"Authorization": f"Bearer {tenant.key}"}),
        ],
        "freeclimb": [
            ("GET", fc, {}),
            ("GET", f"{fc}/cf_nope", tenant.freeclimb),
            ("GET", f"{fc}?status=bogus", tenant.freeclimb),
        ],
        "aculab": [
            ("GET", "/webservices/conference_list", {}),
            ("GET", "/webservices/conference_participant_list", tenant.aculab),
            (
                "GET",
                "/webservices/conference_reservation_remove?reservation_token=x",
                tenant.aculab,
            ),
        ],
    }
    default = documented(page.intro)
    assert len(default) == 1, page.intro
    for section, requests in failing.items():
        shapes = documented(page.notes[section]) if section in page.notes else default
        assert shapes, f"/docs shows no error shape for {section}: {page.notes}"
        for method, path, headers in requests:
            r = await bridge.client.request(method, path, headers=headers)
            assert r.status >= 400, (path, r.status)
            body = await r.json()
            assert any(fits(body, tree) for tree in shapes), (section, path, body, shapes)
            if section in page.notes:  # and the general rule would have been untrue here
                assert not fits(body, default[0]), (section, path, body)
    assert "freeclimb" in page.notes and "aculab" in page.notes
    assert "voipbin" not in page.notes and "conferences" not in page.notes
