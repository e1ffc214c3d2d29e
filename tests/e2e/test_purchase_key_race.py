"""One Idempotency-Key names one purchase (API.md "Purchase"), even when a buyer fires it
at two holds at the same instant: one POST wins, the others get 422."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
import httpx

from tests import factories
from tests.e2e.buyers import new_buyer


async def test_concurrent_purchases_with_one_key_on_two_holds_answer_idempotency_conflict(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """One Idempotency-Key names one purchase: used for two holds at once, one POST wins
    (202) and every other gets 422 ``idempotency_conflict`` — never a unique violation."""
    v = factories.venue()
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})
    buyer = await new_buyer(http)
    auth = {"Authorization": f"Bearer {buyer.token}"}
    holds = []
    for n in range(1, 9):
        r = await http.post(
            f"/events/{e['id']}/holds",
            json={"seatIds": [f"sec0-A-{n}"]},
            headers={**auth, "Idempotency-Key": secrets.token_hex(4)},
        )
        assert r.status_code == 201, r.text
        holds.append(r.json()["holdId"])
    for round_ in range(3):
        key = f"same-{round_}-{secrets.token_hex(4)}"
        targets = holds[round_ * 2 : round_ * 2 + 2] * 4
        answers = await asyncio.gather(
            *(
                http.post(
                    f"/holds/{h}/purchase",
                    json={"paymentToken": "tok_visa"},
                    headers={**auth, "Idempotency-Key": key},
                )
                for h in targets
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert all(s in (202, 422) for s in statuses), [a.text for a in answers]
        winners = {a.json()["holdId"] for a in answers if a.status_code == 202}
        assert len(winners) == 1, [a.text for a in answers]
        for a in answers:
            if a.status_code == 422:
                assert a.json()["error"] == "idempotency_conflict", a.text
        (loser,) = set(targets) - winners
        left = await http.get(f"/holds/{loser}", headers=auth)
        assert left.json()["status"] == "ACTIVE", left.text  # nothing was written for it
        assert await pool.fetchval("SELECT count(*) FROM purchases WHERE hold_id = $1", loser) == 0
