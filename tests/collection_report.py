"""A pytest plugin for tests of the suite itself (``-p tests.collection_report``): after
collection, writes each selected test as one JSON line to the file named by
``CITYTRACK_COLLECTION_REPORT``: its node id, its fixture closure and its markers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ENV = "CITYTRACK_COLLECTION_REPORT"


def pytest_collection_finish(session: pytest.Session) -> None:
    target = os.environ.get(ENV)
    if not target:
        return
    lines = [
        json.dumps(
            {
                "nodeid": item.nodeid,
                "fixtures": sorted(getattr(item, "fixturenames", ())),
                "markers": sorted({m.name for m in item.iter_markers()}),
            }
        )
        for item in session.items
    ]
    Path(target).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
