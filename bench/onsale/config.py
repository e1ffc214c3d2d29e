"""The on-sale benchmark's options: one dataclass, filled from the command line."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class OnSaleConfig:
    buyers: int = 20_000
    seats: int = 5_000
    url: str | None = None
    event_id: str | None = None
    api_processes: int = 1
    worker_processes: int = 1
    lead_s: float = 10.0
    prequeue_share: float = 0.3
    arrival_s: float = 20.0
    poll_s: float = 2.0
    best_share: float = 0.5
    front_bias: float = 0.6
    max_retries: int = 3
    abandon_share: float = 0.15
    decline_share: float = 0.1
    think_s: tuple[float, float] = (0.3, 1.5)
    hold_ttl_s: int = 15
    payment_latency_ms: str = "100:1000"
    connections: int = 96
    max_s: float = 600.0
    seed: int = 1
    chaos: tuple[str, ...] = ()
    out: Path = Path("onsale-report")
    plots: bool = True
    database_url: str | None = None
    redis_url: str | None = None
    own_engines: bool = False
    progress: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)


def _share(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be a share between 0 and 1")
    return value


def _range(raw: str) -> tuple[float, float]:
    low, _, high = raw.partition(":")
    try:
        pair = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError("must be MIN:MAX seconds") from None
    if not 0 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError("must satisfy 0 <= MIN <= MAX")
    return pair


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = OnSaleConfig()
    a = parser.add_argument
    a("--buyers", type=int, default=d.buyers, help=f"simulated buyers ({d.buyers})")
    a("--seats", type=int, default=d.seats, help=f"seats of the event's venue ({d.seats})")
    a(
        "--url",
        help="an already running system (http://host:port): the event is imported and audited with "
        "this shell's TICKETMASTER_* settings, which must name that system's engines",
    )
    a("--api-processes", type=int, default=d.api_processes, help="`serve --workers N` (1)")
    a("--worker-processes", type=int, default=d.worker_processes, help="`worker` processes (1)")
    a("--lead", dest="lead_s", type=float, default=d.lead_s, help="s from the start to onSaleAt (10)")
    a("--prequeue-share", type=_share, default=d.prequeue_share, help="buyers joining before onSaleAt (0.3)")
    a(
        "--arrival",
        dest="arrival_s",
        type=float,
        default=d.arrival_s,
        help="s over which the rest arrive (20)",
    )
    a("--poll", dest="poll_s", type=float, default=d.poll_s, help="queue status poll interval, s (2)")
    a("--best-share", type=_share, default=d.best_share, help="holds asking for best available (0.5)")
    a(
        "--front-bias",
        type=_share,
        default=d.front_bias,
        help="how strongly buyers prefer front sections (0.6)",
    )
    a("--retries", dest="max_retries", type=int, default=d.max_retries, help="other seats after a 409 (3)")
    a("--abandon-share", type=_share, default=d.abandon_share, help="buyers who let the hold expire (0.15)")
    a("--decline-share", type=_share, default=d.decline_share, help="first payments declined (0.1)")
    a("--think", dest="think_s", type=_range, default=d.think_s, help="think time MIN:MAX s (0.3:1.5)")
    a("--hold-ttl", dest="hold_ttl_s", type=int, default=d.hold_ttl_s, help="hold TTL of the system, s (15)")
    a(
        "--payment-latency",
        dest="payment_latency_ms",
        default=d.payment_latency_ms,
        help="sandbox ms (100:1000)",
    )
    a("--connections", type=int, default=d.connections, help="client connections (96)")
    a("--max-seconds", dest="max_s", type=float, default=d.max_s, help="give up after (600)")
    a("--seed", type=int, default=d.seed, help="random seed (1)")
    a(
        "--chaos",
        action="append",
        default=[],
        metavar="FAULT",
        help="redis-kill@T, worker-kill@T, api-kill@T, pg-restart@T (s after onSaleAt) or "
        "payment-outage@T1-T2; repeatable. Faults need engines the harness owns (started for them)",
    )
    a("--out", type=Path, default=d.out, help="report directory (onsale-report)")
    a("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    a("--no-progress", dest="progress", action="store_false", help="no progress bar")
    a(
        "--own-engines",
        action="store_true",
        help="start a redis-server and a PostgreSQL of the harness's own even without faults",
    )


def from_args(args: argparse.Namespace) -> OnSaleConfig:
    names = {f.name for f in fields(OnSaleConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values["chaos"] = tuple(values.get("chaos") or ())
    values["database_url"] = os.environ.get("TICKETMASTER_DATABASE_URL") or None
    values["redis_url"] = os.environ.get("TICKETMASTER_REDIS_URL") or None
    return OnSaleConfig(**values)
