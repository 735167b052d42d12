"""House style holds: ruff (lint and format) and mypy are clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PACKAGES = ["citytrack", "edge_agent", "hub", "analytics", "firmware_sim"]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, check=False, capture_output=True, text=True)


def test_ruff_lint_and_format() -> None:
    lint = run(str(BIN / "ruff"), "check", ".")
    assert lint.returncode == 0, lint.stdout[-4000:]
    fmt = run(str(BIN / "ruff"), "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout[-4000:]


def test_mypy() -> None:
    result = run(str(BIN / "mypy"), *PACKAGES)
    assert result.returncode == 0, result.stdout[-4000:]


def test_analytics_does_no_io() -> None:
    """analytics/ imports neither paho, bleak, pyserial nor psycopg; nothing imports the sims."""
    io = re.compile(r"^\s*(import|from)\s+(paho|bleak|serial|psycopg)\b", re.M)
    for path in (ROOT / "analytics").glob("*.py"):
        assert not io.search(path.read_text()), path
    sims = re.compile(r"^\s*(import|from)\s+firmware_sim\b", re.M)
    for package in ("edge_agent", "hub", "analytics"):
        for path in (ROOT / package).glob("*.py"):
            assert not sims.search(path.read_text()), path
