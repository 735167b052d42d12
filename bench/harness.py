"""What the benchmark scripts beside this one share: the options ``--quick``, ``--broker`` /
``--db`` and ``--json``, a scratch folder, private servers (or the external ones those
options name), and the figures printed as a table and written as JSON.

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


def parse(
    ap: argparse.ArgumentParser, quick: dict[str, Any], *, broker: bool = True
) -> argparse.Namespace:
    """Add the options every server benchmark has, then parse: ``--quick`` (the option
    values of ``quick``: a smoke run, not a measurement), ``--db`` (and ``--broker``) for
    external servers, ``--json`` for the figures."""
    sizes = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in quick.items())
    ap.add_argument("--quick", action="store_true", help=f"a smoke run: {sizes}")
    if broker:
        ap.add_argument("--broker", help="external broker URL")
    ap.add_argument("--db", help="external PostgreSQL URL (a scratch database)")
    ap.add_argument("--json", type=Path, help="write the figures as JSON")
    args = ap.parse_args()
    if args.quick:
        vars(args).update(quick)
    return args


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
