"""``/openapi.json`` against a running server.

schemathesis (its CLI, every phase: examples, coverage, fuzzing, and the stateful phase
that follows the schema's links from a seat map to a hold, its purchase and booking)
sends generated requests, valid and invalid, with a buyer's bearer token and without, to
the demo deployment (tests/e2e/demo_stack.py) and checks that no input gets a 5xx and
that every status code, content type and body answered is one the schema documents. The
seat stream never ends, so the run leaves it out and a test here checks its answers.
The default run is short (a few examples per operation); the slow variant runs longer.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.demo_stack import OPEN_EVENT, DemoStack
from ticketmaster.entrypoints.http.bodies import ErrorBody
from ticketmaster.entrypoints.http.openapi import BEARER_SCHEME

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
STREAM = "/events/{event_id}/seats/stream"
Answered = dict[tuple[str, str], set[int]]


def run_schemathesis(stack: DemoStack, report_dir: Path, *, examples: int, steps: int) -> Answered:
    """Run every phase against the stack; fail with schemathesis's report on any failure.
    Returns the status codes each documented operation answered during the run."""
    token = httpx.post(stack.url + "/auth/guest").json()["token"]
    config = report_dir / "schemathesis.toml"
    config.write_text(
        f'[auth.openapi.{BEARER_SCHEME}]\nbearer = "{token}"\n\n[phases.stateful]\nmax-steps = {steps}\n'
    )
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run"]
    command += [stack.url + "/openapi.json", "--checks", CHECKS, "--max-examples", str(examples)]
    command += ["--exclude-path", STREAM, "--request-timeout", "10", "--no-color"]
    command += ["--report", "har", "--report-dir", str(report_dir)]
    # In the report folder: schemathesis keeps its example database in the working directory.
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=report_dir)
    assert run.returncode == 0, f"schemathesis found failures:\n{run.stdout[-20_000:]}\n{run.stderr[-2_000:]}"
    return answered(stack, report_dir)


def answered(stack: DemoStack, report_dir: Path) -> Answered:
    """(method, path template) -> the statuses of its answers, from the run's HAR file."""
    spec = httpx.get(stack.url + "/openapi.json").json()
    templates = [
        (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in spec["paths"]
    ]
    [har] = report_dir.glob("har-*.json")
    statuses: Answered = defaultdict(set)
    for entry in json.loads(har.read_text())["log"]["entries"]:
        path = urlsplit(entry["request"]["url"]).path
        method = entry["request"]["method"].lower()
        for pattern, template in templates:
            if pattern.match(path) and method in spec["paths"][template]:
                statuses[(method, template)].add(entry["response"]["status"])
    return statuses


def authenticated(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") and path != STREAM
    ]


# Reached in every run: by the schema's examples, or one link away from them.
ALWAYS_SUCCEED = {
    ("get", "/events"),
    ("get", "/events/{event_id}"),
    ("get", "/events/{event_id}/seats"),
    ("post", "/events/{event_id}/holds"),
    ("post", "/auth/guest"),
    ("get", "/bookings"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_answer_of_a_running_server_is_documented(
    demo_stack: DemoStack, tmp_path: Path, run_slow: bool
) -> None:
    examples, steps = (150, 60) if run_slow else (15, 20)
    statuses = run_schemathesis(demo_stack, tmp_path, examples=examples, steps=steps)
    spec = httpx.get(demo_stack.url + "/openapi.json").json()
    never_succeeded = {op for op in ALWAYS_SUCCEED if not any(200 <= s < 300 for s in statuses.get(op, ()))}
    assert never_succeeded == set(), "the run never got past the refusals of these operations"
    never_refused = {op for op in authenticated(spec) if 401 not in statuses.get(op, ())}
    assert never_refused == set(), "schemathesis never tried these operations without a valid token"


def _documented(spec: dict[str, Any], path: str, response: httpx.Response, method: str = "get") -> None:
    """The status and content type are documented for ``path``; an error has the error body."""
    documented = spec["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, (response.status_code, sorted(documented))
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in documented[str(response.status_code)].get("content", {}), media_type
    if response.status_code >= 400:
        ErrorBody.model_validate_json(response.content)


async def test_the_seat_stream_answers_as_documented(demo_stack: DemoStack) -> None:
    async with httpx.AsyncClient(base_url=demo_stack.url, timeout=10) as http:
        spec = (await http.get("/openapi.json")).json()
        async with http.stream("GET", f"/events/{OPEN_EVENT}/seats/stream") as live:
            _documented(spec, STREAM, live)
            first = await anext(live.aiter_lines())
            assert first.startswith(("id:", "event:", "data:", ":")), first
        unknown = await http.get("/events/evt_nope/seats/stream")
        assert unknown.status_code == 404
        _documented(spec, STREAM, unknown)
        bad_resume = await http.get(f"/events/{OPEN_EVENT}/seats/stream", headers={"Last-Event-ID": "x"})
        assert bad_resume.status_code == 422
        _documented(spec, STREAM, bad_resume)


# What the edge middlewares refuse for every operation, sent where no body or query is
# documented at all: the refusal must still be one the operation documents.
EDGE_CASES = [
    ("get", "/healthz", {"params": {"x": "a\x01b"}}, 422),
    ("get", "/metrics", {"headers": {"X-Filler": "x" * 9000}}, 400),
    ("post", "/auth/guest", {"content": b"hello", "headers": {"Content-Type": "text/plain"}}, 415),
    (
        "delete",
        "/holds/{hold_id}",
        {"content": b"{}" + b" " * 17_000, "headers": {"Content-Type": "application/json"}},
        413,
    ),
]


@pytest.mark.parametrize(("method", "path", "request_parts", "status"), EDGE_CASES)
async def test_refusals_at_the_edge_are_documented_on_every_operation(
    demo_stack: DemoStack, method: str, path: str, request_parts: dict[str, Any], status: int
) -> None:
    async with httpx.AsyncClient(base_url=demo_stack.url, timeout=10) as http:
        spec = (await http.get("/openapi.json")).json()
        response = await http.request(method.upper(), path.replace("{hold_id}", "hld_x"), **request_parts)
        assert response.status_code == status, response.text
        _documented(spec, path, response, method)
