"""One definition per API field of a resource: its name, its kind (validator, JSON Schema,
JSON form) and whether POST and PATCH take it. The model dataclass gives its type and
default; the service validates a body with `Resource.parse_create/parse_patch`, the
serializer shows it with `Resource.show`, the OpenAPI document publishes
`Resource.properties`, and the store converts rows by the dataclass's type hints
(bridge/store/convert.py). Adding a conference field: the dataclass field, one `Field`
line below, the table column and its migration (schema changes stay reviewed as SQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bridge.core import reservation as rsm
from bridge.core import validate as v
from bridge.core.models import Conference, ConferenceType, PlayBeep
from bridge.core.netpolicy import OutboundPolicy
from bridge.core.options import dial_in_to_dict, parse_dial_in, parse_media, parse_media_list

S = dict[str, Any]

# --- JSON Schema pieces (the OpenAPI document's too) ----------------------------------------


def pattern(regex: str) -> str:
    """A validator's pattern (bridge/core/validate.py), anchored as JSON Schema needs."""
    return f"^(?:{regex})$"


def int_range(bounds: tuple[int, int]) -> S:
    return {"type": "integer", "minimum": bounds[0], "maximum": bounds[1]}


def text_schema(max_len: int, min_len: int = 1) -> S:
    return {
        "type": "string",
        "minLength": min_len,
        "maxLength": max_len,
        "pattern": f"^[^{v.CONTROL_CHARS}]*$",
    }


def nullable(schema: S) -> S:
    return {"anyOf": [schema, {"type": "null"}]}


def enum(values: Iterable[Any]) -> S:
    """An enum from the model's own StrEnum or tuple, never a copy."""
    return {"enum": [str(x) for x in values]}


def ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


URL: S = {
    "type": "string",
    "format": "uri",
    "maxLength": v.URL_LEN,
    "pattern": "^https?://[^\\s]+$",
    "description": "An http(s) URL on a public host. Loopback, private, link-local, CGNAT, "
    "multicast, reserved and documentation addresses (in any notation) and local names such "
    "as localhost are refused with 400 url_not_allowed unless the operator allows them "
    "(outbound_allowed_cidrs / outbound_allowed_hosts); checked again after DNS at delivery.",
}

# --- kinds ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    """What a validator needs besides the value: the outbound policy for URLs a tenant
    stores, and the largest size this conference may have."""

    policy: OutboundPolicy | None = None
    max_participants: int = 0


Parse = Callable[[Any, str, Context], Any]


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Kind:
    """How a value is checked (`parse`: raw JSON, field name -> clean model value or
    InvalidInput), published (`schema`) and shown (`show`: model value -> JSON)."""

    parse: Parse
    schema: S
    show: Callable[[Any], Any] = _same


def text(max_len: int) -> Kind:
    return Kind(lambda x, f, _: v.text(x, f, max_len=max_len), text_schema(max_len))


def optional_text(max_len: int) -> Kind:
    return Kind(
        lambda x, f, _: v.optional_text(x, f, max_len=max_len),
        nullable(text_schema(max_len, 0)),
    )


def choice(values: type[StrEnum]) -> Kind:
    options = tuple(m.value for m in values)
    return Kind(lambda x, f, _: values(v.choice(x, f, options)), enum(values), lambda m: m.value)


def integer(bounds: tuple[int, int]) -> Kind:
    lo, hi = bounds
    return Kind(lambda x, f, _: v.integer(x, f, minimum=lo, maximum=hi), int_range(bounds))


def _media_or_none(value: Any) -> Any:
    return value.to_dict() if value is not None else None


BOOLEAN = Kind(lambda x, f, _: v.boolean(x, f), {"type": "boolean"})
LANGUAGE = Kind(
    lambda x, f, _: v.language(x, f), {"type": "string", "pattern": pattern(v.LANGUAGE)}
)
OPTIONAL_URL = Kind(lambda x, f, c: v.optional_url(x, f, c.policy), nullable(URL))
# an empty media object is none, as before the schema said so
OPTIONAL_MEDIA = Kind(
    lambda x, f, _: parse_media(x, f) if x else None, nullable(ref("Media")), _media_or_none
)
MEDIA_LIST = Kind(
    lambda x, f, _: parse_media_list(x, f),
    {"type": "array", "items": ref("Media"), "minItems": 1, "maxItems": v.MEDIA_ITEMS},
    lambda items: [m.to_dict() for m in items],
)
DATA = Kind(
    lambda x, f, _: v.json_object(x, f),
    {
        "type": "object",
        "description": f"any JSON object, at most {v.MAX_DATA_BYTES} bytes as compact JSON",
        "x-max-bytes": v.MAX_DATA_BYTES,
    },
)
DIAL_IN = Kind(
    lambda x, f, c: parse_dial_in(x, f, policy=c.policy),
    nullable(ref("DialIn")),
    lambda d: dial_in_to_dict(d) if d is not None else None,
)


def _size(value: Any, field: str, ctx: Context) -> int | None:
    if value is None:
        return None
    return v.integer(value, field, minimum=1, maximum=ctx.max_participants)


def size(maximum: int) -> Kind:
    """A conference's size: its real ceiling depends on the conference (Context)."""
    return Kind(_size, nullable({"type": "integer", "minimum": 1, "maximum": maximum}))


# --- fields and resources -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # in the body, the response and the dataclass
    kind: Kind
    create: bool = True  # POST takes it
    patch: bool = True  # PATCH changes it
    doc: str | None = None  # the schema's description
    extra: S = dataclasses.field(default_factory=dict)  # more schema keywords (x-...)

    @property
    def schema(self) -> S:
        if self.doc is None and not self.extra:
            return self.kind.schema
        base = self.kind.schema
        inner = base["anyOf"][0] if "anyOf" in base else base
        described = {**inner, **({"description": self.doc} if self.doc else {}), **self.extra}
        return nullable(described) if "anyOf" in base else described


Later = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Resource:
    model: type[Any]
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        # a Field that names no dataclass attribute fails at import, in every test
        names = {f.name for f in dataclasses.fields(self.model)}
        missing = [f.name for f in self.fields if f.name not in names]
        if missing:
            raise TypeError(f"{self.model.__name__} has no field(s) {', '.join(missing)}")

    @property
    def create_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.create)

    @property
    def patch_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.patch)

    def parse_create(
        self, body: Mapping[str, Any], ctx: Context, later: Mapping[str, Later] = {}
    ) -> dict[str, Any]:
        """The clean values of a POST body, by attribute. An absent field keeps the
        dataclass default, unless `later` gives a raw default made from the values parsed
        (checked like a sent value)."""
        values: dict[str, Any] = {}
        for f in self.fields:
            if f.create and f.name in body:
                values[f.name] = f.kind.parse(body[f.name], f.name, ctx)
        for name, default in later.items():
            if name not in values:
                field = self._field(name)
                values[name] = field.kind.parse(default(values), name, ctx)
        return values

    def parse_patch(self, body: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
        return {
            f.name: f.kind.parse(body[f.name], f.name, ctx)
            for f in self.fields
            if f.patch and f.name in body
        }

    def show(self, obj: Any) -> dict[str, Any]:
        return {f.name: f.kind.show(getattr(obj, f.name)) for f in self.fields}

    def properties(self, *, patch: bool = False) -> dict[str, S]:
        return {f.name: f.schema for f in self.fields if (f.patch if patch else f.create)}

    def _field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


CONFERENCE = Resource(
    Conference,
    (
        Field("name", text(v.NAME_LEN)),
        Field("alias", optional_text(v.TEXT_LEN)),
        Field("detail", optional_text(v.DETAIL_LEN)),
        Field("type", choice(ConferenceType), patch=False),
        Field("play_beep", choice(PlayBeep)),
        Field("record", BOOLEAN),
        Field(
            "max_participants",
            size(rsm.MAX_SIZE),
            doc="at most unreserved_max_participants (default 40) without a "
            "reservation; at most the reservation's size with one",
            extra={"x-maximum-depends": "unreserved_max_participants or the reservation's size"},
        ),
        Field("timeout", integer(v.CONFERENCE_TIMEOUT)),
        Field("wait_media", OPTIONAL_MEDIA),
        Field("action_url", OPTIONAL_URL, patch=False),
        Field("status_callback_url", OPTIONAL_URL),
        Field("data", DATA),
        Field("pre_actions", MEDIA_LIST),
        Field("post_actions", MEDIA_LIST),
        Field("dial_in", DIAL_IN),
    ),
)
