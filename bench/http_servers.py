"""The HTTP server under the app: uvicorn (httptools + uvloop, what ``ticketmaster serve``
runs) against Granian's embedded server (Rust HTTP, the ASGI interface, uvloop), both
serving the same app on the same deployment, alternately in one run: requests/s and the
API process's CPU µs per answer for ``GET /healthz`` and for holds (set-up as
bench.hold_cost: the stadium event, a distinct buyer and key per hold, hold TTL 3 s).

Granian is not a dependency of the project (docs/decisions/0003): ``pip install granian``
into the environment first. Example: ``.venv/bin/python -m bench.http_servers --repeat 3``
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
from collections.abc import Callable
from typing import Any

from bench.hold_cost import cpu_bench_parser, cpu_per_answer
from bench.holds import HoldRequests, hold_bench_env, stadium
from bench.http1 import build_get
from bench.loadgen import RequestSource
from bench.sut import Target

SCENARIOS = ("healthz", "holds")


def serve_granian() -> None:
    """Serve the app (as ``ticketmaster serve`` builds it, without the worker's jobs) with
    Granian's embedded server on TICKETMASTER_HOST/PORT until stopped."""
    import uvloop

    from ticketmaster import logs
    from ticketmaster.config import Settings
    from ticketmaster.entrypoints.http.app import create_app

    constants: Any = importlib.import_module("granian.constants")  # optional: see the docstring
    embed: Any = importlib.import_module("granian.server.embed")
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    server = embed.Server(
        create_app(settings),
        address=settings.host,
        port=settings.port,
        interface=constants.Interfaces.ASGI,
        http=constants.HTTPModes.http1,
        websockets=False,
        log_access=False,
        backlog=1024,
    )
    uvloop.run(server.serve())


def main() -> int:
    parser = cpu_bench_parser(__doc__, repeat=3)
    parser.add_argument("--serve-granian", action="store_true", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    if args.serve_granian:
        serve_granian()
        return 0
    try:
        importlib.import_module("granian")
    except ImportError:
        raise SystemExit(
            "granian is not installed: `pip install granian` into this environment first"
        ) from None
    per_round = 60_000
    with stadium(args, hold_bench_env(), per_round) as (sut, uvicorn, tokens):
        granian = sut.start_server(
            [sys.executable, "-m", "bench.http_servers", "--serve-granian"], "Granian (embedded, ASGI)"
        )
        servers = {"uvicorn": uvicorn, "granian": granian}
        for name, target in servers.items():
            print(f"{name}: {target.description}")
        print("\nper round: requests/s, API CPU µs per answer")
        figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round_no in range(args.repeat):
            for index, (name, target) in enumerate(servers.items()):
                seed = round_no * len(servers) + index
                sources: dict[str, RequestSource] = {
                    "healthz": [build_get(target.host, target.port, "/healthz")],
                    "holds": HoldRequests(target.host, target.port, tokens, seed, per_round),
                }
                for scenario, source in sources.items():
                    result, costs = cpu_per_answer(target, source, {"api": _pid_of(target)}, args)
                    rate = sum(result.statuses.values()) / args.duration
                    figures.setdefault((name, scenario), []).append((rate, costs["api"]))
                    print(
                        f"round {round_no + 1}  {name:<8} {scenario:<8} {rate:7.0f}/s  {costs['api']:5.0f} µs"
                    )
        print("\nmedians")
        print("| server | healthz/s | API µs per healthz | holds/s | API µs per hold |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name in servers:
            cells = []
            for scenario in SCENARIOS:
                rounds = figures[(name, scenario)]
                cells += [
                    f"{statistics.median(r for r, _ in rounds):,.0f}",
                    f"{statistics.median(c for _, c in rounds):.0f}",
                ]
            print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


def _pid_of(target: Target) -> Callable[[], list[int]]:
    assert target.pid is not None
    pid = target.pid
    return lambda: [pid]


if __name__ == "__main__":
    sys.exit(main())
