"""``ticketmaster sandbox`` as a process of the test's own, for the sandbox and Stripe-adapter tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port
from ticketmaster.processes import end_process

HANG_SECONDS = 3


class Sandbox:
    """``ticketmaster sandbox`` on a free port; ``stop`` then ``start`` again keeps the ledger file."""

    def __init__(
        self, data_dir: Path, *, latency: str = "0:5", ledger: Path | None = None, settle_seconds: float = 1.0
    ) -> None:
        self.data_dir = data_dir
        self.latency = latency
        self.ledger = ledger
        self.settle_seconds = settle_seconds
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Sandbox:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        args = ["--port", str(port), "--latency-ms", self.latency, "--hang-seconds", str(HANG_SECONDS)]
        args += ["--settle-seconds", str(self.settle_seconds)]
        if self.ledger is not None:
            args += ["--ledger", str(self.ledger)]
        env = {**os.environ, "TICKETMASTER_DATA_DIR": str(self.data_dir), "TICKETMASTER_LOG_LEVEL": "WARNING"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ticketmaster.entrypoints.cli.main", "sandbox", *args], env=env
        )
        deadline = time.monotonic() + 60  # generous: a loaded CI machine imports slowly
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"sandbox exited with {self._process.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError("sandbox did not answer /healthz")

    def stop(self) -> None:
        end_process(self._process)
