"""Shared fixtures: real Mosquitto, PostgreSQL and Chromium for the tests that need them,
corpus paths.

The servers are Debian's packages (``scripts/test.sh`` installs them); the suite starts
private instances on loopback ports. When ``CITYTRACK_TEST_DB`` / ``CITYTRACK_TEST_BROKER``
are set, those external servers are used instead.

Every test that uses a fixture of ``SERVER_FIXTURES``, directly or through another fixture,
is marked ``services`` at collection, so ``pytest -m "not services"`` runs the rest on a
machine without the servers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.services import MosquittoBroker, SystemPostgres
from tests.databases import fresh_database
from tests.serial_ports import open_pty

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"

SERVER_FIXTURES = frozenset({"pg_server", "broker_url", "make_broker", "chromium"})
"""The fixtures that start (or find) a server installed on the machine."""


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``services`` every test whose fixture closure holds a server fixture."""
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.skip(f"corpora not found at {CORPORA} (../shared/corpora beside the project)")
    return CORPORA


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    """(master fd, slave device path) of a fresh pseudo-terminal (``serial_ports.open_pty``)."""
    with open_pty() as ends:
        yield ends


@pytest.fixture(scope="session")
def services_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="citytrack-test-"))
    base.chmod(0o755)  # the postgres user must traverse it when we run as root
    yield base


def _external_or_started(variable: str, server: SystemPostgres | MosquittoBroker) -> Iterator[str]:
    """The URL in the environment ``variable``; else ``server``'s, started until the end."""
    external = os.environ.get(variable)
    if external:
        yield external
        return
    yield server.start().url
    server.stop()


@pytest.fixture(scope="session")
def pg_server(services_dir: Path) -> Iterator[str]:
    """URL of a PostgreSQL server (maintenance database)."""
    yield from _external_or_started("CITYTRACK_TEST_DB", SystemPostgres(services_dir / "pg"))


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    with fresh_database(pg_server) as url:
        yield url


@pytest.fixture(scope="session")
def broker_url(services_dir: Path) -> Iterator[str]:
    """URL of a real Mosquitto broker, shared by the session (tests use unique topics/ids)."""
    broker = MosquittoBroker(services_dir / "mosquitto")
    yield from _external_or_started("CITYTRACK_TEST_BROKER", broker)


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., MosquittoBroker]]:
    """Starts private Mosquitto brokers for one test (keyword arguments: ``MosquittoBroker``'s
    ``users`` and ``acl``); each is stopped afterwards."""
    started: list[MosquittoBroker] = []

    def start(**options: Any) -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path / f"mosquitto-{len(started)}", **options).start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def own_broker(make_broker: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """A private Mosquitto for a test that stops and restarts the broker."""
    return make_broker()


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the Chromium that draws pages headless; fails (never skips) without one."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found is not None, "no Chromium: scripts/test.sh installs it (Debian: chromium)"
    return found
