"""`ticketmaster import` and `seed` as an operator runs them: a real process on the real DB."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests import factories, fleet
from tests.conftest import free_port, single_node
from tests.snapshots import dump_tables
from ticketmaster.adapters.redis.keys import RedisKeys


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(server_env: dict[str, str]) -> Any:
    async def run(*args: str) -> Result:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ticketmaster.entrypoints.cli.main",
            *args,
            env={**os.environ, **server_env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode(), err.decode())

    return run


def write(tmp_path: Path, data: Any, name: str = "catalog.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def catalog() -> dict[str, Any]:
    v = factories.venue(city="Oslo", sections=2, rows=2, seats=10)
    return {
        "venues": [v],
        "events": [factories.event(v, title="Aurora Live"), factories.event(v, title="Nordic Strings")],
    }


async def preloaded(pool: asyncpg.Pool) -> dict[str, Any]:
    data = catalog()
    await factories.load(pool, data)
    return data


async def test_a_good_file_is_imported(cli: Any, tmp_path: Path, pool: asyncpg.Pool) -> None:
    data = catalog()

    result = await cli("import", str(write(tmp_path, data)))

    assert result.returncode == 0, result.stderr
    assert "venues: 1, new seats: 40, events written: 2, unchanged: 0" in result.stdout
    titles = {r["title"] for r in await pool.fetch("SELECT title FROM events")}
    assert titles == {"Aurora Live", "Nordic Strings"}
    assert await pool.fetchval("SELECT count(*) FROM seats") == 40


async def test_importing_the_same_file_twice_changes_nothing(
    cli: Any, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    path = write(tmp_path, catalog())
    first = await cli("import", str(path))
    assert first.returncode == 0, first.stderr
    before = await dump_tables(pool)

    second = await cli("import", str(path))

    assert second.returncode == 0, second.stderr
    assert "venues: 0, new seats: 0, events written: 0, unchanged: 2" in second.stdout
    assert await dump_tables(pool) == before


async def test_an_import_tells_the_running_processes_and_says_so_when_it_cannot(
    server_env: dict[str, str], tmp_path: Path, pool: asyncpg.Pool, redis_client: Any, namespace: str
) -> None:
    generation = RedisKeys(namespace).catalog_generation()
    path = write(tmp_path, catalog())
    told = await fleet.cli(server_env, "import", str(path))
    assert told.returncode == 0, told.stderr
    announced = await redis_client.get(generation)
    assert announced is not None

    dead_redis = {**server_env, **single_node(f"redis://127.0.0.1:{free_port()}/0")}
    again = await fleet.cli(dead_redis, "import", str(path))

    assert again.returncode == 1
    assert "the import is written, but Redis could not be told" in again.stderr
    assert "unchanged: 2" in again.stdout
    assert await redis_client.get(generation) == announced
    assert await pool.fetchval("SELECT count(*) FROM events") == 2


def _bad_currency(data: dict[str, Any]) -> None:
    data["events"][1]["priceTiers"][0]["currency"] = "usd"


def _zero_seats(data: dict[str, Any]) -> None:
    data["venues"][0]["sections"][1]["rows"][0]["seats"] = 0


def _unknown_venue(data: dict[str, Any]) -> None:
    data["events"][0]["venueId"] = "ven_nowhere"


def _layout_change(data: dict[str, Any]) -> None:
    data["venues"][0]["sections"][0]["rows"][0]["seats"] = 11


def _wild_rotation(data: dict[str, Any]) -> None:
    data["venues"][0]["sections"][1]["geometry"] = {"x": 0, "y": 0, "rotation": 720}


def _unknown_stage_field(data: dict[str, Any]) -> None:
    data["venues"][0]["stage"] = {"x": 0, "y": 0, "width": 10, "height": 4, "depth": 2}


@pytest.mark.parametrize(
    ("spoil", "path"),
    [
        (_bad_currency, "events[1].priceTiers[0].currency"),
        (_zero_seats, "venues[0].sections[1].rows[0].seats"),
        (_unknown_venue, "events[0].venueId"),  # found only against the database
        (_layout_change, "venues[0].sections"),  # found only against the database
        (_wild_rotation, "venues[0].sections[1].geometry.rotation"),
        (_unknown_stage_field, "venues[0].stage.depth"),
    ],
)
async def test_a_malformed_file_is_refused_whole_naming_the_field(
    cli: Any, tmp_path: Path, pool: asyncpg.Pool, spoil: Any, path: str
) -> None:
    data = await preloaded(pool)
    data["events"][1]["title"] = "A change that must not be written"
    data["events"].append(factories.event(data["venues"][0], title="A new event that must not appear"))
    spoil(data)
    before = await dump_tables(pool)

    result = await cli("import", str(write(tmp_path, data)))

    assert result.returncode != 0
    assert path in result.stderr
    assert "nothing written" in result.stderr
    assert await dump_tables(pool) == before


async def test_a_geometry_of_nan_is_refused_in_plain_words(
    cli: Any, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    data = await preloaded(pool)
    data["venues"][0]["sections"][0]["geometry"] = {"x": 0, "y": 0, "rotation": 0}
    # Python's json reads the non-standard NaN literal; the import must not take it.
    text = json.dumps(data).replace('"rotation": 0', '"rotation": NaN')
    before = await dump_tables(pool)

    result = await cli("import", str(write(tmp_path, text)))

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "import failed, nothing written: venues[0].sections[0].geometry.rotation: "
        "must be a finite number between -360 and 360"
    )
    assert await dump_tables(pool) == before


async def test_invalid_json_is_refused_with_line_and_column(
    cli: Any, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    await preloaded(pool)
    before = await dump_tables(pool)
    text = '{"venues": [\n  {"id": "ven_1",, "name": "Arena"}\n]}\n'

    result = await cli("import", str(write(tmp_path, text)))

    assert result.returncode != 0
    assert "line 2 column 18" in result.stderr
    assert await dump_tables(pool) == before


async def test_a_file_that_is_not_utf8_is_refused_cleanly(
    cli: Any, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    before = await dump_tables(pool)
    path = tmp_path / "latin1.json"
    path.write_bytes('{"venues": [], "events": [{"title": "Café"}]}'.encode("latin-1"))

    result = await cli("import", str(path))

    assert result.returncode == 1
    assert "not UTF-8" in result.stderr
    assert "Traceback" not in result.stderr
    assert await dump_tables(pool) == before


async def test_a_missing_file_is_refused(cli: Any, tmp_path: Path, pool: asyncpg.Pool) -> None:
    before = await dump_tables(pool)

    result = await cli("import", str(tmp_path / "nope.json"))

    assert result.returncode != 0
    assert "nope.json" in result.stderr
    assert await dump_tables(pool) == before


async def test_seeding_the_demo_catalog(cli: Any, pool: asyncpg.Pool) -> None:
    result = await cli("seed", "--demo", "--events", "20")

    assert result.returncode == 0, result.stderr
    assert "events written: 20" in result.stdout
    assert await pool.fetchval("SELECT count(*) FROM events") == 20
    assert await pool.fetchval("SELECT count(*) FROM venues") >= 3
    assert await pool.fetchval(
        "SELECT max(seats) FROM (SELECT count(*) AS seats FROM seats GROUP BY venue_id) s"
    ) >= (50_000)
