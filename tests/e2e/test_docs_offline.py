"""``/docs`` (Swagger UI) and ``/redoc`` work with no network: the page names no other
host, and every script, stylesheet and icon it loads, and the schema, come from the server."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest


class _Assets(HTMLParser):
    """The URLs a page makes the browser fetch: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for attribute in ("src", "href", "spec-url"):
            value = named.get(attribute)
            if value and tag in {"script", "link", "img", "redoc"}:
                self.urls.append(value)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_load_everything_from_this_server(http: httpx.AsyncClient, page: str) -> None:
    response = await http.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert re.findall(r"https?://", response.text) == [], "the page names another host"
    parser = _Assets()
    parser.feed(response.text)
    scripts = [url for url in parser.urls if url.endswith(".js")]
    assert scripts, "no script found on the page"
    for url in parser.urls:
        assert urlsplit(url).netloc == "", url
        assert url.startswith("/"), url
        asset = await http.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0, url
    if page == "/docs":
        assert "url: '/openapi.json'" in response.text
        assert '"validatorUrl": null' in response.text, "Swagger UI would call its online validator"
        assert (await http.get("/openapi.json")).status_code == 200


async def test_the_redoc_bundle_served_names_no_cdn(http: httpx.AsyncClient) -> None:
    """fastapi-offline's Redoc bundle loads its side menu's logo from cdn.redoc.ly; the app
    serves the bundle with that image inline instead (routes/docs_assets.py)."""
    bundle = await http.get("/static-offline-docs/redoc.standalone.js")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert len(bundle.content) > 500_000
    assert b"cdn.redoc.ly" not in bundle.content
