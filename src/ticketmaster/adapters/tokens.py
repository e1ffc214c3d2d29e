"""Signed tokens (JWT, HS256 pinned): buyer sessions, queue tickets, admission passes.

Each token carries ``typ`` so one kind can never stand in for another, and is verified
with the algorithm pinned: a token re-signed with ``none`` or RS256 is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from ticketmaster.domain.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "ticketmaster"


@dataclass(frozen=True, slots=True)
class TokenSigner:
    secret: str

    def sign(self, typ: str, subject: str, ttl_seconds: int, **claims: Any) -> tuple[str, int]:
        """Return the token and its expiry (Unix seconds)."""
        now = int(time.time())
        exp = now + ttl_seconds
        payload = {"iss": ISSUER, "typ": typ, "sub": subject, "iat": now, "exp": exp, **claims}
        return jwt.encode(payload, self.secret, algorithm=ALGORITHM), exp

    def verify(self, token: str, typ: str) -> dict[str, Any]:
        """Claims of a valid, unexpired token of kind ``typ``; Unauthorized otherwise."""
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
        if claims.get("typ") != typ:
            raise Unauthorized(f"not a {typ} token")
        return claims
