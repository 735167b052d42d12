"""House style holds: ruff (lint and format) and mypy are clean, the import contracts hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PACKAGES = ["citytrack", "analytics", "edge_agent", "hub", "app", "firmware_sim", "evaluation"]
TYPED = [*PACKAGES, "bench"]  # the benchmark scripts too, so they cannot rot unseen


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, check=False, capture_output=True, text=True)


def test_ruff_lint_and_format() -> None:
    lint = run(str(BIN / "ruff"), "check", ".")
    assert lint.returncode == 0, lint.stdout[-4000:]
    fmt = run(str(BIN / "ruff"), "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout[-4000:]


def test_mypy() -> None:
    result = run(str(BIN / "mypy"), *TYPED)
    assert result.returncode == 0, result.stdout[-4000:]


def test_import_contracts() -> None:
    """The layers and forbidden imports of pyproject.toml's [tool.importlinter] hold."""
    result = run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout[-4000:]
