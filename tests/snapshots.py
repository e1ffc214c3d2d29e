"""Whole-database snapshots, to prove that an operation wrote nothing at all."""

from __future__ import annotations

import asyncpg

Snapshot = dict[str, list[tuple[str, str]]]


async def dump_tables(pool: asyncpg.Pool) -> Snapshot:
    """Every row of every public table as (xmin, row text), sorted.

    ``xmin`` is the id of the transaction that last wrote the row, so rewriting a row with
    identical values still shows up as a difference.
    """
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        snapshot: Snapshot = {}
        for t in tables:
            name = t["tablename"]
            rows = await conn.fetch(f'SELECT xmin::text AS x, t::text AS r FROM "{name}" AS t')
            snapshot[name] = sorted((r["x"], r["r"]) for r in rows)
    return snapshot
