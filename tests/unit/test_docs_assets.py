"""The Redoc bundle's CDN logo is replaced: the shipped bundle still names it exactly once
(else a fastapi-offline upgrade moved it, and the replacement silently does nothing)."""

from __future__ import annotations

from importlib import resources

from ticketmaster.entrypoints.http.routes.docs_assets import BLANK_IMAGE, CDN_LOGO, redoc_bundle


def test_the_shipped_bundle_names_the_cdn_logo_once_and_the_served_one_not_at_all() -> None:
    shipped = (resources.files("fastapi_offline") / "static" / "redoc.standalone.js").read_bytes()
    assert shipped.count(CDN_LOGO) == 1
    served = redoc_bundle()
    assert b"cdn.redoc.ly" not in served
    assert served.count(BLANK_IMAGE) == 1
    assert len(served) == len(shipped) - len(CDN_LOGO) + len(BLANK_IMAGE)
