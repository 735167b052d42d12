"""What the benchmark scripts beside this one share: a scratch folder, private servers (or
the external ones named by ``--broker`` / ``--db``), and the figures printed as a table
and written as JSON.

Private servers are Debian's Mosquitto and PostgreSQL, as the test suite runs them; they
stop when the caller's ``ExitStack`` closes. Raises what ``app.services`` raises
(``ServiceError``: a server is not installed or did not start).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from app.services import MosquittoBroker, SystemPostgres


def scratch(prefix: str) -> Path:
    """A fresh folder that the ``postgres`` user may traverse (needed when run as root)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    work.chmod(0o755)
    return work


def add_server_options(ap: argparse.ArgumentParser, *, broker: bool = True) -> None:
    """``--db`` (and ``--broker``): external servers instead of private ones."""
    if broker:
        ap.add_argument("--broker", help="external broker URL")
    ap.add_argument("--db", help="external PostgreSQL URL (a scratch database)")


def broker_url(given: str | None, work: Path, stack: ExitStack) -> str:
    """``given``, else the URL of a private Mosquitto that ``stack`` stops."""
    return given or _private(MosquittoBroker(work / "mq"), stack)


def database_url(given: str | None, work: Path, stack: ExitStack) -> str:
    """``given``, else the URL of a private PostgreSQL that ``stack`` stops."""
    return given or _private(SystemPostgres(work / "pg"), stack)


def _private(server: MosquittoBroker | SystemPostgres, stack: ExitStack) -> str:
    server.start()
    stack.callback(server.stop)
    return server.url


def report(title: str, figures: dict[str, Any], json_path: Path | None) -> None:
    """Print ``figures`` under ``title``, one per line; write them to ``json_path`` if given."""
    width = max(len(k) for k in figures)
    print(title)
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value}")
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
