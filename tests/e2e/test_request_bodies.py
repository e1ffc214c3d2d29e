"""Request bodies are JSON and small (API.md "Errors"): anything else is 415
``unsupported_media_type``; above 16 KiB it is 413 ``payload_too_large`` on every
endpoint — refused from Content-Length before the body is read, and cut off while a
chunked body streams in. Nothing is written for a refused request."""

from __future__ import annotations

import secrets

import asyncpg
import httpx
import pytest

from tests import factories
from tests.conftest import ServerProcess
from tests.e2e.buyers import Buyer, new_buyer
from tests.e2e.raw_http import RawResponse, raw_request

LIMIT = 16 * 1024
SEATS = b'{"seatIds":["sec0-A-1"]}'


async def _event_and_buyer(http: httpx.AsyncClient, pool: asyncpg.Pool) -> tuple[str, Buyer]:
    v = factories.venue()
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})
    return e["id"], await new_buyer(http)


def _hold_headers(buyer: Buyer, content_type: bytes | None) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"authorization", f"Bearer {buyer.token}".encode()),
        (b"idempotency-key", secrets.token_hex(6).encode()),
    ]
    return headers + ([(b"content-type", content_type)] if content_type is not None else [])


def _assert_error(response: RawResponse, status: int, code: str) -> None:
    assert response.status == status, response.body
    body = response.json()
    assert body["error"] == code, body
    assert body["message"], body


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (b"text/plain", SEATS),
        (b"application/x-www-form-urlencoded", b"seatIds=sec0-A-1"),
        (
            b"multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="seatIds"\r\n\r\nsec0-A-1\r\n--x--',
        ),
        (b"application/xml", b"<hold><seatIds>sec0-A-1</seatIds></hold>"),
        (b"application/json; charset=latin-1", SEATS),
        (b"application/jsonx", SEATS),
        (None, SEATS),
    ],
)
async def test_a_hold_with_a_body_that_is_not_json_is_415_and_holds_nothing(
    server: ServerProcess,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    content_type: bytes | None,
    body: bytes,
) -> None:
    event_id, buyer = await _event_and_buyer(http, pool)
    path = f"/events/{event_id}/holds".encode()
    response = await raw_request(server.url, "POST", path, _hold_headers(buyer, content_type), body)
    _assert_error(response, 415, "unsupported_media_type")
    assert await pool.fetchval("SELECT count(*) FROM holds WHERE event_id = $1", event_id) == 0


@pytest.mark.parametrize(
    "content_type", [b"application/json", b"Application/JSON; charset=UTF-8", b"application/hold+json"]
)
async def test_json_media_types_are_accepted(
    server: ServerProcess, http: httpx.AsyncClient, pool: asyncpg.Pool, content_type: bytes
) -> None:
    event_id, buyer = await _event_and_buyer(http, pool)
    path = f"/events/{event_id}/holds".encode()
    response = await raw_request(server.url, "POST", path, _hold_headers(buyer, content_type), SEATS)
    assert response.status == 201, response.body


async def test_a_purchase_with_a_form_body_is_415(
    server: ServerProcess, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, buyer = await _event_and_buyer(http, pool)
    held = await http.post(
        f"/events/{event_id}/holds",
        json={"seatIds": ["sec0-A-1"]},
        headers={**buyer.auth, "Idempotency-Key": "k1"},
    )
    assert held.status_code == 201, held.text
    path = f"/holds/{held.json()['holdId']}/purchase".encode()
    headers = [(b"authorization", f"Bearer {buyer.token}".encode()), (b"content-type", b"text/plain")]
    response = await raw_request(server.url, "POST", path, headers, b'{"paymentToken":"tok_visa"}')
    _assert_error(response, 415, "unsupported_media_type")
    assert await pool.fetchval("SELECT count(*) FROM purchases") == 0


async def test_bodiless_posts_need_no_content_type(server: ServerProcess) -> None:
    """``curl -X POST`` sends no body (or an empty form): nothing to refuse."""
    for headers in ([], [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"0")]):
        response = await raw_request(server.url, "POST", b"/auth/guest", headers)
        assert response.status == 201, response.body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", b"/events/{event}/holds"),
        ("POST", b"/holds/x/purchase"),
        ("POST", b"/auth/guest"),
        ("POST", b"/events/{event}/queue"),
        ("GET", b"/events"),
        ("GET", b"/events/{event}/seats"),
        ("GET", b"/healthz"),
        ("DELETE", b"/holds/x"),
    ],
)
async def test_a_content_length_over_16_kib_is_413_before_the_body_is_read(
    server: ServerProcess, http: httpx.AsyncClient, pool: asyncpg.Pool, method: str, path: bytes
) -> None:
    """Only the headers are sent: a server that waited for the 12 MB body would never answer."""
    event_id, buyer = await _event_and_buyer(http, pool)
    headers = [*_hold_headers(buyer, b"application/json"), (b"content-length", b"12000000")]
    response = await raw_request(server.url, method, path.replace(b"{event}", event_id.encode()), headers)
    _assert_error(response, 413, "payload_too_large")
    assert response.headers.get("connection") == "close"


@pytest.mark.parametrize("path", [b"/events/{event}/holds", b"/holds/x/purchase", b"/auth/guest"])
async def test_a_chunked_body_over_16_kib_is_cut_off_with_413(
    server: ServerProcess, http: httpx.AsyncClient, pool: asyncpg.Pool, path: bytes
) -> None:
    event_id, buyer = await _event_and_buyer(http, pool)
    padded = b'{"seatIds":["sec0-A-1"],"pad":"' + b"x" * (2 * LIMIT) + b'"}'
    chunks = [padded[i : i + 1000] for i in range(0, len(padded), 1000)]
    target = path.replace(b"{event}", event_id.encode())
    response = await raw_request(
        server.url, "POST", target, _hold_headers(buyer, b"application/json"), chunks
    )
    _assert_error(response, 413, "payload_too_large")
    assert await pool.fetchval("SELECT count(*) FROM holds WHERE event_id = $1", event_id) == 0


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_of_exactly_16_kib_is_read(
    server: ServerProcess, http: httpx.AsyncClient, pool: asyncpg.Pool, chunked: bool
) -> None:
    event_id, buyer = await _event_and_buyer(http, pool)
    body = SEATS[:-1] + b" " * (LIMIT - len(SEATS)) + b"}"
    assert len(body) == LIMIT
    sent: bytes | list[bytes] = [body[:9000], body[9000:]] if chunked else body
    path = f"/events/{event_id}/holds".encode()
    response = await raw_request(server.url, "POST", path, _hold_headers(buyer, b"application/json"), sent)
    assert response.status == 201, response.body
