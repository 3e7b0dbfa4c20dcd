"""JSON Schema from the facades' TypedDicts: each vendor body (request or reply) is declared
once, as the TypedDict its view returns or its handler accepts, and the OpenAPI document is
derived from it, so the two cannot drift (mypy checks the views against the same types).

A field's format or enum rides on `Annotated[T, {...}]`: the dict is merged into the field's
schema (a pattern, an enum read from the facade's own mapping, a description).
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, NotRequired, Required, is_typeddict

S = dict[str, Any]
ComponentName = str

_SCALARS: dict[Any, S] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    type(None): {"type": "null"},
}


def enum(values: typing.Iterable[Any]) -> S:
    """An enum from the facade's own mapping or tuple (no copied list); order kept, once each."""
    return {"enum": list(dict.fromkeys(str(v) for v in values))}


def pattern(regex: str, description: str | None = None) -> S:
    out: S = {"pattern": f"^(?:{regex})$"}
    if description:
        out["description"] = description
    return out


def required(td: Any) -> frozenset[str]:
    """The keys a TypedDict requires. Python 3.11 does not see Required/NotRequired in
    postponed (string) annotations when it builds __required_keys__, so read the markers."""
    keys = set(td.__required_keys__)
    for name, hint in typing.get_type_hints(td, include_extras=True).items():
        if typing.get_origin(hint) is NotRequired:
            keys.discard(name)
        elif typing.get_origin(hint) is Required:
            keys.add(name)
    return frozenset(keys)


def fields(td: Any) -> frozenset[str]:
    """The names a TypedDict declares: what a facade accepts, from the same definition."""
    return frozenset(typing.get_type_hints(td))


class Components:
    """Collects the component schemas the TypedDicts reached so far refer to."""

    def __init__(self) -> None:
        self.schemas: dict[ComponentName, S] = {}

    def ref(self, td: Any) -> S:
        """A $ref to `td`'s component schema (added on first use)."""
        name = td.__name__
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder: a recursive type refers to itself
            self.schemas[name] = self.object(td)
        return {"$ref": f"#/components/schemas/{name}"}

    def object(self, td: Any) -> S:
        hints = typing.get_type_hints(td, include_extras=True)
        schema: S = {
            "type": "object",
            "properties": {k: self.of(h) for k, h in hints.items()},
            "additionalProperties": False,
        }
        needed = sorted(required(td))
        if needed:
            schema["required"] = needed
        if td.__doc__:
            schema["description"] = " ".join(td.__doc__.split())
        return schema

    def of(self, hint: Any) -> S:
        """The JSON Schema of one type hint."""
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is typing.Annotated:
            schema = dict(self.of(args[0]))
            for extra in args[1:]:
                schema.update(extra)
            return schema
        if origin in (Required, NotRequired):
            return self.of(args[0])
        if origin in (typing.Union, types.UnionType):
            return {"anyOf": [self.of(a) for a in args]}
        if origin is Literal:
            return {"enum": list(args)}
        if origin is list:
            return {"type": "array", "items": self.of(args[0])}
        if origin is dict:
            return {"type": "object"}
        if hint is Any:
            return {}
        if is_typeddict(hint):
            return self.ref(hint)
        return dict(_SCALARS[hint])
