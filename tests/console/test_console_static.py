"""The console's files as the bridge serves them: each with the Content-Security-Policy
and the other headers; nothing but the packaged files (no traversal); and the files
themselves hold no inline script, no inline handler and no foreign origin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bridge_testing.embedded import Engine

from bridge.console.console import CSP, STATIC

FILES = sorted(p.name for p in STATIC.iterdir() if p.is_file())


@pytest.mark.parametrize("name", FILES)
async def test_each_file_is_served_with_the_policy(engine: Engine, name: str) -> None:
    path = "/console" if name == "index.html" else f"/console/{name}"
    resp = await engine.client.get(path)
    assert resp.status == 200
    assert resp.headers["Content-Security-Policy"] == CSP
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "Set-Cookie" not in resp.headers
    assert await resp.read() == (STATIC / name).read_bytes()


@pytest.mark.parametrize(
    "path", ["/console/nope.js", "/console/..%2fconsole.py", "/console/%2e%2e/console.py",
             "/console/__init__.py", "/console/static", "/console/index.html"],
)  # fmt: skip
async def test_only_the_packaged_files(engine: Engine, path: str) -> None:
    resp = await engine.client.get(path, allow_redirects=False)
    assert resp.status == 404, path
    # the route's own answer, or the router's when the path is not the console's at all
    code = (await resp.json())["error"]["code"]
    assert code in ("console_file_not_found", "not_found"), code


def test_no_inline_script_no_handlers_no_foreign_origin() -> None:
    html = (STATIC / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag  # only external (same-origin) script
    assert re.search(r"<script\b[^>]*>\s*[^<\s]", html) is None  # no body
    assert re.search(r"\son[a-z]+\s*=", html) is None
    for name in FILES:
        text = (Path(STATIC) / name).read_text()
        assert re.search(r"https?://(?!www\.w3\.org/2000/svg)", text) is None, name
    js = (STATIC / "console.js").read_text()
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "eval(" not in js
