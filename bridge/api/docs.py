"""A self-contained documentation page rendered from the OpenAPI document (no CDN, no JS)."""

from __future__ import annotations

import html
import json
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;text-transform:capitalize}
.op{margin:.8rem 0;padding:.5rem .8rem;border:1px solid #e3e3e3;border-radius:6px}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;font-family:monospace}
code,pre{font-family:ui-monospace,monospace;font-size:.85rem}pre{background:#f6f8fa;padding:.6rem;overflow:auto}
details summary{cursor:pointer;color:#555}
"""


DEFAULT_ERROR = "Error"  # the API's own error body; the facades answer in their vendors'


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return schemas[ref.rsplit("/", 1)[1]] if ref else schema


def shape(schema: dict[str, Any], schemas: dict[str, Any], depth: int = 2) -> str:
    """An object schema's keys, `depth` levels down, "…" where it allows more:
    {"code", "details": {"code", …}}."""
    schema = _resolve(schema, schemas)
    parts = []
    for name, sub in schema.get("properties", {}).items():
        inner = _resolve(sub, schemas)
        if depth > 1 and inner.get("properties"):
            parts.append(f'"{name}": {shape(inner, schemas, depth - 1)}')
        else:
            parts.append(f'"{name}"')
    if schema.get("additionalProperties", True) is not False:
        parts.append("…")
    return "{" + ", ".join(parts) + "}"


def _error_schemas(op: dict[str, Any]) -> list[str]:
    """The names of the schemas an operation's 4xx and 5xx bodies follow."""
    names = []
    for code, response in op.get("responses", {}).items():
        ref = response.get("content", {}).get("application/json", {}).get("schema", {})
        name = ref.get("$ref", "").rsplit("/", 1)[-1]
        if code[0] in "45" and name and name not in names:
            names.append(name)
    return names


def _errors_note(names: list[str], schemas: dict[str, Any]) -> str:
    shown = " or ".join(
        f"<code>{html.escape(shape(schemas[n], schemas))}</code> ({html.escape(n)})" for n in names
    )
    return f'<p class="errors">Errors in this section: {shown}.</p>'


def render(spec: dict[str, Any]) -> str:
    schemas = spec["components"]["schemas"]
    by_tag: dict[str, list[str]] = {}
    errors_by_tag: dict[str, list[str]] = {}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            tag_errors = errors_by_tag.setdefault(op["tags"][0], [])
            tag_errors.extend(n for n in _error_schemas(op) if n not in tag_errors)
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            schema_html = ""
            if ref:
                name = ref.rsplit("/", 1)[1]
                schema = json.dumps(schemas[name], indent=2)
                schema_html = (
                    f"<details><summary>body: {html.escape(name)}</summary>"
                    f"<pre>{html.escape(schema)}</pre></details>"
                )
            auth = "public" if "security" not in op else "API key"
            by_tag.setdefault(op["tags"][0], []).append(
                f'<div class="op"><span class="m">{method.upper()}</span>'
                f"<code>{html.escape(path)}</code> — {html.escape(op['summary'])}"
                f" <small>({auth})</small>{schema_html}</div>"
            )
    own = [tag for tag in by_tag if errors_by_tag[tag] not in ([], [DEFAULT_ERROR])]
    sections = "".join(
        f"<h2>{html.escape(tag)}</h2>"
        + (_errors_note(errors_by_tag[tag], schemas) if tag in own else "")
        + "".join(ops)
        for tag, ops in by_tag.items()
    )
    default_error = html.escape(shape(schemas[DEFAULT_ERROR], schemas))
    exceptions = f", except where a section says otherwise ({', '.join(own)})" if own else ""
    exceptions = html.escape(exceptions, quote=False)
    info = spec["info"]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(info['title'])}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(info['title'])} {html.escape(info['version'])}</h1>"
        f"<p>{html.escape(info['description'])}</p>"
        "<p>Authenticate with <code>Authorization: Bearer &lt;API key&gt;</code>"
        " (or Basic: account id and key). Errors are"
        f" <code>{default_error}</code>{exceptions}."
        ' The machine-readable document is <a href="/openapi.json">/openapi.json</a>.</p>'
        f"{sections}</body></html>"
    )
