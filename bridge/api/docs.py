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


def render(spec: dict[str, Any]) -> str:
    schemas = spec["components"]["schemas"]
    by_tag: dict[str, list[str]] = {}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
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
    sections = "".join(f"<h2>{html.escape(tag)}</h2>{''.join(ops)}" for tag, ops in by_tag.items())
    info = spec["info"]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(info['title'])}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(info['title'])} {html.escape(info['version'])}</h1>"
        f"<p>{html.escape(info['description'])}</p>"
        "<p>Authenticate with <code>Authorization: Bearer &lt;API key&gt;</code>"
        " (or Basic: account id and key). Errors are"
        ' <code>{"error": {"code", "message", "details"}}</code>.'
        ' The machine-readable document is <a href="/openapi.json">/openapi.json</a>.</p>'
        f"{sections}</body></html>"
    )
