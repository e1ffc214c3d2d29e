"""A short on-sale through ``ticketmaster bench onsale``, with a worker killed mid-sale:
buyers queue, are admitted, race for seats, pay (some declined first) or abandon, until the
event is sold out, and the audit passes. Asserts the outcome, never timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SEATS = 120
CLI = [sys.executable, "-m", "ticketmaster.entrypoints.cli.main"]


@pytest.mark.timeout(400)
def test_a_short_onsale_with_a_worker_killed_sells_out_once_and_passes_the_audit(
    engine_urls: tuple[str, str], tmp_path: Path
) -> None:
    database_url, redis_url = engine_urls
    out = tmp_path / "report"
    env = {
        **os.environ,
        "TICKETMASTER_DATABASE_URL": database_url,
        "TICKETMASTER_REDIS_URL": redis_url,
        "TICKETMASTER_DATA_DIR": str(tmp_path / "data"),
        "TICKETMASTER_LOG_LEVEL": "WARNING",
    }
    args = ["--buyers", "480", "--seats", str(SEATS), "--lead", "2", "--arrival", "3", "--hold-ttl", "6"]
    args += ["--payment-latency", "20:200", "--chaos", "worker-kill@2", "--no-plots", "--no-progress"]
    done = subprocess.run(
        [*CLI, "bench", "onsale", *args, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=390,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["audit"]["exit"] == 0, report["audit"]["output"]
    # Half the buyers ask for best available (the default mix), so the harness must see it.
    assert report["best_available_used"] is True
    checks = report["checks"]
    assert checks["sold_out"], checks
    assert checks["seats_sold_on_map"] == SEATS
    # Every SOLD seat was bought by exactly one buyer, as the buyers themselves saw it.
    assert checks["seats_bought_by_buyers"] == SEATS
    assert checks["bought_twice"] == []
    assert report["outcomes"].get("bought", 0) > 0
    assert report["expiry"]["abandoned_holds"] > 0
    (fault,) = report["chaos"]
    assert fault["fault"] == "worker-kill"
    assert fault["recovery_s"] is not None, "no purchase succeeded after the worker was replaced"
    per = report["timeline"]["per_second"]
    # Every hold is sent after the opening: the timeline's sends per second add up to them all.
    assert sum(per["sent_hold"]) == report["endpoints"]["hold"]["requests"]
    assert len(per["connection_wait_p50_ms"]) == len(per["hold_201"])
    # The monitor (on its own connection) sampled the sale.
    assert report["endpoints"]["monitor"]["requests"] > 0
    assert (out / "report.md").read_text().startswith("# On-sale")
