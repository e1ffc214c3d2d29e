"""Web seat map benchmark: the 52,000-seat stadium in headless Chromium.

Setup as bench.holds (a fresh deployment with its worker; the bench event at the demo
stadium, no waiting room). Per round, a fresh browser context (empty cache) opens
``/e/<bench event>`` and reads the page's own figures (``window.__seatmapStats``, set by
static/js/seatmap/renderer.js and shop.js):

- first paint: from navigation start to the end of the first frame of the map (page,
  modules, event, the whole seat map fetched and parsed, the model built, the drawing);
  beside it, the same for a 600-seat club event of the demo: the baseline of the round;
- a burst of ``--burst`` seat changes: distinct buyers hold 8 seats each at once over the
  API; the stream delivers them in a message or a few (one per 200 ms poll). "busy" is
  the page's work for them: per message, handling (parse, apply to the model, the seat
  list) plus the frame that repaints the changed seats; "wall" runs from the first
  message's arrival to the end of the frame showing the last change. Once zoomed out
  (sections repainted) and once zoomed into one section (seats repainted), with all
  the burst's seats in that section.

Goal (issue 14): first paint < 1 s, a 500-change burst applied < 100 ms.

Example: ``.venv/bin/python -m bench.web_map --rounds 5``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.async_api import Browser, Page, async_playwright

from bench.browser import CHROMIUM, launch
from bench.holds import EVENT_ID, SEATS_PER_ROW, SECTIONS, stadium_deployment
from bench.sut import add_target_arguments

ROWS = [*"ABCDEFGHJKLMNPQRSTUVWXYZ", "AA", "AB"]  # the demo stadium's 26 rows
HOLD_SIZE = 8  # the per-buyer limit: one buyer, one hold of 8 seats
FIRST_PAINT = "() => window.__seatmapStats && window.__seatmapStats.firstPaintMs !== null"
BATCHES = "(from) => window.__seatmapStats.batches.slice(from)"
NEXT_FRAME = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
APPLIED = "([from, n]) => window.__seatmapStats.batches.slice(from).reduce((s, b) => s + b.applied, 0) >= n"


def _spread_seats(round_no: int, count: int) -> list[str]:
    """``count`` seats over sections 11..40, in seat-number column ``round_no + 1``."""
    sections = range(11, SECTIONS + 1)
    seats = [f"s{s:02d}-{row}-{round_no + 1}" for row in ROWS for s in sections]
    return seats[:count]


def _section_seats(section: int, count: int) -> list[str]:
    """``count`` seats of one section, row by row."""
    return [f"s{section:02d}-{row}-{n}" for row in ROWS for n in range(1, SEATS_PER_ROW + 1)][:count]


async def _hold_all(http: httpx.AsyncClient, tokens: Iterator[str], seats: list[str]) -> None:
    chunks = [seats[i : i + HOLD_SIZE] for i in range(0, len(seats), HOLD_SIZE)]

    async def one(chunk: list[str], token: str) -> None:
        response = await http.post(
            f"/events/{EVENT_ID}/holds",
            json={"seatIds": chunk},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"web-{chunk[0]}"},
        )
        if response.status_code != 201:
            raise RuntimeError(f"hold refused: {response.status_code} {response.text}")

    await asyncio.gather(*(one(chunk, next(tokens)) for chunk in chunks))


async def _burst(
    page: Page, http: httpx.AsyncClient, tokens: Iterator[str], seats: list[str]
) -> dict[str, float]:
    start = await page.evaluate("window.__seatmapStats.batches.length")
    await _hold_all(http, tokens, seats)
    await page.wait_for_function(APPLIED, arg=[start, len(seats)], timeout=30_000)
    batches: list[dict[str, Any]] = await page.evaluate(BATCHES, start)
    busy = sum(b["handleMs"] + b["drawMs"] for b in batches)
    wall = max(b["t0"] + b["ms"] for b in batches) - min(b["t0"] for b in batches)
    return {"busy": busy, "wall": wall, "messages": len(batches)}


@dataclass(frozen=True, slots=True)
class Opened:
    page: Page
    first_paint_ms: float  # navigation start to the end of the map's first frame
    data_ms: float  # navigation start to the seat map downloaded and parsed
    seats: int


async def _open(browser: Browser, base: str, path: str) -> Opened:
    context = await browser.new_context(base_url=base, viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    await page.goto(path)
    await page.wait_for_function(FIRST_PAINT, timeout=30_000)
    first = float(await page.evaluate("window.__seatmapStats.firstPaintMs"))
    data = float(await page.evaluate("performance.getEntriesByName('seatmap-data')[0].startTime"))
    seats = int(await page.evaluate("window.__seatmapStats.seats"))
    return Opened(page, first, data, seats)


async def _club_event(http: httpx.AsyncClient) -> str:
    """A demo event at a 600-seat club without a waiting room (the baseline page)."""
    page = (await http.get("/events", params={"city": "Austin", "limit": 50})).json()
    for summary in page["events"]:
        event = (await http.get(f"/events/{summary['id']}")).json()
        if not event["waitingRoom"]:
            return str(event["id"])
    raise RuntimeError("no club event without a waiting room in the demo catalog")


async def _run(base: str, tokens: list[str], args: argparse.Namespace) -> list[dict[str, float]]:
    rows: list[dict[str, float]] = []
    token_iter = iter(tokens)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http, async_playwright() as p:
        club = await _club_event(http)
        seat_map = (await http.get(f"/events/{EVENT_ID}/seats")).raise_for_status().json()
        names = {section["id"]: section["name"] for section in seat_map["sections"]}
        browser = await launch(p, args.chromium)
        try:
            for r in range(args.rounds):
                stadium = await _open(browser, base, f"/e/{EVENT_ID}")
                page = stadium.page
                if stadium.seats != len(ROWS) * SEATS_PER_ROW * SECTIONS:
                    raise RuntimeError(f"the bench event has {stadium.seats} seats, not the stadium's")
                await page.wait_for_selector('#map-stage[data-live="live"]')
                out = await _burst(page, http, token_iter, _spread_seats(r, args.burst))
                section = 3 + r
                await page.get_by_role("button", name=f"{names[f's{section:02d}']} — ").click()
                await page.wait_for_selector(f'[data-seat-id="s{section:02d}-A-1"]')
                await page.evaluate(NEXT_FRAME)
                zoomed = await _burst(page, http, token_iter, _section_seats(section, args.burst))
                await page.context.close()
                club_page = await _open(browser, base, f"/e/{club}")
                await club_page.page.context.close()
                row = {
                    "stadium": stadium.first_paint_ms,
                    "data": stadium.data_ms,
                    "club": club_page.first_paint_ms,
                    "busy": out["busy"],
                    "wall": out["wall"],
                    "messages": out["messages"],
                    "zbusy": zoomed["busy"],
                    "zwall": zoomed["wall"],
                    "zmessages": zoomed["messages"],
                }
                rows.append(row)
                print(
                    f"round {r + 1}: first paint {row['stadium']:.0f} ms (map data at {row['data']:.0f} ms;"
                    f" club {row['club']:.0f} ms);"
                    f" burst zoomed out busy {out['busy']:.1f} ms wall {out['wall']:.0f} ms"
                    f" in {out['messages']:.0f} msg; zoomed in busy {zoomed['busy']:.1f} ms"
                    f" wall {zoomed['wall']:.0f} ms in {zoomed['messages']:.0f} msg",
                    flush=True,
                )
        finally:
            await browser.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_target_arguments(parser)
    parser.add_argument("--rounds", type=int, default=5, help="rounds; medians are reported (5)")
    parser.add_argument("--burst", type=int, default=500, help="seat changes per burst (500)")
    parser.add_argument("--chromium", default=CHROMIUM, help=f"the browser ({CHROMIUM})")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 8:
        parser.error("--rounds must be 1..8 (each round uses fresh seats)")
    if not HOLD_SIZE <= args.burst <= 1300:
        parser.error("--burst must be 8..1300 (one section's seats)")
    holds_per_round = 2 * -(-args.burst // HOLD_SIZE)
    extra = {"TICKETMASTER_HOLD_TTL_SECONDS": "600"}
    with stadium_deployment(args, extra, holds_per_round * args.rounds) as (target, tokens):
        print(f"server: {target.description}\n")
        rows = asyncio.run(_run(target.base_url, tokens, args))

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    ratio = statistics.median(r["stadium"] / r["club"] for r in rows)
    lines = [
        ("first paint, stadium (52,000 seats)", f"{med('stadium'):7.0f} ms", "goal < 1000 ms"),
        ("  of which the map downloaded and parsed", f"{med('data'):7.0f} ms", "the rest: model and drawing"),
        ("first paint, club (600 seats)", f"{med('club'):7.0f} ms", f"baseline; stadium/club {ratio:.2f}x"),
        ("burst, zoomed out: busy", f"{med('busy'):7.1f} ms", "goal < 100 ms"),
        ("burst, zoomed out: wall", f"{med('wall'):7.0f} ms", f"over {med('messages'):.0f} message(s)"),
        ("burst, zoomed in: busy", f"{med('zbusy'):7.1f} ms", "goal < 100 ms"),
        ("burst, zoomed in: wall", f"{med('zwall'):7.0f} ms", f"over {med('zmessages'):.0f} message(s)"),
    ]
    print(f"\nmedians of {len(rows)} rounds (headless Chromium, {args.burst}-change bursts):")
    for name, value, note in lines:
        print(f"  {name:<37}{value}   {note}")
    print("busy: the page's handling + repaint of the burst's messages; wall: first arrival to last repaint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
