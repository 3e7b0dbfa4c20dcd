"""Every facade response the facade suites receive is checked against the schema
/openapi.json documents for it (its operation, its status, its content type), with
jsonschema (the document is OpenAPI 3.1: its schemas are JSON Schema 2020-12).

`install` wraps the aiohttp test client's request for one test: each response to a facade
path is read, checked, and handed on unchanged (aiohttp keeps the body it read)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs

from bridge.api import facades, openapi, routes

DOC = openapi.build(routes.OPS)
FACADE_TAGS = {t["name"] for t in facades.TAGS}


@dataclass(frozen=True)
class Documented:
    method: str
    template: str
    regex: re.Pattern[str]
    operation: dict[str, Any]


def _documented(doc: dict[str, Any]) -> list[Documented]:
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if FACADE_TAGS & set(op.get("tags", ())):
                regex = re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(path)) + "$")
                out.append(Documented(method.upper(), path, regex, op))
    return out


@dataclass
class Conformance:
    doc: dict[str, Any] = field(default_factory=lambda: DOC)
    checked: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.ops = _documented(self.doc)

    def operation(self, method: str, path: str) -> Documented | None:
        found = [d for d in self.ops if d.method == method and d.regex.match(path)]
        assert len(found) <= 1, [d.template for d in found]
        return found[0] if found else None

    def check(self, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
        """Raises AssertionError naming what differs from the document."""
        op = self.operation(method, path)
        if op is None:
            return  # not a facade operation (or not routed: aiohttp answers, not a facade)
        where = f"{method} {path} -> {status}"
        responses = op.operation["responses"]
        assert str(status) in responses, f"{where}: status not documented ({sorted(responses)})"
        content = responses[str(status)].get("content")
        if not content:
            assert body == b"", f"{where}: a body where none is documented"
        else:
            assert content_type in content, f"{where}: {content_type} not in {sorted(content)}"
            if content_type == "application/json":
                schema = {**content[content_type]["schema"], "components": self.doc["components"]}
                errors = sorted(
                    Draft202012Validator(schema).iter_errors(json.loads(body)),
                    key=lambda e: list(e.absolute_path),
                )
                assert not errors, f"{where}: " + "; ".join(
                    f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in errors[:5]
                )
        self.checked[op.operation["operationId"]] += 1


CONFORMANCE = Conformance()


def install(monkeypatch: pytest.MonkeyPatch, conformance: Conformance = CONFORMANCE) -> None:
    original = TestClient._request

    async def checked(
        self: TestClient[Any, Any], method: str, path: Any, **kwargs: Any
    ) -> ClientResponse:
        resp = await original(self, method, path, **kwargs)
        if resp.content_type != "text/event-stream":
            body = await resp.read()
            conformance.check(method.upper(), resp.url.path, resp.status, resp.content_type, body)
        return resp

    monkeypatch.setattr(TestClient, "_request", checked)
