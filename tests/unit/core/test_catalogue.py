"""The one source of each shared fact: error codes (bridge/core/errors.py) and event types
(bridge/core/events.py). Every raise site's code is catalogued with its class's status; the
OpenAPI document's enums are the catalogue's and the enum's, not copies."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import bridge
from bridge.api import openapi, routes
from bridge.core import validate as v
from bridge.core.errors import CATALOGUE, KIND_STATUS, InvalidInput
from bridge.core.events import FAMILIES, PAYLOADS, EventType, payload_problem
from bridge.core.models import EventDraft

PACKAGE = Path(bridge.__file__).parent
_STATUS_OF = {
    "InvalidInput": KIND_STATUS["invalid"],
    "NotFound": KIND_STATUS["not_found"],
    "Conflict": KIND_STATUS["conflict"],
    "Unauthorized": KIND_STATUS["unauthorized"],
    "Forbidden": KIND_STATUS["forbidden"],
    "Unavailable": KIND_STATUS["unavailable"],
    "invalid_field": KIND_STATUS["invalid"],
}


def _raise_sites() -> list[tuple[str, str, int]]:
    """(code, class or helper, line) of every domain error built with a literal code."""
    sites = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name not in _STATUS_OF:
                continue
            if name == "invalid_field":
                arg: Any = next((k.value for k in node.keywords if k.arg == "code"), None)
                arg = node.args[2] if len(node.args) > 2 else arg
                code = arg.value if isinstance(arg, ast.Constant) else "invalid_field"
            elif node.args and isinstance(node.args[0], ast.Constant):
                code = node.args[0].value
            else:
                continue  # passes a code on (typed ErrorCode, so mypy checks it)
            sites.append((str(code), name, node.lineno))
    return sites


def test_every_raised_code_is_catalogued_with_its_class_status() -> None:
    sites = _raise_sites()
    assert len(sites) > 100  # the scan finds the raise sites (it could silently find none)
    wrong = [
        (code, name, line)
        for code, name, line in sites
        if code not in CATALOGUE or CATALOGUE[code].status != _STATUS_OF[name]
    ]
    assert wrong == []


def test_error_status_comes_from_the_catalogue() -> None:
    assert InvalidInput("unknown_event_type", "x").status == 400
    assert InvalidInput("conference_not_found", "x").status == 404  # the code decides


def test_openapi_enums_are_derived() -> None:
    doc = openapi.build(routes.OPS)
    schemas = doc["components"]["schemas"]
    assert schemas["Error"]["properties"]["error"]["properties"]["code"]["enum"] == list(CATALOGUE)
    event_types = [s["properties"]["type"]["const"] for s in schemas["Event"]["oneOf"]]
    assert event_types == [t.value for t in EventType]
    wanted = schemas["SubscriptionCreate"]["properties"]["event_types"]["items"]["enum"]
    assert set(wanted) == {t.value for t in EventType} | FAMILIES
    for path in doc["paths"].values():
        for op in path.values():
            for status, resp in op["responses"].items():
                if status in ("400", "404", "409"):
                    codes = [c for c, e in CATALOGUE.items() if str(e.status) == status]
                    assert all(c in resp["description"] for c in codes)


def test_event_payload_schema_follows_the_payload_type() -> None:
    doc = openapi.build(routes.OPS)
    by_type = {
        s["properties"]["type"]["const"]: s for s in doc["components"]["schemas"]["Event"]["oneOf"]
    }
    joined = by_type["participant.joined"]["properties"]["data"]
    assert joined["required"] == ["deaf", "muted"]
    assert joined["properties"]["muted"] == {"type": "boolean"}
    assert set(by_type) == {t.value for t in PAYLOADS}


def test_a_payload_that_drifts_from_its_type_is_refused_where_it_is_made() -> None:
    EventDraft(EventType.PARTICIPANT_JOINED, "pa_1", {"muted": True, "deaf": False})
    with pytest.raises(ValueError, match="missing \\['deaf'\\], unknown \\['mutd'\\]"):
        EventDraft(EventType.PARTICIPANT_JOINED, "pa_1", {"muted": True, "mutd": False})
    assert payload_problem(EventType.PARTICIPANT_UPDATED, {"hold": True}) is None


@pytest.mark.parametrize("name", ["participant.joind", "participants.*", "conference.create"])
def test_a_filter_naming_no_event_type_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        v.event_types(["participant.joined", name])
    assert exc.value.code == "unknown_event_type" and exc.value.details["unknown"] == [name]


def test_known_filters_pass() -> None:
    assert v.event_types(["participant.joined", "recording.*"]) == [
        "participant.joined",
        "recording.*",
    ]
