"""deploy/alerts.yml: valid Prometheus rules whose every metric the service exports.

Each expression is parsed with a real PromQL parser (promql-parser) and every series it
selects must appear in the ``/metrics`` of a real API server or a real worker
(``--metrics-port``), scraped after some traffic. A renamed metric fails here, not in an
operator's silent alert.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerProcess, free_port
from tests.fleet import LEAN_POOL, eventually

RULES = Path(__file__).resolve().parents[2] / "deploy" / "alerts.yml"
# The series each type of metric family is exported as (prometheus-client's text format).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}
# What an operator must be warned of (issue 16, docs/deploy.md), by the metric it watches.
REQUIRED = {
    "ticketmaster_expiry_lag_seconds_bucket",
    "ticketmaster_double_sale_prevented_total",
    "ticketmaster_purchases_pending_oldest_seconds",
    "http_responses_total",
    "ticketmaster_shed_requests_total",
    "ticketmaster_replica_lag_seconds",
}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def selected(expr: str) -> set[str | None]:
    """The metric names every vector selector of ``expr`` names (None: selected by labels only)."""
    names: set[str | None] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def exported(text: str) -> set[str]:
    """Every series name a Prometheus scrape of ``text`` can see, families without samples
    yet (a label set never used) included."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


@pytest.fixture(scope="module")
def worker_metrics(server_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    worker = ServerProcess({**server_env, **LEAN_POOL}, "worker", ("--metrics-port", str(port)))
    try:
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        worker.stop()


def test_every_rule_is_complete_and_parses() -> None:
    found = rules()
    assert len({r["alert"] for r in found}) == len(found), "alert names are unique"
    for rule in found:
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["labels"]["severity"] in {"page", "warning"}, rule["alert"]
        assert None not in selected(rule["expr"]), f"{rule['alert']}: select metrics by name"
    referenced = set().union(*(selected(r["expr"]) for r in found))
    assert referenced >= REQUIRED


async def test_every_metric_an_alert_names_is_exported(http: httpx.AsyncClient, worker_metrics: str) -> None:
    for path in ("/healthz", "/events", "/events/evt_none", "/nowhere"):  # some traffic first
        await http.get(path)
    api = (await http.get("/metrics")).text

    async def scraped() -> str | None:
        try:
            response = await http.get(worker_metrics)
        except httpx.TransportError:
            return None
        return response.text if response.status_code == 200 else None

    worker = await eventually(scraped, within=30, what="the worker's metrics endpoint")
    everything = exported(api) | exported(worker)

    for rule in rules():
        missing = {name for name in selected(rule["expr"]) if name not in everything}
        assert not missing, f"{rule['alert']} names metrics nobody exports: {sorted(map(str, missing))}"
    assert "ticketmaster_expiry_lag_seconds_bucket" in exported(worker)  # observed by the worker
