"""Shared fixtures: real Mosquitto and PostgreSQL servers for the session, corpus paths.

The servers are Debian's packages (``scripts/test.sh`` installs them). When
``CITYTRACK_TEST_DB`` / ``CITYTRACK_TEST_BROKER`` are set, those external servers are
used instead.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.services import MosquittoBroker, SystemPostgres

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"


@pytest.fixture(scope="session")
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.skip(f"corpora not found at {CORPORA} (../shared/corpora beside the project)")
    return CORPORA


@pytest.fixture(scope="session")
def services_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="citytrack-test-"))
    base.chmod(0o755)  # the postgres user must traverse it when we run as root
    yield base


@pytest.fixture(scope="session")
def pg_server(services_dir: Path) -> Iterator[str]:
    """URL of a PostgreSQL server (maintenance database)."""
    external = os.environ.get("CITYTRACK_TEST_DB")
    if external:
        yield external
        return
    server = SystemPostgres(services_dir / "pg").start()
    yield server.url
    server.stop()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(pg_server, dbname=name)
    yield url
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def broker_url(services_dir: Path) -> Iterator[str]:
    """URL of a real Mosquitto broker, shared by the session (tests use unique topics/ids)."""
    external = os.environ.get("CITYTRACK_TEST_BROKER")
    if external:
        yield external
        return
    broker = MosquittoBroker(services_dir / "mosquitto").start()
    yield broker.url
    broker.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A private Mosquitto for a test that stops and restarts the broker."""
    broker = MosquittoBroker(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()
