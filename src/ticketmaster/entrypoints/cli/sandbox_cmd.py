"""``ticketmaster sandbox``: run the local payment provider as its own HTTP process."""

from __future__ import annotations

import argparse
from pathlib import Path

from ticketmaster.config import Settings
from ticketmaster.sandbox.config import (
    DEFAULT_HANG_SECONDS,
    DEFAULT_PORT,
    DEFAULT_SETTLE_SECONDS,
    LATENCY_ENV,
    latency_from_env,
    parse_latency,
)

HELP = (
    "Run the local Stripe-like payment sandbox (idempotency keys, latency, test tokens "
    "tok_visa, tok_chargeDeclined, tok_timeout, tok_error), with Stripe-compatible "
    "PaymentIntent endpoints for the Stripe adapter (more test tokens: see README)."
)


def _latency(raw: str) -> tuple[int, int]:
    try:
        return parse_latency(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on ({DEFAULT_PORT})")
    parser.add_argument(
        "--latency-ms",
        type=_latency,
        metavar="MIN:MAX",
        help=f"uniform per-request processing latency in ms (default: ${LATENCY_ENV}, else 100:1000)",
    )
    parser.add_argument(
        "--hang-seconds",
        type=float,
        default=DEFAULT_HANG_SECONDS,
        help=f"how long tok_timeout's first attempt hangs ({DEFAULT_HANG_SECONDS:g})",
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=DEFAULT_SETTLE_SECONDS,
        help=f"how long a tok_processing PaymentIntent stays processing ({DEFAULT_SETTLE_SECONDS:g})",
    )
    parser.add_argument(
        "--ledger",
        type=Path,
        metavar="FILE",
        help="append-only JSON-lines journal, reloaded at start (default: in memory, lost on exit)",
    )


def sandbox(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from ticketmaster.sandbox.app import create_sandbox_app

    try:
        low, high = args.latency_ms or latency_from_env()
    except ValueError as exc:
        raise SystemExit(f"ticketmaster sandbox: {exc}") from None
    app = create_sandbox_app(
        latency_min_ms=low,
        latency_max_ms=high,
        hang_seconds=args.hang_seconds,
        ledger_path=args.ledger,
        settle_seconds=args.settle_seconds,
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        # Hanging tok_timeout requests must not hold a shutdown for their full hang.
        timeout_graceful_shutdown=2,
    )
    uvicorn.Server(config).run()
    return 0
