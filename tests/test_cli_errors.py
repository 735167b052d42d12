"""Every user-facing failure is one line: bad invocations a new user tries, run as real
processes. Each must print exactly one line on stderr, ``citytrack: <problem>; <what to
do>``, exit non-zero (2: change the input; 1: a service cannot be reached or a step
failed) and never a traceback. A serial receiver that is not there is not a failure: the
agent waits for it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from app.services import free_port
from tests.databases import fresh_database
from tests.nmea_text import nmea
from tests.serial_ports import open_pty
from tests.waiting import wait_until

CITYTRACK = str(Path(sys.executable).with_name("citytrack"))
ROOT = Path(__file__).resolve().parent.parent
UNSET = ("CITYTRACK_DB", "CITYTRACK_HOME", "CITYTRACK_CONFIG", "CITYTRACK_LINE_TOKEN",
         "CITYTRACK_WEBHOOK_SECRET", "PGCONNECT_TIMEOUT")  # fmt: skip


@dataclass(frozen=True)
class Bad:
    """An invocation (``{name}`` placeholders filled from :func:`places`), its exit code
    and what its one line must say: the problem, then what to do."""

    args: tuple[str, ...]
    code: int
    says: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


REFUSED = "{refused}"
NO_BROKER = ("--broker", "mqtt://127.0.0.1:1")
BROADCAST = ("broadcast", "--ja", "訓練", "--en", "drill", "--db", REFUSED)
REACH = "; start it or give another with --db or $CITYTRACK_DB"
SLOW_CONNECT = {"PGCONNECT_TIMEOUT": "1"}
BAD = {
    "hub, database refused": Bad(
        ("hub", "--db", REFUSED, *NO_BROKER), 1,
        ("cannot reach the database postgresql://", "Connection refused", REACH),
    ),
    "hub, database unreachable": Bad(
        ("hub", "--db", "{silent}", *NO_BROKER), 1,
        ("cannot reach the database postgresql://", "timeout expired", REACH), SLOW_CONNECT,
    ),
    "demo, database refused": Bad(
        ("demo", "--db", REFUSED, "--no-live", "--duration", "1", "--data-dir", "{tmp}/d"), 1,
        ("cannot reach the database postgresql://", "Connection refused", REACH),
    ),
    "demo, database unreachable": Bad(
        ("demo", "--db", "{silent}", "--no-live", "--duration", "1", "--data-dir", "{tmp}/d"), 1,
        ("cannot reach the database postgresql://", "timeout expired", REACH), SLOW_CONNECT,
    ),
    "demo, broker refused": Bad(
        ("demo", "--broker", "mqtt://127.0.0.1:{free}", "--no-live", "--duration", "1",
         "--data-dir", "{tmp}/d"), 1,
        ("cannot reach the MQTT broker at 127.0.0.1:", "Connection refused",
         "start it or give another with --broker"),
    ),
    "alerts, a MySQL URL": Bad(
        ("alerts", "--db", "mysql://fleet:s3cret@db.example/citytrack"), 2,
        ("--db is not a PostgreSQL URL: 'mysql://fleet:***@db.example/citytrack'",
         "give postgresql://USER:PASSWORD@HOST:PORT/DBNAME"),
    ),
    "trips, a MySQL URL in $CITYTRACK_DB": Bad(
        ("trips",), 2, ("$CITYTRACK_DB is not a PostgreSQL URL", "give postgresql://"),
        {"CITYTRACK_DB": "mysql://db.example/citytrack"},
    ),
    "agent vehicle, no gpsd": Bad(
        ("agent", "vehicle", "--gpsd", "127.0.0.1:{free}", *NO_BROKER, "--outbox", "{tmp}/o.db"),
        1, ("cannot reach gpsd at 127.0.0.1:", "Connection refused", "start gpsd",
            "--gpsd HOST:PORT"),
    ),
    "db upgrade, a step fails": pytest.param(
        Bad(("db", "upgrade", "--db", "{broken}"), 1,
            ("cannot bring the schema of", "step 0000_schema_migrations failed",
             "does not exist", "fix it (docs/storage.md) and run citytrack db upgrade")),
        marks=pytest.mark.services,
    ),
    "alerts, a date it cannot read": Bad(
        ("alerts", "--since", "26/11/2026", "--db", REFUSED), 2,
        ("--since: '26/11/2026' is not a date or time",
         "give 2026-12-07, 2026-12-07T08:00 (Asia/Tokyo) or 2026-12-07T08:00+09:00"),
    ),
    "routes plan, no such day": Bad(
        ("routes", "plan", "--date", "2026-11-31", "--db", REFUSED), 2,
        ("--date: '2026-11-31' is not a date", "give it as 2026-12-07"),
    ),
    "a misspelt time zone": Bad(
        ("alerts", "--config", "{tokio}", "--db", REFUSED), 2,
        ("bad configuration: ", "city.timezone: unknown time zone 'Asia/Tokio'",
         "give an IANA name such as 'Asia/Tokyo'"),
    ),
    "broadcast, no LINE token": Bad(
        (*BROADCAST, "--ward", "naniwa"), 2,
        ("$CITYTRACK_LINE_TOKEN is not set", "guardian(s) of Naniwa are reached by line",
         "set it to the LINE channel access token"),
    ),
    "broadcast, no webhook secret": Bad(
        (*BROADCAST, "--ward", "Naniwa"), 2,
        ("$CITYTRACK_WEBHOOK_SECRET is not set", "set it to the webhook signing secret"),
        {"CITYTRACK_LINE_TOKEN": "token"},
    ),
    "broadcast, an unknown ward": Bad(
        (*BROADCAST, "--ward", "Atlantis"), 2,
        ("no ward 'Atlantis' in [[watch.schools]]", "one of Chuo, Naniwa"),
    ),
    "alerts from another folder, no database there": Bad(
        ("alerts",), 2,
        ("no database in {tmp}/.citytrack/pg", "give --db URL", "CITYTRACK_HOME=",
         "or create an empty one here with citytrack db upgrade"),
    ),
    "alerts, a bad option value": Bad(
        ("alerts", "--limit", "ten"), 2,
        ("Invalid value for '--limit'", "(see citytrack alerts --help)"),
    ),
}  # fmt: skip


@pytest.fixture
def places(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """What the placeholders stand for: a refused and a silent database server (a
    socket that never answers), a free port, the Osaka config with a misspelt zone, and
    (only for the case that needs it) a database whose schema cannot be upgraded."""
    silent = socket.create_server(("127.0.0.1", 0))  # accepts nothing, says nothing
    tokio = tmp_path / "tokio.toml"
    osaka = (ROOT / "config" / "osaka.toml").read_text()
    tokio.write_text(osaka.replace('timezone = "Asia/Tokyo"', 'timezone = "Asia/Tokio"'))
    with silent:
        found = {
            "tmp": str(tmp_path),
            "refused": f"postgresql://postgres@127.0.0.1:{free_port()}/none",
            "silent": f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/none",
            "free": str(free_port()),
            "tokio": str(tokio),
        }
        case: Bad = request.node.callspec.params["case"]
        if "{broken}" not in case.args:
            yield found
            return
        with fresh_database(request.getfixturevalue("pg_server")) as url:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE schema_migrations (something_else int)")
            yield found | {"broken": url}


def citytrack(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in UNSET}
    return subprocess.run(
        [CITYTRACK, *args], cwd=cwd, env=clean | (env or {}),
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_a_bad_invocation_is_one_line_naming_the_problem_and_what_to_do(
    case: Bad, places: dict[str, str], tmp_path: Path
) -> None:
    args = [arg.format(**places) for arg in case.args]
    result = citytrack(*args, cwd=tmp_path, env=case.env)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("citytrack: ")
    for part in case.says:
        assert part.format(**places) in lines[0]
    assert "s3cret" not in lines[0]
    assert result.returncode == case.code, result.stderr
    assert not (tmp_path / ".citytrack").exists()  # no database made on the way


class Lines:
    """A process's stderr, line by line, as it comes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stderr is not None
        self._thread = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    def close(self, process: subprocess.Popen[str]) -> None:
        """After the process ended: every line read, the pipe closed."""
        self._thread.join(10)
        assert process.stderr is not None
        process.stderr.close()

    def count(self, pattern: str) -> int:
        return sum(1 for line in list(self.lines) if re.search(pattern, line))


def epoch(second: int) -> bytes:
    """One receiver epoch (RMC + GGA) at 09:30:``second``."""
    tod, where = f"0930{second:02d}.00", "3441.2350,N,13530.1500,E"
    return nmea(f"GNRMC,{tod},A,{where},12.5,90.0,010424,,,A") + nmea(
        f"GNGGA,{tod},{where},1,09,0.8,12.3,M,37.2,M,,"
    )


def fixes_queued(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    found = re.search(r"^citytrack_agent_fixes_queued_total\{[^}]*\} (\S+)$", text, re.M)
    return float(found[1]) if found else 0.0


def test_the_vehicle_agent_waits_for_its_receiver_and_picks_it_up(
    tmp_path: Path, broker_url: str
) -> None:
    """Not plugged in: one waiting line per attempt, no exit. Plugged in: fixes. Unplugged
    again (the device path gone): waiting again, still no traceback. SIGTERM: exit 0."""
    port, metrics = tmp_path / "ttyUSB0", free_port()
    agent = subprocess.Popen(
        [CITYTRACK, "agent", "vehicle", "--serial", str(port), "--broker", broker_url,
         "--device-id", "truck-05", "--outbox", str(tmp_path / "o.db"),
         "--metrics-port", str(metrics)],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    log = Lines(agent)
    waiting = rf"truck-05: waiting for the GNSS source {re.escape(str(port))}: .*No such file"
    try:
        wait_until(lambda: log.count(waiting) >= 2, 30, "two waiting lines")
        assert agent.poll() is None
        with open_pty() as (master, path):
            port.symlink_to(path)
            second = iter(range(60))

            def a_fix_arrives() -> bool:
                os.write(master, epoch(next(second)))
                return fixes_queued(metrics) >= 1

            wait_until(a_fix_arrives, 60, "a fix from the plugged-in receiver", every_s=0.5)
            assert log.count("truck-05: the GNSS source is reading again") == 1
            before = log.count(waiting)
            os.close(master)  # unplugged: the pty and its path go away
            port.unlink()
        wait_until(lambda: log.count(waiting) > before, 30, "waiting again after unplugging")
        assert agent.poll() is None
    finally:
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(30)
        log.close(agent)
    assert code == 0
    assert not any("Traceback" in line for line in log.lines), "".join(log.lines)


@pytest.mark.slow
def test_the_embedded_database_says_which_and_is_made_only_when_asked(tmp_path: Path) -> None:
    """Elsewhere than the project: none is made silently; $CITYTRACK_HOME and db upgrade
    make one, and every command says which it uses. The README's own --since works."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "run").mkdir(mode=0o700)
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run")}
    refused = citytrack("trips", cwd=elsewhere, env=env)
    assert refused.returncode == 2 and "no database in" in refused.stderr
    created = citytrack("db", "upgrade", cwd=elsewhere, env=env | {"CITYTRACK_HOME": str(home)})
    assert created.returncode == 0, created.stderr
    pg = (home / "pg").resolve()
    assert created.stderr == f"citytrack: using a new embedded database in {pg}\n"
    readme = citytrack("alerts", "--since", "2026-11-26T08:00", cwd=elsewhere,
                       env=env | {"CITYTRACK_HOME": str(home)})  # fmt: skip
    assert readme.returncode == 0, readme.stderr
    assert readme.stderr == f"citytrack: using the embedded database in {pg}\n"
    assert readme.stdout.strip() == "No alerts match."
    assert not (elsewhere / ".citytrack").exists()
