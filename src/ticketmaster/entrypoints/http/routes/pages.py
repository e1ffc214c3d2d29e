"""The buyer web app (WEB.md): its pages and their static assets, served by the API's app.

The app is a client of the public JSON API only; these routes just hand out files.
Caching contract:

- Assets live under ``/assets/<version>/<path>``, where ``<version>`` is a hash of every
  file of ``ticketmaster/web/static``: an asset URL names one content forever, so it is
  cached a year and ``immutable``. Modules import each other by relative paths, so they
  resolve inside the same version. A request for another version (a page from before a
  deploy) still gets today's file, but ``no-cache``.
- Pages are the same few bytes for everyone (the scripts read the event id from the
  path), rendered once at start-up and sent ``no-store`` with a Content-Security-Policy
  that allows scripts, styles and connections of this origin only: no inline script,
  no inline style. The one per-request part: an event page without a waiting room
  preloads the event and its seat map (``<link rel="preload" as="fetch">``), so the
  browser fetches them while it loads the modules (a stadium's first paint is mostly
  that download). Behind a waiting room the map waits for the admission.

None of these routes is in the OpenAPI schema; their paths (``/``, ``/e/...``, ``/my/...``,
``/assets/...``) share no prefix with an API route.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import logging
import mimetypes
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from ticketmaster.entrypoints.http.deps import ContainerDep

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_DATA_MARK = b"<!--data-preloads-->"
_IMMUTABLE = "public, max-age=31536000, immutable"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}
# Page name -> (title, template, entry module under static/js).
PAGES = {
    "search": ("Find events", "search.html", "search.js"),
    "event": ("Event", "event.html", "event.js"),
    "bookings": ("My bookings", "bookings.html", "bookings.js"),
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str


def _walk(folder: Traversable, prefix: str = "") -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            files |= _walk(entry, f"{prefix}{entry.name}/")
        elif not entry.name.startswith("."):
            files[prefix + entry.name] = entry.read_bytes()
    return files


class WebApp:
    """Every static file (in memory, gzipped once) and every page (rendered once)."""

    def __init__(self, root: Traversable | None = None) -> None:
        root = root or resources.files("ticketmaster") / "web"
        files = _walk(root / "static")
        digest = hashlib.sha256()
        for path, body in files.items():
            digest.update(path.encode() + b"\0" + hashlib.sha256(body).digest())
        self.version = digest.hexdigest()[:12]
        self.base = f"/assets/{self.version}/"
        self.assets = {path: _asset(path, body) for path, body in files.items()}
        templates = root / "templates"
        layout = (templates / "layout.html").read_text(encoding="utf-8")
        modules = [p for p in files if p.startswith("js/")]
        self.pages = {
            name: self._render(
                layout, title, (templates / template).read_text(encoding="utf-8"), entry, modules
            )
            for name, (title, template, entry) in PAGES.items()
        }

    def _render(self, layout: str, title: str, body: str, entry: str, modules: list[str]) -> bytes:
        # Every module is preloaded so the browser fetches them in parallel, not import by import.
        preloads = "\n".join(f'  <link rel="modulepreload" href="{self.base}{m}">' for m in modules)
        html = (
            layout.replace("{{title}}", title)
            .replace("{{preloads}}", preloads)
            .replace("{{body}}", body)
            .replace("{{entry}}", f"{self.base}js/{entry}")
            .replace("{{assets}}", self.base)
        )
        return html.encode()

    def page(self, name: str, data: tuple[str, ...] = ()) -> Response:
        """Page ``name``; ``data`` are API paths (of this origin) the page will fetch first."""
        body = self.pages[name]
        if data:
            links = "".join(
                '<link rel="preload" as="fetch" crossorigin="anonymous" href="{}"{}>'.format(
                    html.escape(p), " data-seat-map" if p.endswith("/seats") else ""
                )
                for p in data
            )
            body = body.replace(_DATA_MARK, links.encode())
        return Response(body, headers=_PAGE_HEADERS, media_type="text/html")

    def asset(self, request: Request, version: str, path: str) -> Response:
        asset = self.assets.get(path)
        if asset is None:
            return Response(b"not found", status_code=404, media_type="text/plain")
        headers = {
            "Cache-Control": _IMMUTABLE if version == self.version else "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept-Encoding",
        }
        if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(asset.gzipped, headers=headers, media_type=asset.media_type)
        return Response(asset.body, headers=headers, media_type=asset.media_type)


def _asset(path: str, body: bytes) -> Asset:
    suffix = path[path.rfind(".") :]
    media_type = _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    compressible = media_type.startswith("text/") or media_type == "image/svg+xml"
    gzipped = gzip.compress(body, 9, mtime=0) if compressible and len(body) > 1024 else None
    return Asset(body, gzipped, media_type)


def web_router(web: WebApp) -> APIRouter:
    """The page and asset routes, outside the OpenAPI schema."""
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def search_page() -> Response:
        return web.page("search")

    @router.get("/e/{event_id}")
    async def event_page(event_id: str, c: ContainerDep) -> Response:
        try:
            info = await c.catalog.event_info(event_id)
        except Exception as exc:  # only a hint is lost: the page fetches what it needs anyway
            log.warning("event page %s served without preloads: %r", event_id, exc)
            info = None
        if info is None or info.waiting_room:
            return web.page("event")
        base = "/events/" + quote(event_id, safe="")
        return web.page("event", (base, base + "/seats"))

    @router.get("/my/bookings")
    async def bookings_page() -> Response:
        return web.page("bookings")

    @router.get("/assets/{version}/{path:path}")
    async def asset(request: Request, version: str, path: str) -> Response:
        return web.asset(request, version, path)

    return router
