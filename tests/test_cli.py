"""The `citytrack` command as users call it: real processes, real servers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
import typer
from typer.testing import CliRunner

from app.cli import CitytrackGroup, app
from app.cli.common import UsageError, database
from app.demo.sinks import LINE_TOKEN, WEBHOOK_SECRET, NotificationSinks
from app.services import free_port
from citytrack import wire
from citytrack.alerts import Alert
from citytrack.config import load_config
from hub.storage import schema
from hub.storage.db import StoreUnavailableError
from hub.storage.fleet import AlertRepository

CITYTRACK = str(Path(sys.executable).with_name("citytrack"))
ROOT = Path(__file__).resolve().parent.parent


def run(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [CITYTRACK, *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_bad_config_gets_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "config" / "osaka.toml").read_text() + "\n[hub2]\nx = 1\n")
    result = run("db", "upgrade", "--config", str(bad), "--db", "postgresql://nowhere/x")
    assert result.returncode == 2
    err = result.stderr.decode()
    assert "bad configuration" in err and "hub2" in err and str(bad) in err
    assert "Traceback" not in err


def test_nmea_decode_from_stdin_prints_fixes_and_counters(corpora: Path) -> None:
    log = (corpora / "nmea" / "gpsd" / "ublox-neo-m9n-nmea.log").read_bytes()
    result = run("nmea", "decode", "-", "--device-id", "rx-1", stdin=log + b"$GPGGA,garbage*00\r\n")
    assert result.returncode == 0
    fixes = [
        wire.decode("citytrack/v1/vehicle/rx-1/fix", line) for line in result.stdout.splitlines()
    ]
    assert len(fixes) > 5
    assert [f.seq for f in fixes] == list(range(1, len(fixes) + 1))
    counters = json.loads(result.stderr.decode().strip().splitlines()[-1])
    assert counters["fixes"] == len(fixes)
    assert counters["bad_checksum"] >= 1


def test_db_upgrade_then_alerts_json(pg_url: str) -> None:
    first = run("db", "upgrade", "--db", pg_url)
    assert first.returncode == 0, first.stderr
    assert f"applied {len(schema.steps(False))} migration(s)".encode() in first.stdout
    assert b"none needed" in run("db", "upgrade", "--db", pg_url).stdout
    t = datetime(2026, 11, 26, 7, 42, tzinfo=UTC)
    alert = Alert(
        device_id="truck-01",
        driver_id="drv-tanaka",
        kind="speeding",
        severity="high",
        start_time=t,
        end_time=t,
        lat_deg=34.66,
        lon_deg=135.5,
        details={"max_speed_kmh": 52.0, "limit_kmh": 30.0},
    )
    with psycopg.connect(pg_url, autocommit=True) as conn, conn.transaction():
        AlertRepository(conn).insert([alert])
    out = run("alerts", "--db", pg_url, "--json", "--kind", "speeding")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["device_id"], r["kind"]) for r in rows] == [("truck-01", "speeding")]
    assert run("alerts", "--db", pg_url, "--json", "--kind", "harsh_braking").stdout == b""
    table = run("alerts", "--db", pg_url).stdout.decode()
    assert "truck-01" in table and "speeding" in table


@pytest.mark.services
def test_hub_command_serves_the_api_and_stops_on_sigterm(pg_url: str, broker_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema.upgrade(conn)
    port = free_port()
    hub = subprocess.Popen(
        [CITYTRACK, "hub", "--db", pg_url, "--broker", broker_url, "--api-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        body = None
        deadline = time.monotonic() + 30
        while body is None and time.monotonic() < deadline:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/vehicles", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.2)
        assert body is not None, "the API did not come up"
        assert {v["device_id"] for v in body} == {f"truck-0{i}" for i in range(1, 6)}
    finally:
        hub.send_signal(signal.SIGTERM)
        code = hub.wait(20)
        assert hub.stdout is not None and hub.stderr is not None
        hub.stdout.close()
        hub.stderr.close()
    assert code == 0


def osaka_with_sinks(tmp_path: Path, sinks: NotificationSinks) -> Path:
    """The Osaka configuration with every guardian channel on the local stand-ins."""
    text = (ROOT / "config" / "osaka.toml").read_text()
    text = text.replace('"osaka_', f'"{ROOT}/config/osaka_')  # its data files, in place
    text = text.replace('"https://api.line.me"', f'"{sinks.line_api_base}"')
    text = text.replace("smtp_port = 25\n", f"smtp_port = {sinks.smtp_port}\n")
    text = re.sub(
        r'"https://family-(g-\d+)\.example\.jp/mimamori"',
        lambda m: f'"{sinks.webhook_url(m[1])}"',
        text,
    )
    path = tmp_path / "osaka.toml"
    path.write_text(text)
    return path


def test_broadcast_reaches_every_guardian_of_the_school_once(pg_url: str, tmp_path: Path) -> None:
    sinks = NotificationSinks().start()
    try:
        config = osaka_with_sinks(tmp_path, sinks)
        env = {"CITYTRACK_LINE_TOKEN": LINE_TOKEN, "CITYTRACK_WEBHOOK_SECRET": WEBHOOK_SECRET}
        args = ["--ja", "避難訓練のお知らせ", "--en", "Evacuation drill today", "--db", pg_url]
        result = run("broadcast", "--school", "naniwa-es", *args, "--config", str(config),
                     env=env)  # fmt: skip
    finally:
        sinks.stop()
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert out.startswith("broadcast to 18 guardian(s):"), out
    counts = json.loads(out.split(":", 1)[1])
    assert counts["delivered"] == 18  # one notice per guardian (each has one channel)
    assert len(sinks.received()) == 18


def test_import_is_light() -> None:
    """A device installs only its extra: building the command imports no heavy library."""
    heavy = ["numpy", "psycopg", "pynmea2", "serial", "bleak", "pyvrp", "plotly", "shapely"]
    code = f"import sys, app.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


def probe_app() -> typer.Typer:
    """A root group like the real one, with commands that raise what they are told to."""
    probe = typer.Typer(cls=CitytrackGroup)

    @probe.command()
    def invalid() -> None:
        raise UsageError("give --this or --that")

    @probe.command()
    def retryable(lines: int = 1) -> None:
        raise StoreUnavailableError("connect", "\n".join(["refused", "is it running?"][:lines]))

    @probe.command()
    def other() -> None:
        raise KeyError("not ours")

    return probe


def test_a_citytrack_error_is_one_line_and_its_exit_code() -> None:
    runner = CliRunner()
    result = runner.invoke(probe_app(), ["invalid"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "citytrack: give --this or --that\n"
    result = runner.invoke(probe_app(), ["retryable", "--lines", "2"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "citytrack: connect: refused is it running?\n"
    result = runner.invoke(probe_app(), ["other"])  # not ours: a bug, left to show itself
    assert isinstance(result.exception, KeyError)


def test_every_database_command_brings_the_schema_up_to_date(pg_url: str) -> None:
    """A read-only command on an empty database migrates it first (and finds nothing)."""
    fresh = run("trips", "--db", pg_url, "--json")
    assert (fresh.returncode, fresh.stdout, fresh.stderr) == (0, b"", b"")
    assert b"none needed" in run("db", "upgrade", "--db", pg_url).stdout


@pytest.mark.slow
def test_the_embedded_database_stops_when_the_block_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CITYTRACK_DB", raising=False)
    (tmp_path / "run").mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    cfg = load_config()
    assert not cfg.hub.db_url
    pid_file = tmp_path / "pg" / "postmaster.pid"
    with (
        pytest.raises(RuntimeError, match="inside the block"),
        database(cfg, None, data_dir=tmp_path) as url,
    ):
        server = psutil.Process(int(pid_file.read_text().split()[0]))
        assert server.is_running() and server.status() != psutil.STATUS_ZOMBIE
        with psycopg.connect(url) as conn:  # migrated on the way in
            assert conn.execute("SELECT to_regclass('alerts')").fetchone() == ("alerts",)
        raise RuntimeError("inside the block")
    # gone: exited (a zombie until whoever adopted it reaps it) and its pid file removed
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
    assert not pid_file.exists()


DOWN = [
    ("hub", "--broker", "mqtt://127.0.0.1:1"),
    ("db", "upgrade"),
    ("db", "rollups"),
    ("alerts",),
    ("trips",),
    ("broadcast", "--school", "naniwa-es", "--ja", "x", "--en", "x"),
    ("report", "drivers", "--from", "2026-11-01", "--to", "2026-11-02"),
    ("routes", "learn", "--from", "2026-11-01", "--to", "2026-11-02"),
    ("routes", "import-emissions"),
    ("routes", "plan", "--date", "2026-11-26"),
    ("routes", "compare", "--date", "2026-11-26"),
]


@pytest.mark.parametrize("args", DOWN, ids=" ".join)
def test_a_database_that_is_down_is_one_line_and_exit_1(
    args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYTRACK_LINE_TOKEN", "token")  # a broadcast's channels are usable
    monkeypatch.setenv("CITYTRACK_WEBHOOK_SECRET", "secret")
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/none?connect_timeout=1"
    result = CliRunner().invoke(app, [*args, "--db", url])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith(f"citytrack: cannot reach the database {url} (--db): ")
    assert result.stderr.endswith("; start it or give another with --db or $CITYTRACK_DB\n")
    assert result.stderr.count("\n") == 1
