"""Signed tokens (JWT, HS256 pinned): buyer sessions, queue tickets, admission passes.

Each token carries ``typ`` so one kind can never stand in for another, and is verified
with the algorithm pinned: a token re-signed with ``none`` or RS256 is refused.

Verified tokens are remembered (a bounded map from the exact token string to its claims):
buyers present the same bearer and queue tokens on every poll, and a full verification
(PyJWT) costs ~100x a lookup. A remembered token is still checked for kind and expiry each time;
only signature and claim-shape checks, which cannot change for the same string, are
skipped.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jwt

from ticketmaster.domain.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "ticketmaster"
VERIFIED_CACHE_SIZE = 65_536


_REQUIRED = ["exp", "iat", "sub", "typ", "iss"]


def _decode(token: str, secret: str) -> dict[str, Any] | None:
    """The claims of a well-formed HS256 token of ours with a valid signature, else None.

    PyJWT checks the signature with the algorithm pinned, the required claims, the issuer
    and ``nbf``; expiry is checked by the caller on every use (remembered tokens too)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": _REQUIRED, "verify_exp": False},
        )
    except jwt.InvalidTokenError:
        return None
    if not isinstance(claims.get("sub"), str):
        return None
    for name in ("exp", "iat"):
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
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
        claims = _decode(token, self.secret)
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
