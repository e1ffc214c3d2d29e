"""Use case: issue guest identities and resolve bearer tokens to users."""

from __future__ import annotations

from typing import Protocol

from ticketmaster.domain.ids import new_id
from ticketmaster.services.ports import Signer

ACCESS = "access"


class UserRepository(Protocol):
    async def add_guest(self, user_id: str) -> None: ...


async def issue_guest(users: UserRepository, signer: Signer, ttl_seconds: int) -> tuple[str, str]:
    """Create a guest user durably and return (bearer token, user id)."""
    user_id = new_id("usr")
    await users.add_guest(user_id)
    token, _ = signer.sign(ACCESS, user_id, ttl_seconds)
    return token, user_id


def authenticate(signer: Signer, token: str) -> str:
    """The user id behind a bearer token (raises Unauthorized)."""
    return str(signer.verify(token, ACCESS)["sub"])
