"""Request fields checked by the domain match whole: a trailing newline is not valid."""

from __future__ import annotations

import pytest

from ticketmaster.domain.errors import InvalidRequest, MalformedRequest
from ticketmaster.domain.holds import check_idempotency_key
from ticketmaster.domain.purchases import check_payment_token


@pytest.mark.parametrize("key", ["k\n", "k\r\n", "", " k", "k" * 256, "é"])
def test_an_idempotency_key_must_be_printable_ascii_throughout(key: str) -> None:
    with pytest.raises(MalformedRequest):
        check_idempotency_key(key)


@pytest.mark.parametrize("key", ["k", "k" * 255, "a-b_c.d:e/f!~"])
def test_a_printable_idempotency_key_is_kept(key: str) -> None:
    assert check_idempotency_key(key) == key


@pytest.mark.parametrize("token", ["tok_visa\n", "tok visa", "", "t" * 256, "tok_\u0000", 7, None])
def test_a_payment_token_must_match_whole(token: object) -> None:
    with pytest.raises(InvalidRequest):
        check_payment_token(token)


def test_a_payment_token_is_kept() -> None:
    assert check_payment_token("tok_chargeDeclined") == "tok_chargeDeclined"
