"""TokenSigner: HS256 pinned, typed, expiring tokens; anything else is Unauthorized."""

from __future__ import annotations

import base64
import time
from typing import Any

import jwt
import orjson
import pytest

from ticketmaster.adapters.tokens import ISSUER, TokenSigner
from ticketmaster.domain.errors import Unauthorized

SECRET = "unit-test-secret-" + "k" * 64  # long enough for HS512 too
signer = TokenSigner(SECRET)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "typ": "access", "sub": "usr_1", "iat": now, "exp": now + 60, **overrides}


def test_a_signed_token_verifies_with_its_claims() -> None:
    before = int(time.time())
    token, exp = signer.sign("access", "usr_1", 300, event="evt_9")

    claims = signer.verify(token, "access")

    assert claims["sub"] == "usr_1"
    assert claims["typ"] == "access"
    assert claims["iss"] == ISSUER
    assert claims["event"] == "evt_9"
    assert claims["exp"] == exp
    assert before + 300 <= exp <= int(time.time()) + 300
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_a_tampered_signature_is_refused() -> None:
    token, _ = signer.sign("access", "usr_1", 300)
    header, payload, signature = token.split(".")

    with pytest.raises(Unauthorized, match="invalid"):
        signer.verify(f"{header}.{payload}.{_flip(signature, 0)}", "access")


def test_a_tampered_payload_is_refused() -> None:
    token, _ = signer.sign("access", "usr_1", 300)
    header, _payload, signature = token.split(".")
    forged = _b64(_claims(sub="usr_admin"))

    with pytest.raises(Unauthorized):
        signer.verify(f"{header}.{forged}.{signature}", "access")


def test_an_expired_token_is_refused() -> None:
    token, exp = signer.sign("access", "usr_1", -30)
    assert exp < time.time()

    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(token, "access")


def test_a_token_signed_until_a_moment_ends_there_to_the_millisecond() -> None:
    ahead, behind = time.time() + 0.5, time.time() - 0.25  # within one second of now, both

    assert signer.verify(signer.sign_until("admission", "usr_1", ahead), "admission")["exp"] == ahead
    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(signer.sign_until("admission", "usr_1", behind), "admission")


def test_a_token_of_another_kind_is_refused() -> None:
    token, _ = signer.sign("queue", "usr_1", 300)

    assert signer.verify(token, "queue")["typ"] == "queue"
    with pytest.raises(Unauthorized, match="access"):
        signer.verify(token, "access")


def test_an_unsigned_alg_none_token_is_refused() -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}."

    with pytest.raises(Unauthorized):
        signer.verify(token, "access")


def test_a_token_signed_with_another_hmac_algorithm_is_refused() -> None:
    token = jwt.encode(_claims(), SECRET, algorithm="HS512")

    with pytest.raises(Unauthorized):
        signer.verify(token, "access")


def test_a_token_of_another_secret_is_refused() -> None:
    token, _ = TokenSigner("another-secret-" + "z" * 32).sign("access", "usr_1", 300)

    with pytest.raises(Unauthorized):
        signer.verify(token, "access")


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "typ", "iss"])
def test_a_token_missing_a_required_claim_is_refused(missing: str) -> None:
    claims = _claims()
    del claims[missing]
    token = jwt.encode(claims, SECRET, algorithm="HS256")

    with pytest.raises(Unauthorized):
        signer.verify(token, "access")


def test_a_token_of_another_issuer_is_refused() -> None:
    token = jwt.encode(_claims(iss="someone-else"), SECRET, algorithm="HS256")

    with pytest.raises(Unauthorized):
        signer.verify(token, "access")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x.y.z"])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(Unauthorized):
        signer.verify(garbage, "access")
