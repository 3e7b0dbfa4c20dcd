"""Replays a vendor's documented requests and compares each response field by field: the
same names, the same JSON types, the same formats (imported by the tests as `replay`).

An expected string `<format>` matches any value of that format; `{name}` inside expected or
request values is replaced by a value captured earlier (or given up front); anything else
must be equal."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

DATA = Path(__file__).parent.parent / "data" / "facades"

FORMATS = {
    "rfc1123": r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct"
    r"|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT",
    "tm": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}",
    "aculab_datetime": r"\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}",
    "aculab_time": r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}",
    "id": r"[a-z]{2,4}_[0-9A-Za-z]{26}",
    "string": r".+",
    "any_string": r".*",
}


def load(name: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = json.loads((DATA / name).read_text())["steps"]
    return steps


def fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    return value


def compare(expected: Any, actual: Any, where: str = "$") -> None:
    if isinstance(expected, str) and re.fullmatch(r"<\w+>", expected):
        kind = expected[1:-1]
        if kind == "int":
            assert isinstance(actual, int) and not isinstance(actual, bool), (where, actual)
            return
        if kind == "float":
            assert isinstance(actual, float), (where, actual)
            return
        assert isinstance(actual, str), (where, "a string is expected", actual)
        assert re.fullmatch(FORMATS[kind], actual), (where, f"not {kind}", actual)
        return
    assert type(expected) is type(actual), (where, "type", expected, actual)
    if isinstance(expected, dict):
        assert set(expected) == set(actual), (where, "names", sorted(expected), sorted(actual))
        for key in expected:
            compare(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(expected) == len(actual), (where, "length", expected, actual)
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            compare(e, a, f"{where}[{i}]")
    else:
        assert expected == actual, (where, expected, actual)


def dig(body: Any, path: str) -> str:
    node = body
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return str(node)


@dataclass
class Replay:
    client: TestClient[Any, Any]
    headers: dict[str, str]
    values: dict[str, str] = field(default_factory=dict)

    async def run(self, steps: list[dict[str, Any]]) -> None:
        for step in steps:
            await self.step(step)

    async def step(self, step: dict[str, Any]) -> Any:
        req = step["request"]
        kw: dict[str, Any] = {}
        if "json" in req:
            kw["json"] = fill(req["json"], self.values)
        if "form" in req:
            kw["data"] = fill(req["form"], self.values)
        if "query" in req:
            kw["params"] = fill(req["query"], self.values)
        headers = {**self.headers, **req.get("headers", {})}
        path = fill(req["path"], self.values)
        resp = await self.client.request(req["method"], path, headers=headers, **kw)
        body = await resp.json() if resp.content_type == "application/json" else None
        name = step.get("name", path)
        assert resp.status == step["status"], (name, resp.status, body)
        for key, where in step.get("capture", {}).items():  # before: the step may use it
            self.values[key] = dig(body, where)
        if "response" in step:
            try:
                compare(fill(step["response"], self.values), body)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}; body={body}") from None
        return body
