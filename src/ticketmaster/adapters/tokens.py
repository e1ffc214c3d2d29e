"""Signed tokens (JWT, HS256 pinned): buyer sessions, queue tickets, admission passes.

Each token carries ``typ`` so one kind can never stand in for another, and is verified
with the algorithm pinned: a token re-signed with ``none`` or RS256 is refused.

Verified tokens are remembered (a bounded map from the exact token string to its claims):
buyers present the same bearer and queue tokens on every poll, and a full verification
costs ~100x a lookup. A remembered token is still checked for kind and expiry each time;
only signature and claim-shape checks, which cannot change for the same string, are
skipped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson

from ticketmaster.domain.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "ticketmaster"
VERIFIED_CACHE_SIZE = 65_536


_REQUIRED = ("exp", "iat", "sub", "typ", "iss")


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _decode(token: str, secret: bytes) -> dict[str, Any] | None:
    """The claims of a well-formed HS256 token with a valid signature, else None.

    The checks PyJWT's ``decode`` makes for our tokens, at a fraction of its cost (this
    runs once per new bearer token on the hold path): algorithm pinned to HS256 from the
    header, constant-time signature check over the exact signed bytes, required claims
    present, our issuer, numeric times. Expiry is checked by the caller.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    header_b64, payload_b64, signature_b64 = parts
    try:
        header = orjson.loads(_b64(header_b64))
        signature = _b64(signature_b64)
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM or "crit" in header:
        return None
    expected = hmac.new(secret, f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        claims = orjson.loads(_b64(payload_b64))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict) or any(name not in claims for name in _REQUIRED):
        return None
    if claims["iss"] != ISSUER or not isinstance(claims["sub"], str):
        return None
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
    if claims.get("nbf", 0) > time.time():
        return None
    return claims


@dataclass(frozen=True, slots=True)
class TokenSigner:
    secret: str
    _verified: OrderedDict[str, dict[str, Any]] = field(
        default_factory=OrderedDict, init=False, repr=False, compare=False
    )

    def sign(self, typ: str, subject: str, ttl_seconds: int, **claims: Any) -> tuple[str, int]:
        """Return the token and its expiry (Unix seconds)."""
        exp = int(time.time()) + ttl_seconds
        return self.sign_until(typ, subject, exp, **claims), exp

    def sign_until(self, typ: str, subject: str, expires_at: float, **claims: Any) -> str:
        """A token valid until ``expires_at`` (Unix seconds; a fraction keeps milliseconds:
        JWT NumericDate allows it), for tokens whose end is set by something else."""
        now = int(time.time())
        payload = {"iss": ISSUER, "typ": typ, "sub": subject, "iat": now, "exp": expires_at, **claims}
        return jwt.encode(payload, self.secret, algorithm=ALGORITHM)

    def verify(self, token: str, typ: str) -> dict[str, Any]:
        """Claims of a valid, unexpired token of kind ``typ``; Unauthorized otherwise."""
        known = self._verified.get(token)
        if known is not None:
            if known["exp"] <= time.time():
                raise Unauthorized("token has expired")
            if known["typ"] != typ:
                raise Unauthorized(f"not a {typ} token")
            return dict(known)
        claims = _decode(token, self.secret.encode())
        if claims is None:
            raise Unauthorized("token is invalid")
        if claims["exp"] <= time.time():
            raise Unauthorized("token has expired")
        self._verified[token] = dict(claims)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        if claims.get("typ") != typ:
            raise Unauthorized(f"not a {typ} token")
        return claims
