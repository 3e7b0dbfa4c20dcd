"""The OpenAPI document the app serves matches the routes it registers, and /docs renders it
without loading anything from another host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from harness import Bridge

METHODS = {"get", "post", "put", "patch", "delete"}
PATH_PARAM = re.compile(r"{(\w+)}")
ERROR_BODIES = {"Error", "FreeClimbError", "AculabError"}


@pytest.fixture
def database_url(tmp_path: Any) -> str:
    """The document does not depend on the database: SQLite only."""
    return f"sqlite:///{tmp_path / 'bridge.db'}"


async def _spec(bridge: Bridge) -> dict[str, Any]:
    resp = await bridge.client.get("/openapi.json")  # public: no key
    assert resp.status == 200
    assert resp.content_type == "application/json"
    spec: dict[str, Any] = await resp.json()
    return spec


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method.upper(), path, op


def _registered(bridge: Bridge) -> set[tuple[str, str]]:
    """Every (method, path) on the aiohttp router, without HEAD and catch-alls."""
    found = set()
    for route in bridge.client.app.router.routes():
        if route.method in ("HEAD", "*") or route.resource is None:
            continue
        found.add((route.method, route.resource.canonical))
    return found


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are expected: {ref}"
    node: Any = spec
    for raw in ref[2:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and key in node, f"unresolvable $ref {ref}"
        node = node[key]
    return node


async def test_spec_and_router_name_the_same_operations(bridge: Bridge) -> None:
    spec = await _spec(bridge)
    documented = {(method, path) for method, path, _ in _operations(spec)}
    registered = _registered(bridge)
    assert registered, "no routes found on the router"
    assert documented - registered == set(), "documented but not routed"
    assert registered - documented == set(), "routed but not documented"


async def test_every_operation_is_fully_described(bridge: Bridge) -> None:
    spec = await _spec(bridge)
    ids: list[str] = []
    for method, path, op in _operations(spec):
        where = f"{method} {path}"
        assert op.get("operationId"), where
        ids.append(op["operationId"])
        assert op.get("summary"), where
        assert op.get("tags") and all(isinstance(t, str) and t for t in op["tags"]), where
        codes = set(op.get("responses", {}))
        assert any(c.startswith("2") for c in codes), f"{where}: no success response"
        errors = {c for c in codes if c[0] in "45"}
        assert {"400", "404"} <= errors, f"{where}: error responses {sorted(errors)}"
        for code in errors:
            schema = op["responses"][code]["content"]["application/json"]["schema"]
            # ours, or a facade's vendor error body
            assert schema["$ref"].rsplit("/")[-1] in ERROR_BODIES, (where, code)
        if "security" in op:
            assert {"401", "403"} <= errors, f"{where}: authenticated but no 401/403"
        if method == "POST" and "requestBody" in op:
            assert op["requestBody"]["required"] is True, where
    assert len(ids) == len(set(ids)), "operationIds must be unique"


async def test_operation_ids_name_the_routes(bridge: Bridge) -> None:
    spec = await _spec(bridge)
    named = {
        route.name: (route.method, route.resource.canonical)
        for route in bridge.client.app.router.routes()
        if route.name and route.resource is not None
    }
    for method, path, op in _operations(spec):
        assert named.get(op["operationId"]) == (method, path), op["operationId"]


async def test_every_ref_resolves(bridge: Bridge) -> None:
    spec = await _spec(bridge)
    refs = set(_refs(spec))
    assert refs, "the document uses $ref for its schemas"
    for ref in sorted(refs):
        target = _resolve(spec, ref)
        assert isinstance(target, dict), ref
    # and nothing declared in components is left unused by accident
    declared = {f"#/components/schemas/{name}" for name in spec["components"]["schemas"]}
    assert declared - refs == set(), "component schemas nothing refers to"


async def test_security_schemes_are_declared(bridge: Bridge) -> None:
    spec = await _spec(bridge)
    schemes = set(spec["components"]["securitySchemes"])
    for method, path, op in _operations(spec):
        for requirement in op.get("security", []):
            assert set(requirement) <= schemes, f"{method} {path}: {requirement}"


async def test_path_parameters_match_the_path(bridge: Bridge) -> None:
    spec = await _spec(bridge)
    for method, path, op in _operations(spec):
        params = [p for p in op.get("parameters", []) if p["in"] == "path"]
        names = [p["name"] for p in params]
        assert sorted(names) == sorted(PATH_PARAM.findall(path)), f"{method} {path}"
        assert all(p.get("required") is True for p in params), f"{method} {path}"
        query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        assert len(query) == len(set(query)), f"{method} {path}: duplicate query parameters"


async def test_document_is_valid_openapi(bridge: Bridge) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(await _spec(bridge))


class _Links(HTMLParser):
    """Every URL the page would fetch or link to, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data") and value:
                self.urls.append((tag, name, value))
            if name == "style" and value:
                self.styles.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)


async def test_docs_page_names_every_path_and_is_self_contained(bridge: Bridge) -> None:
    spec = await _spec(bridge)
    resp = await bridge.client.get("/docs")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    parser = _Links()
    parser.feed(page)
    parser.close()
    text = "".join(parser.text)
    for path in spec["paths"]:
        assert path in text, f"/docs does not mention {path}"

    own_host = f"{bridge.client.host}:{bridge.client.port}"
    for tag, attr, url in parser.urls:
        if re.match(r"^(https?:)?//", url, re.IGNORECASE):
            host = re.sub(r"^(https?:)?//", "", url, flags=re.IGNORECASE).split("/", 1)[0]
            assert host == own_host, f"<{tag} {attr}={url!r}> points at another host"
    css = "\n".join(parser.styles)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", css, re.IGNORECASE), css
