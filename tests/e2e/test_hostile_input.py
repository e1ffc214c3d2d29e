"""No input gets a 5xx (SPEC I7, API.md "Errors"): NUL and control characters, bytes that
are not UTF-8, dates and numbers out of range, huge headers — each gets a 4xx with a
documented code, against a real server. A hypothesis pass fuzzes paths, queries and
headers of every route."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests import factories
from tests.conftest import ServerProcess
from tests.e2e.buyers import Buyer, new_buyer
from tests.e2e.raw_http import RawResponse, raw_request

DOCUMENTED = {
    "invalid_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "not_on_sale",
    "seats_unavailable",
    "idempotency_conflict",
    "hold_not_active",
    "admission_required",
    "rate_limited",
    "payload_too_large",
    "unsupported_media_type",
    "hold_limit",
    "method_not_allowed",
}


JSON_TYPE = (b"content-type", b"application/json")


def assert_refused(status: int, body: Any, *, allowed: set[int] | None = None) -> None:
    """A 4xx (or one of ``allowed``) with the error shape and a documented code."""
    assert 400 <= status < 500 or status in (allowed or set()), (status, body)
    if status >= 400:
        assert isinstance(body, dict), (status, body)
        assert body.get("error") in DOCUMENTED, (status, body)
        assert isinstance(body.get("message"), str), body
        assert body["message"], body


async def send(server: ServerProcess, method: str, target: bytes, **kwargs: Any) -> RawResponse:
    return await raw_request(server.url, method, target, **kwargs)


def parsed(response: RawResponse) -> Any:
    return response.json() if response.body else None


@pytest.mark.parametrize(
    "query",
    [
        "date=9999-12-31",
        "dateTo=9999-12-31",
        "dateFrom=9999-12-31",
        "dateTo=9999-12-31T23:59:59.999999Z",
        "dateFrom=0001-01-01T00:00:00%2B23:59",
        "dateTo=9999-12-31T23:59:59-23:59",
        "date=2026-02-30",
        "limit=99999999999999999999999",
        "limit=-1",
        "limit=1e3",
        "city=a%00b",
        "q=a%00b",
        "city=%FF%FE",
        "q=%C3%28",
        "city=a%0Ab",
        "cursor=%00",
        "cursor=WyIyMDI2LTAxLTAxVDAwOjAwOjAwWiIsImFcdTAwMDBiIl0",
        "cursor=" + "A" * 5000,
    ],
)
async def test_browse_queries_out_of_range_or_with_control_bytes_get_a_4xx(
    server: ServerProcess, query: str
) -> None:
    response = await send(server, "GET", b"/events?" + query.encode())
    assert_refused(response.status, parsed(response))
    assert response.status in (400, 422)


@pytest.mark.parametrize(
    "query", ["dateFrom=0001-01-01", "dateTo=9998-12-31", "q=%C3%A9t%C3%A9", "city=%C3%A9"]
)
async def test_browse_queries_at_the_edges_of_the_valid_range_are_answered(
    server: ServerProcess, query: str
) -> None:
    response = await send(server, "GET", b"/events?" + query.encode())
    assert response.status == 200, response.body


@pytest.mark.parametrize(
    "path",
    [
        b"/events/evt%00x",
        b"/events/evt%00x/seats",
        b"/events/evt%00x/seats/stream",
        b"/events/evt%01x",
        b"/events/%FF%FE",
        b"/events/evt%0A",
        b"/holds/hld%00x",
        b"/purchases/pur%00x",
        b"/bookings/bkg%00x",
    ],
)
async def test_ids_with_control_or_non_utf8_bytes_get_a_4xx(
    server: ServerProcess, http: httpx.AsyncClient, path: bytes
) -> None:
    buyer = await new_buyer(http)
    headers = [(b"authorization", f"Bearer {buyer.token}".encode())]
    response = await send(server, "GET", path, headers=headers)
    assert_refused(response.status, parsed(response))


async def test_writes_with_control_bytes_in_ids_get_a_4xx(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    buyer = await new_buyer(http)
    auth = (b"authorization", f"Bearer {buyer.token}".encode())
    cases = [
        (
            "POST",
            b"/events/evt%00x/holds",
            [auth, JSON_TYPE, (b"idempotency-key", b"k")],
            b'{"seatIds":["a"]}',
        ),
        ("POST", b"/events/evt%00x/queue", [auth], b""),
        ("GET", b"/events/evt%00x/queue/status", [auth, (b"x-queue-token", b"x")], b""),
        ("DELETE", b"/holds/hld%00x", [auth], b""),
        ("POST", b"/holds/hld%00x/purchase", [auth, JSON_TYPE], b'{"paymentToken":"tok_visa"}'),
    ]
    for method, path, headers, body in cases:
        response = await send(server, method, path, headers=headers, body=body)
        assert_refused(response.status, parsed(response))


async def _event_and_buyer(http: httpx.AsyncClient, pool: asyncpg.Pool) -> tuple[str, Buyer]:
    v = factories.venue()
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})
    return e["id"], await new_buyer(http)


async def test_header_values_out_of_range_or_huge_get_a_4xx(
    server: ServerProcess, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, buyer = await _event_and_buyer(http, pool)
    auth = (b"authorization", f"Bearer {buyer.token}".encode())
    hold_path = f"/events/{event_id}/holds".encode()
    seat = b'{"seatIds":["sec0-A-1"]}'
    cases = [
        ("POST", hold_path, [auth, JSON_TYPE, (b"idempotency-key", b"\xff\xfe")], seat),
        ("POST", hold_path, [auth, JSON_TYPE, (b"idempotency-key", b"k" * 300)], seat),
        ("GET", b"/events", [(b"if-none-match", b"x" * 20_000)], b""),
        ("GET", b"/events", [(b"x-filler", b"x" * 1_000_000)], b""),
        ("GET", b"/events", [(b"x-filler-%d" % n, b"x" * 4000) for n in range(10)], b""),
        ("GET", b"/holds/x", [(b"authorization", b"Bearer " + b"a" * 100_000)], b""),
        ("GET", b"/holds/x", [(b"authorization", b"Bearer \xff\xfe")], b""),
        ("GET", f"/events/{event_id}/seats/stream".encode(), [(b"last-event-id", b"1\xff")], b""),
        ("POST", b"/holds/x/purchase", [auth, JSON_TYPE, (b"idempotency-key", b"k\xff")], b"{}"),
    ]
    for method, path, headers, body in cases:
        response = await send(server, method, path, headers=headers, body=body)
        assert_refused(response.status, parsed(response))


async def test_control_bytes_in_header_values_are_refused_by_the_http_parser(server: ServerProcess) -> None:
    """Refused before any application code runs, by the HTTP parser, still with the error
    body and the security headers (entrypoints/http/parser_refusal.py)."""
    for value in (b"a\x00b", b"a\x01b", b"a\x7fb"):
        for name in (b"authorization", b"idempotency-key", b"x-queue-token"):
            response = await send(server, "GET", b"/events", headers=[(name, value)])
            assert response.status == 400, (name, value, response.body)
            assert_refused(response.status, parsed(response))
            assert response.json()["error"] == "invalid_request"
            assert response.headers.get("x-content-type-options") == "nosniff", response.headers
    malformed = await send(server, "GET", b"/events HTTP/1.1\x00")  # not even a request line
    assert malformed.status == 400, malformed.body
    assert_refused(malformed.status, parsed(malformed))


async def test_json_bodies_with_lone_surrogates_or_nul_get_a_4xx(
    server: ServerProcess, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, buyer = await _event_and_buyer(http, pool)
    auth = (b"authorization", f"Bearer {buyer.token}".encode())
    held = await http.post(
        f"/events/{event_id}/holds",
        json={"seatIds": ["sec0-A-1"]},
        headers={**{"Authorization": f"Bearer {buyer.token}"}, "Idempotency-Key": secrets.token_hex(4)},
    )
    assert held.status_code == 201, held.text
    hold_id = held.json()["holdId"]
    hold_path = f"/events/{event_id}/holds".encode()
    key = (b"idempotency-key", secrets.token_hex(4).encode())
    cases = [
        (hold_path, [auth, JSON_TYPE, key], b'{"seatIds":["\\ud800"]}'),
        (hold_path, [auth, JSON_TYPE, key], b'{"seatIds":["a\\u0000b"]}'),
        (hold_path, [auth, JSON_TYPE, key], b'{"seatIds":["\xff"]}'),
        (f"/holds/{hold_id}/purchase".encode(), [auth, JSON_TYPE], b'{"paymentToken":"\\ud800"}'),
        (f"/holds/{hold_id}/purchase".encode(), [auth, JSON_TYPE], b'{"paymentToken":"tok\\u0000"}'),
        (f"/holds/{hold_id}/purchase".encode(), [auth, JSON_TYPE], b'{"paymentToken":"\xff\xfe"}'),
        (f"/holds/{hold_id}/purchase".encode(), [auth, JSON_TYPE], b'{"paymentToken":' + b"[" * 5000 + b"}"),
    ]
    for path, headers, body in cases:
        response = await send(server, "POST", path, headers=headers, body=body)
        assert_refused(response.status, parsed(response))


# --- a property pass over every route ------------------------------------------------------

_ROUTES = [
    ("GET", "/events/{}"),
    ("GET", "/events/{}/seats"),
    ("POST", "/events/{}/holds"),
    ("POST", "/events/{}/queue"),
    ("GET", "/events/{}/queue/status"),
    ("GET", "/holds/{}"),
    ("DELETE", "/holds/{}"),
    ("POST", "/holds/{}/purchase"),
    ("GET", "/purchases/{}"),
    ("GET", "/bookings/{}"),
]
_QUERY_NAMES = ["city", "date", "dateFrom", "dateTo", "q", "limit", "cursor"]
_HEADER_NAMES = [
    b"idempotency-key",
    b"x-admission-token",
    b"x-queue-token",
    b"if-none-match",
    b"accept-encoding",
    b"last-event-id",
]
_any_bytes = st.binary(min_size=0, max_size=40)
_texty = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)


def _pct(raw: bytes) -> bytes:
    return b"".join(b"%%%02X" % b for b in raw)


# Header values: any byte but CR/LF (which would end the header line itself).
_header_value = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(_ROUTES),
    ident=st.one_of(_any_bytes, _texty.map(str.encode)),
    query=st.lists(st.tuples(st.sampled_from(_QUERY_NAMES), st.one_of(_any_bytes, _texty.map(str.encode)))),
    headers=st.lists(st.tuples(st.sampled_from(_HEADER_NAMES), _header_value), max_size=3),
    with_token=st.booleans(),
    body=st.one_of(st.just(b""), _any_bytes, st.just(b'{"seatIds":["sec0-A-1"]}')),
)
def test_no_route_answers_a_5xx_to_fuzzed_ids_queries_and_headers(
    fuzz_target: tuple[ServerProcess, str],
    route: tuple[str, str],
    ident: bytes,
    query: list[tuple[str, bytes]],
    headers: list[tuple[bytes, bytes]],
    with_token: bool,
    body: bytes,
) -> None:
    server, token = fuzz_target
    method, template = route
    target = template.format(_pct(ident).decode()).encode()
    if query:
        target += b"?" + b"&".join(name.encode() + b"=" + _pct(value) for name, value in query)
    sent = list(headers)
    if with_token:
        sent.append((b"authorization", f"Bearer {token}".encode()))
    if method == "POST":
        sent.append((b"content-type", b"application/json"))
    note(f"{method} {target!r} headers={sent!r}")
    response = asyncio.run(send(server, method, target, headers=sent, body=body if method == "POST" else b""))
    _assert_answered(response)
    if method == "GET" and template == "/events/{}" and query:
        list_response = asyncio.run(send(server, "GET", b"/events?" + target.partition(b"?")[2]))
        _assert_answered(list_response)


def _assert_answered(response: RawResponse) -> None:
    """A success, a redirect (``/events/`` -> ``/events``) or a documented 4xx error (the
    HTTP parser's refusal of a control byte in a header value included)."""
    assert_refused(
        response.status,
        parsed(response) if response.status >= 400 else None,
        allowed={200, 201, 202, 204, 304, 307},
    )


@pytest.fixture
def fuzz_target(server: ServerProcess) -> tuple[ServerProcess, str]:
    token = httpx.post(server.url + "/auth/guest").json()["token"]
    return server, token
