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

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jwt

from ticketmaster.domain.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "ticketmaster"
VERIFIED_CACHE_SIZE = 65_536


@dataclass(frozen=True, slots=True)
class TokenSigner:
    secret: str
    _verified: OrderedDict[str, dict[str, Any]] = field(
        default_factory=OrderedDict, init=False, repr=False, compare=False
    )

    def sign(self, typ: str, subject: str, ttl_seconds: int, **claims: Any) -> tuple[str, int]:
        """Return the token and its expiry (Unix seconds)."""
        now = int(time.time())
        exp = now + ttl_seconds
        payload = {"iss": ISSUER, "typ": typ, "sub": subject, "iat": now, "exp": exp, **claims}
        return jwt.encode(payload, self.secret, algorithm=ALGORITHM), exp

    def verify(self, token: str, typ: str) -> dict[str, Any]:
        """Claims of a valid, unexpired token of kind ``typ``; Unauthorized otherwise."""
        known = self._verified.get(token)
        if known is not None:
            if known["exp"] <= time.time():
                raise Unauthorized("token has expired")
            if known["typ"] != typ:
                raise Unauthorized(f"not a {typ} token")
            return dict(known)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "typ", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token has expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("token is invalid") from None
        if not isinstance(claims.get("exp"), int | float):
            raise Unauthorized("token is invalid")
        self._verified[token] = dict(claims)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        if claims.get("typ") != typ:
            raise Unauthorized(f"not a {typ} token")
        return claims
