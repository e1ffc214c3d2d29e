"""Redoc's bundle as fastapi-offline ships it, less its one request to a CDN.

The bundle's side menu ends with an "API docs by Redocly" link whose logo is an image on
``cdn.redoc.ly``: offline, ``/redoc`` works but the browser logs a failed load; online, every
reader's browser calls that host. This route answers the bundle's own path (matched before
fastapi-offline's static mount) with that image replaced by a blank inline one, so the docs
make no request outside this server (tests/e2e/browser/test_docs_page.py).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ticketmaster.entrypoints.http.internal import DOCS_ASSETS

REDOC_BUNDLE = DOCS_ASSETS + "redoc.standalone.js"
CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
# A transparent 1x1 GIF: the logo's place stays empty, and no host is named.
BLANK_IMAGE = b"data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


@cache
def redoc_bundle() -> bytes:
    """Read on the first request for it, not at every process's start (about 1 MB)."""
    shipped = (resources.files("fastapi_offline") / "static" / "redoc.standalone.js").read_bytes()
    return shipped.replace(CDN_LOGO, BLANK_IMAGE)


def redoc_bundle_route() -> Route:
    async def bundle(request: Request) -> Response:
        return Response(redoc_bundle(), media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    return Route(REDOC_BUNDLE, bundle, methods=["GET"], include_in_schema=False)
