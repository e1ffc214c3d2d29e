"""The ``ticketmaster`` command line: one entry point, one sub-command per operator task."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType

from ticketmaster import logs
from ticketmaster.config import ConfigError, Settings
from ticketmaster.entrypoints.cli import bench_cmd, commands, sandbox_cmd


def _sigterm_as_exit(signum: int, frame: FrameType | None) -> None:
    # Unwind normally on SIGTERM so embedded engines are stopped, as on Ctrl-C.
    raise SystemExit(128 + signum)


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


INTERNAL_PORT_HELP = (
    "With TICKETMASTER_INTERNAL_PORT=P (on TICKETMASTER_INTERNAL_HOST, default 127.0.0.1) every "
    "API process also listens on port P, which alone serves /metrics and the API docs (/docs, "
    "/redoc, /openapi.json): on the public port they answer 404. Unset: all on the public port."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ticketmaster",
        description="Ticketing back end. Without TICKETMASTER_DATABASE_URL/REDIS_URL every "
        "command starts embedded PostgreSQL and Valkey under TICKETMASTER_DATA_DIR.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace, Settings], int], help_: str, epilog: str | None = None
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, epilog=epilog)
        p.set_defaults(func=func)
        return p

    run = add(
        "run",
        commands.run,
        "Start everything: engines, migrations, demo data when the "
        "database is empty, the payment sandbox, the worker and the API (Ctrl-C stops it all).",
        INTERNAL_PORT_HELP,
    )
    serve = add(
        "serve", commands.serve, "Serve the HTTP API only (schema must be migrated).", INTERNAL_PORT_HELP
    )
    for p in (run, serve):
        p.add_argument(
            "--workers",
            type=_positive_int,
            default=None,
            metavar="N",
            help="API processes sharing the port (default: $TICKETMASTER_WEB_CONCURRENCY, else 1); "
            "a process that dies is replaced, SIGTERM/Ctrl-C stops them all, /metrics covers all"
            + (" (each also runs the background jobs)" if p is run else ""),
        )
    run.add_argument(
        "--local-cluster",
        action="store_true",
        help="run on a fresh local Redis Cluster of 3 primaries and 3 replicas (redis-server and "
        "redis-cli on PATH, else the embedded Valkey's) instead of the embedded Valkey, as with "
        "TICKETMASTER_REDIS_CLUSTER=true; it is stopped and removed on exit (`make run-cluster`)",
    )
    worker = add(
        "worker",
        commands.worker,
        "Run every background job: purchase processing, hold expiry (listener and sweepers), "
        "periodic reconcile and the waiting-room admission ticker; safe to run several at once.",
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve this worker's Prometheus metrics (expiry lag, purchases, admissions) on "
        "http://HOST:PORT/metrics (off by default; under `run` the jobs share the API's /metrics)",
    )
    worker.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port (127.0.0.1)")
    add(
        "reconcile",
        commands.reconcile,
        "Heal drift between Redis and PostgreSQL for every live event; prints each fix.",
    )
    audit = add(
        "audit",
        commands.audit,
        "Check invariants I1-I5 across PostgreSQL, Redis and the payment ledger; exits 1 on a violation.",
    )
    audit.add_argument(
        "--grace", type=float, default=5.0, help="seconds an expired hold may take to be released (5)"
    )
    add("migrate", commands.migrate, "Apply the versioned schema migrations.")
    imp = add(
        "import",
        commands.import_file,
        "Import venues and events from a JSON file (all-or-nothing, idempotent).",
    )
    imp.add_argument("file", help="path of the import file (format: API.md, 'Import file')")
    seed = add("seed", commands.seed, "Load the deterministic demo catalog.")
    seed.add_argument(
        "--demo", action="store_true", required=True, help="load the demo catalog (the only seed there is)"
    )
    seed.add_argument("--events", type=int, default=240, help="number of demo events (240)")
    sandbox_cmd.add_arguments(add("sandbox", sandbox_cmd.sandbox, sandbox_cmd.HELP))
    bench_cmd.add_bench(sub)
    bench_cmd.add_simulate(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"ticketmaster: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    signal.signal(signal.SIGTERM, _sigterm_as_exit)
    try:
        return int(args.func(args, settings))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
