"""The facades' part of the OpenAPI document: each facade operation's parameters (query, or a
JSON or form body), its reply and its vendor's error body, all derived from the TypedDicts
the facade modules declare (bridge/api/facades/schema.py turns them into JSON Schema).

A facade Op says what it takes and answers in `extra`: "params" (a TypedDict), "reply" (a
TypedDict, or none for an empty or non-JSON reply), "error" (its vendor's error body),
"form" (a POST body may be a form too, as Aculab's web services take).
"""

from __future__ import annotations

import typing
from typing import Any

from bridge.api.facades.schema import Components, required
from bridge.api.ops import Op

S = dict[str, Any]
IN_QUERY = ("GET", "DELETE")  # these take their parameters from the query string
SECURITY_SCHEMES: S = {
    "accesskey": {
        "type": "apiKey",
        "in": "query",
        "name": "accesskey",
        "description": "VoIPbin's access key: an API key (never logged)",
    },
    "token": {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "VoIPbin's token: an API key (never logged)",
    },
}


def _query(components: Components, td: Any) -> list[S]:
    hints = typing.get_type_hints(td, include_extras=True)
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required(td),
            "schema": components.of(hint),
        }
        for name, hint in hints.items()
    ]


def _describe(operation: S, op: Op, components: Components) -> None:
    params = op.extra.get("params")
    if params is not None and op.method in IN_QUERY:
        operation["parameters"] = operation.get("parameters", []) + _query(components, params)
    elif params is not None:
        schema = components.ref(params)
        content = {"application/json": {"schema": schema}}
        if op.extra.get("form"):
            content["application/x-www-form-urlencoded"] = {"schema": schema}
        operation["requestBody"] = {"required": True, "content": content}
    reply = op.extra.get("reply")
    if reply is not None:
        success = operation["responses"][str(op.status)]
        success["content"] = {"application/json": {"schema": components.ref(reply)}}
    error = op.extra.get("error")
    if error is not None:
        for code, response in operation["responses"].items():
            if code[0] in "45":
                response["content"] = {"application/json": {"schema": components.ref(error)}}


def describe(ops: tuple[Op, ...], doc: S) -> S:
    """`doc` (the document built from the route table) with every facade operation filled in
    and the facades' component schemas added."""
    components = Components()
    for op in ops:
        if "params" in op.extra or "reply" in op.extra:
            _describe(doc["paths"][op.path][op.method.lower()], op, components)
    schemas = doc["components"]["schemas"]
    clash = set(schemas) & set(components.schemas)
    assert not clash, f"facade schemas named like the API's own: {sorted(clash)}"
    doc["components"]["schemas"] = {**schemas, **components.schemas}
    doc["components"]["securitySchemes"] = {
        **doc["components"]["securitySchemes"],
        **SECURITY_SCHEMES,
    }
    return doc
