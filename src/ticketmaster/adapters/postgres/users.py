"""Buyer accounts (guests for now)."""

from __future__ import annotations

import asyncpg


class PostgresUserRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add_guest(self, user_id: str) -> None:
        await self._pool.execute("INSERT INTO users (id, kind) VALUES ($1, 'guest')", user_id)
