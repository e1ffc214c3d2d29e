"""JSON responses (orjson) and conditional GET helpers."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response


def json_response(body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header value names ``etag`` (weakly, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag.removeprefix("W/") in candidates


def cacheable_json(request: Request, body: Any, *, max_age: int) -> Response:
    """200 with an ETag derived from the body, or 304 when the client already has it."""
    raw = orjson.dumps(body)
    etag = '"' + hashlib.blake2b(raw, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(raw, headers=headers, media_type="application/json")
