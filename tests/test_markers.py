"""The ``services`` marker is set at collection on every test that needs a server, so
``pytest -m "not services"`` runs exactly the tests a machine without servers can run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.collection_report import ENV
from tests.conftest import ROOT, SERVER_FIXTURES

# a mix of pure tests and tests reaching a server fixture directly (broker_url, chromium),
# through conftest's fixtures (pg_url, own_broker) or through a module's own (secured, make)
FILES = [
    "tests/test_wire.py",
    "tests/test_routing_plan_io.py",
    "tests/test_broker_auth.py",
    "tests/test_notify_service.py",
    "tests/test_publisher.py",
    "tests/test_demo.py",
]
PURE = [
    "tests/test_wire.py::test_topics_round_trip",
    "tests/test_routing_plan_io.py::test_html_renders_an_empty_plan",
    # the demo on its embedded servers (pip packages) needs nothing installed
    "tests/test_demo.py::test_demo_runs_on_embedded_defaults_and_reports_its_summary",
]
NEEDS_SERVERS = [
    "tests/test_routing_plan_io.py::test_maps_draw_in_headless_chromium",
    "tests/test_broker_auth.py::test_wrong_password_is_refused",
    "tests/test_notify_service.py::test_retries_stop_after_max_attempts",
    "tests/test_publisher.py::test_nothing_lost_across_a_broker_outage",
    "tests/test_publisher.py::test_backlog_drains_in_order_and_is_deleted_on_puback",
    "tests/test_demo.py::test_demo_uses_external_broker_and_database",
]


def collect(tmp_path: Path, *options: str) -> list[dict[str, Any]]:
    """The tests a collection of FILES selects: node id, fixture closure, markers."""
    report = tmp_path / "collected.jsonl"
    plugins = ["-p", "no:cacheprovider", "-p", "tests.collection_report"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *plugins, *options, *FILES],
        cwd=ROOT,
        env=os.environ | {ENV: str(report)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return [json.loads(line) for line in report.read_text().splitlines()]


def test_not_services_selects_the_pure_tests_and_no_test_that_uses_a_server(
    tmp_path: Path,
) -> None:
    """A test that uses a server fixture and escaped the mark would be selected here."""
    selected = collect(tmp_path, "-m", "not services")
    ids = {t["nodeid"] for t in selected}
    assert set(PURE) <= ids
    assert not set(NEEDS_SERVERS) & ids
    assert [t["nodeid"] for t in selected if SERVER_FIXTURES & set(t["fixtures"])] == []
    assert all("services" not in t["markers"] for t in selected)
