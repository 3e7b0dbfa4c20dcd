"""Serving the console: a few static files from the package, with a Content-Security-Policy
that allows only this origin's own script, style and connections (no inline script, no
foreign origin, no framing). The console signs in with an API key kept in the tab's
sessionStorage and sent as the Authorization header: no cookie, so no CSRF surface."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

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


def _load() -> dict[str, tuple[bytes, str]]:
    """Every file, read once at start: a request names one of these or gets 404."""
    return {
        p.name: (p.read_bytes(), TYPES[p.suffix])
        for p in sorted(STATIC.iterdir())
        if p.is_file() and p.suffix in TYPES
    }


def register(app: web.Application) -> None:
    files = _load()

    def respond(name: str) -> web.Response:
        body, content_type = files[name]
        return web.Response(body=body, headers={**HEADERS, "Content-Type": content_type})

    async def index(request: web.Request) -> web.Response:
        return respond("index.html")

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in files:
            raise web.HTTPNotFound(text="not found", headers=HEADERS)
        return respond(name)

    async def slash(request: web.Request) -> web.Response:
        raise web.HTTPFound("/console")

    app.router.add_get("/console", index, name="console")
    app.router.add_get("/console/", slash, name="console_slash")
    app.router.add_get("/console/{name}", asset, name="console_asset")
