"""Serving the console: a few static files from the package, with a Content-Security-Policy
that allows only this origin's own script, style and connections (no inline script, no
foreign origin, no framing). The console signs in with an API key kept in the tab's
sessionStorage and sent as the Authorization header: no cookie, so no CSRF surface.
The two routes are in the API's route table (bridge/api/routes.py), public."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aiohttp import web

from bridge.core.errors import NotFound
from bridge.services.accounts import Principal

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
PAGE_SUMMARY = "The operator console (a browser page; sign in with an API key)"
FILE_SUMMARY = "The console's script, style sheet and icon"


@cache
def files() -> dict[str, tuple[bytes, str]]:
    """Every file, read once: a request names one of these or gets 404."""
    return {
        p.name: (p.read_bytes(), TYPES[p.suffix])
        for p in sorted(STATIC.iterdir())
        if p.is_file() and p.suffix in TYPES
    }


def _respond(name: str) -> web.Response:
    body, content_type = files()[name]
    return web.Response(body=body, headers={**HEADERS, "Content-Type": content_type})


async def console_page(request: web.Request, who: Principal | None) -> web.Response:
    return _respond("index.html")


async def console_file(request: web.Request, who: Principal | None) -> web.Response:
    name = request.match_info["name"]
    if name == "index.html" or name not in files():
        raise NotFound("console_file_not_found", "the console has no such file")
    return _respond(name)
