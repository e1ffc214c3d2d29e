"""The web app's pages and assets over HTTP (WEB.md): served by the API's own server,
every asset local, hashed asset URLs cached for good, pages never cached, a CSP without
inline script, and none of it in the OpenAPI schema."""

from __future__ import annotations

import re

import httpx
import pytest

PAGES = ["/", "/e/evt_anything", "/my/bookings"]
ASSET = re.compile(r'(?:href|src)="(/assets/[0-9a-f]{12}/[^"]+)"')
IMPORT = re.compile(r'^import .*? from "(\./[^"]+|\.\./[^"]+)";$', re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("path", PAGES)
async def test_a_page_is_html_never_cached_with_a_policy_against_inline_script(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    policy = dict(
        part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert "<script>" not in response.text
    assert " style=" not in response.text
    assert "http://" not in response.text
    assert "https://" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_every_asset_a_page_names_is_served_immutable_and_its_imports_resolve(
    http: httpx.AsyncClient,
) -> None:
    pending = {url for path in PAGES for url in ASSET.findall((await http.get(path)).text)}
    assert any(u.endswith(".css") for u in pending)
    assert any(u.endswith("/js/event.js") for u in pending)
    seen: set[str] = set()
    while pending:
        url = pending.pop()
        seen.add(url)
        response = await http.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        kind = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}[url[url.rfind(".") :]]
        assert response.headers["content-type"].startswith(kind), url
        if url.endswith(".js"):
            base = url.rsplit("/", 1)[0]
            for target in IMPORT.findall(response.text):
                resolved = str(httpx.URL(f"http://x{base}/").join(target).path)
                if resolved not in seen:
                    pending.add(resolved)
    assert len([u for u in seen if u.endswith(".js")]) >= 10


async def test_assets_are_gzipped_when_asked_and_an_old_version_is_not_cached_for_good(
    http: httpx.AsyncClient,
) -> None:
    page = (await http.get("/")).text
    css = next(u for u in ASSET.findall(page) if u.endswith(".css"))
    zipped = await http.get(css, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    plain = await http.get(css, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert zipped.content == plain.content  # httpx decodes: the same stylesheet
    old = await http.get(re.sub(r"/assets/[0-9a-f]{12}/", "/assets/000000000000/", css))
    assert old.status_code == 200
    assert old.headers["cache-control"] == "no-cache"
    missing = await http.get(css.rsplit("/", 1)[0] + "/nope.css")
    assert missing.status_code == 404


async def test_pages_stay_out_of_the_api_schema_and_unknown_routes_stay_json(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith(("/e/", "/my/", "/assets/"))]
    assert "/events/{event_id}" in paths
    assert "/bookings" in paths
    unknown = await http.get("/nothing/here")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"
