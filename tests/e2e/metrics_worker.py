"""``python -m tests.e2e.metrics_worker PORT``: ``ticketmaster worker`` that also serves its
Prometheus registry on ``127.0.0.1:PORT``.

The same settings (from the environment), the same ``worker_main`` and jobs, the same
SIGTERM handling; the only addition is the metrics endpoint, because the stock worker
process exposes none and the expiry-lag histogram is observed where a hold is released:
in the worker.
"""

from __future__ import annotations

import sys

import uvloop
from prometheus_client import start_http_server

from ticketmaster import logs
from ticketmaster.config import Settings
from ticketmaster.entrypoints.worker.runner import worker_main


def main(port: int) -> None:
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    start_http_server(port, addr="127.0.0.1")
    uvloop.run(worker_main(settings))


if __name__ == "__main__":
    main(int(sys.argv[1]))
