"""Ports: the small interfaces use cases need from the outside world."""

from __future__ import annotations

from typing import Any, Protocol


class Signer(Protocol):
    def sign(self, typ: str, subject: str, ttl_seconds: int, **claims: Any) -> tuple[str, int]: ...
    def sign_until(self, typ: str, subject: str, expires_at: float, **claims: Any) -> str: ...
    def verify(self, token: str, typ: str) -> dict[str, Any]: ...
