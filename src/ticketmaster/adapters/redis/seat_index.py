"""Reading an event's availability index as scripts/seat_state.lua stores it, to check it
against the seat states (domain/availability.py) and to rebuild rows that disagree."""

from __future__ import annotations

from collections.abc import Sequence

from ticketmaster.adapters.redis.client import RedisClient
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.lua import load_script
from ticketmaster.domain.availability import RowProblem, StoredRow, problems
from ticketmaster.domain.layout import RankedRow

SPAN = 2**24
"""seat_state.lua's SPAN: a fits member "<count>:<row>" scores count * 2 * SPAN, plus SPAN
when every choice of that count strands a seat, plus the row's index."""
ROWS_PER_CALL = 500


def _decode(
    raw_rows: dict[str, str], fits: list[tuple[str, float]], due: list[tuple[str, float]]
) -> tuple[dict[int, StoredRow], dict[str, int]]:
    """(row index -> stored row, seat-id prefix -> row index) from the raw index keys."""
    index_of = {field[1:]: int(value) for field, value in raw_rows.items() if field.startswith("#")}
    prefixes = {int(field[1:]): value for field, value in raw_rows.items() if field.startswith("@")}
    copies = {int(field[1:]): value for field, value in raw_rows.items() if field.startswith("=")}
    summaries: dict[int, dict[int, bool]] = {}
    for member, score in fits:
        count, _, index = member.partition(":")
        clean = int(score) - int(count) * 2 * SPAN < SPAN
        summaries.setdefault(int(index), {})[int(count)] = clean
    dues = {int(member): int(score) for member, score in due}
    stored = {
        int(field): StoredRow(
            prefix=prefixes.get(int(field), ""),
            values=tuple(int(v) for v in value.split(",") if v),
            fits=summaries.get(int(field), {}),
            due=dues.get(int(field)),
            copy=copies.get(int(field)),
        )
        for field, value in raw_rows.items()
        if field.isdigit()
    }
    return stored, index_of


def _pairs(flat: list[str]) -> list[tuple[str, str]]:
    """[(field, value), ...] of a flat HGETALL or ZRANGE WITHSCORES reply."""
    return list(zip(flat[::2], flat[1::2], strict=True))


class IndexReader:
    """Checks an event's availability index against its seat states, both read with Redis's
    clock in one step by index_read.lua: on one node or a Redis Cluster alike."""

    def __init__(self, client: RedisClient, keys: RedisKeys) -> None:
        self._keys = keys
        self._read = client.register_script(load_script("index_read.lua"))

    async def problems(self, event_id: str, rows: Sequence[RankedRow]) -> dict[int, RowProblem]:
        """Row index -> what is wrong, for each row of the event's index that disagrees with
        the seat states."""
        k = self._keys
        keys = [k.seats(event_id), k.seat_rows(event_id), k.row_fits(event_id), k.row_due(event_id)]
        states, raw_rows, fits, due, now_ms = await self._read(keys=keys)
        stored, index_of = _decode(
            dict(_pairs(raw_rows)),
            [(member, float(score)) for member, score in _pairs(fits)],
            [(member, float(score)) for member, score in _pairs(due)],
        )
        return problems(rows, dict(_pairs(states)), stored, index_of, int(now_ms))
