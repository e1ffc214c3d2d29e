"""Apply the versioned schema migrations (Alembic) to a database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import ticketmaster

MIGRATIONS_DIR = Path(ticketmaster.__file__).parent / "migrations"


def sqlalchemy_url(database_url: str) -> str:
    """Turn a libpq-style URL into the asyncpg dialect URL SQLAlchemy expects."""
    scheme, rest = database_url.split("://", 1)
    if scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"not a PostgreSQL URL: {database_url}")
    return f"postgresql+asyncpg://{rest}"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is interpolation syntax in Alembic's config parser.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    """Bring the schema to the newest revision; safe to run concurrently."""
    command.upgrade(alembic_config(database_url), "head")


def current_revision(database_url: str) -> str | None:
    """The revision the database is at, or None on an empty database."""
    import asyncio

    import asyncpg

    async def read() -> str | None:
        conn = await asyncpg.connect(database_url)
        try:
            exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
            if not exists:
                return None
            value: str | None = await conn.fetchval("SELECT version_num FROM alembic_version")
            return value
        finally:
            await conn.close()

    return asyncio.run(read())
