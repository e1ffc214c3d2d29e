"""``ticketmaster bench ...`` and ``ticketmaster simulate``: thin front ends of the
repository's top-level ``bench`` package (the on-sale harness and the on-sale model).

``bench`` is a second top-level package of the same distribution (``pyproject.toml``), so
the editable install that ``make`` makes imports it from the checkout. An install without it
(a wheel built with only ``ticketmaster``) makes these commands say so and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from types import ModuleType

from ticketmaster.config import Settings

BENCH_HELP = "Benchmarks of the whole system: `bench onsale` (buyers against an on-sale, with faults)."
ONSALE_HELP = (
    "Sign up N buyers, import an event of S seats with a waiting room opening --lead s later, let "
    "the buyers queue, read the map, hold (best available or front-biased seats, retrying 409s), "
    "pay (some declined, then retried) or abandon, until every seat is SOLD; inject --chaos faults; "
    "then run `ticketmaster audit`. Writes report.json, report.md and PNG plots into --out; exits 1 "
    "when the audit or a consistency check fails. Without --url it starts the system itself (engines "
    "from TICKETMASTER_DATABASE_URL/REDIS_URL, with a fresh database and namespace, or of its own)."
)
SIMULATE_HELP = (
    "Discrete-event model of an on-sale whose service times are the measured per-request costs "
    "(bench/costs.json): queue waits, sell-out time, utilisation and the smallest fleet meeting the SLOs."
)


def _bench(module: str) -> ModuleType | None:
    """``bench.<module>``, or None when this install has no ``bench`` package."""
    try:
        return importlib.import_module(f"bench.{module}")
    except ImportError:
        return None


def _missing(args: argparse.Namespace, settings: Settings) -> int:
    print(
        "ticketmaster: this command needs the repository's bench package: install the checkout "
        "(make does, editable)",
        file=sys.stderr,
    )
    return 2


def _run_onsale(args: argparse.Namespace, settings: Settings) -> int:
    config, run = _bench("onsale.config"), _bench("onsale.run")
    assert config is not None
    assert run is not None
    return int(run.run(config.from_args(args)))


def _run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    simulate = _bench("simulate")
    assert simulate is not None
    return int(simulate.main_from_args(args))


def add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser("bench", help=BENCH_HELP, description=BENCH_HELP)
    kinds = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    onsale = kinds.add_parser(
        "onsale",
        help="N buyers against an event of S seats until sold out; faults; audit",
        description=ONSALE_HELP,
    )
    config = _bench("onsale.config")
    _wire(onsale, config, lambda m: m.add_arguments, _run_onsale)


def add_simulate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = _bench("simulate")
    p = sub.add_parser(
        "simulate",
        help=SIMULATE_HELP,
        description=SIMULATE_HELP,
    )
    _wire(p, simulate, lambda m: m.add_arguments, _run_simulate)


def _wire(
    parser: argparse.ArgumentParser,
    module: ModuleType | None,
    adder: Callable[[ModuleType], Callable[[argparse.ArgumentParser], None]],
    func: Callable[[argparse.Namespace, Settings], int],
) -> None:
    if module is None:
        parser.set_defaults(func=_missing)
        return
    adder(module)(parser)
    parser.set_defaults(func=func)
