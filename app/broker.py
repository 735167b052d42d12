"""What a Mosquitto broker must have for citytrack, as a ``mosquitto.conf``.

One home for the settings the demo's private broker and a city's production broker share:

- **persistence**, saved every ``autosave_interval`` s: the hub's session (clean_session
  off) and the QoS 1 messages queued for it survive a broker restart. A crash may lose
  the last interval; the devices re-send what the hub has not confirmed (its retained
  watermark), so nothing is lost end to end.
- **no queue limit** (``max_queued_messages 0``, ``max_queued_bytes 0``): Mosquitto's
  default of 1000 queued messages drops fixes while the hub is busy or away (measured:
  1,970 of 20,000). Disk is the limit; ``persistent_client_expiration`` forgets sessions
  not seen for two weeks.
- **no anonymous access**, a password file and an ACL (each device writes only its own
  topics and reads its own watermark; the hub reads all and writes ``citytrack/v1/hub/#``:
  ``app.services.device_acl``), **TLS** on 8883, and optionally a plain listener on
  loopback for a hub on the same machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    cafile: Path
    certfile: Path
    keyfile: Path


@dataclass(frozen=True)
class BrokerSettings:
    """A broker's configuration; ``render()`` writes it in mosquitto.conf syntax."""

    data_dir: Path = Path("/var/lib/mosquitto")
    port: int = 8883
    bind: str = ""  # "" = every interface
    tls: TlsFiles | None = TlsFiles(
        Path("/etc/mosquitto/certs/ca.crt"),
        Path("/etc/mosquitto/certs/server.crt"),
        Path("/etc/mosquitto/certs/server.key"),
    )
    password_file: Path | None = Path("/etc/mosquitto/citytrack.passwd")
    acl_file: Path | None = Path("/etc/mosquitto/citytrack.acl")
    local_port: int | None = None  # a plain listener on 127.0.0.1 for a hub on this machine
    autosave_interval_s: int = 1
    log_dest: str = "syslog"

    def render(self) -> str:
        lines = [
            "# citytrack: Mosquitto 2.x for a city's devices and hub (citytrack broker config)",
            "per_listener_settings false",
            "",
            "# the hub's persistent session and what is queued for it survive a restart",
            "persistence true",
            f"persistence_location {self.data_dir}/",
            f"autosave_interval {self.autosave_interval_s}",
            "persistent_client_expiration 14d",
            "",
            "# queue for an absent or busy hub without limit (the default 1000 drops fixes)",
            "max_queued_messages 0",
            "max_queued_bytes 0",
            "max_inflight_messages 100",
            "max_packet_size 1048576",
            "",
        ]
        if self.password_file is None:
            lines += ["# anonymous access: loopback tests only, never a city's broker"]
            lines += ["allow_anonymous true"]
        else:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        lines += ["", f"listener {self.port}{' ' + self.bind if self.bind else ''}"]
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.cafile}",
                f"certfile {self.tls.certfile}",
                f"keyfile {self.tls.keyfile}",
                "tls_version tlsv1.2",
            ]
        if self.local_port is not None:
            lines += [
                "",
                "# plain MQTT for a hub on this machine only",
                f"listener {self.local_port} 127.0.0.1",
            ]
        lines += ["", f"log_dest {self.log_dest}"]
        lines += [f"log_type {t}" for t in ("error", "warning", "notice")]
        lines.append("connection_messages true")
        return "\n".join(lines) + "\n"
