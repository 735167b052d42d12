"""Devices authenticate and may publish only as themselves (Mosquitto password file + ACL)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from app.services import MosquittoBroker, device_acl
from citytrack.mqtt import BrokerAddress, make_client
from tests.mqtt_helpers import Collector
from tests.waiting import poll

USERS = {"citytrack-hub": "hub-secret", "truck-01": "pw-1", "truck-02": "pw-2"}


@pytest.fixture
def secured(make_broker: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    return make_broker(users=USERS, acl=device_acl("citytrack-hub"))


def connect(broker: MosquittoBroker, user: str, password: str) -> tuple[mqtt.Client, object]:
    address = BrokerAddress.parse(broker.url).with_credentials(user, password)
    client = make_client(f"c-{user}", address)
    result: list[object] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: result.append(reason)
    client.connect(address.host, address.port)
    client.loop_start()
    poll(lambda: result, 5)
    return client, result[0] if result else None


def test_wrong_password_is_refused(secured: MosquittoBroker) -> None:
    client, reason = connect(secured, "truck-01", "guess")
    client.loop_stop()
    assert reason is not None and reason.is_failure  # type: ignore[attr-defined]


def publish_once(
    broker: MosquittoBroker, user: str, password: str, topic: str, body: bytes
) -> None:
    client, reason = connect(broker, user, password)
    assert reason is not None and not reason.is_failure  # type: ignore[attr-defined]
    info = client.publish(topic, body, qos=1)
    try:
        info.wait_for_publish(5)
    except RuntimeError:
        pass  # the broker may also drop the connection of a client that breaks its ACL
    client.disconnect()
    client.loop_stop()


def test_device_cannot_publish_as_another_device(secured: MosquittoBroker) -> None:
    hub_url = secured.url.replace("mqtt://", "mqtt://citytrack-hub:hub-secret@")
    seen = Collector(hub_url, "citytrack/v1/vehicle/#").start()
    publish_once(secured, "truck-01", "pw-1", "citytrack/v1/vehicle/truck-02/fix", b"forged")
    # the broker handles one message after the other: had it passed the forged one on, that
    # would reach the hub before this one
    publish_once(secured, "truck-01", "pw-1", "citytrack/v1/vehicle/truck-01/fix", b"own")
    assert seen.wait_for(1)
    seen.stop()
    assert seen.messages == [("citytrack/v1/vehicle/truck-01/fix", b"own", False)]


def test_device_cannot_read_other_devices(secured: MosquittoBroker) -> None:
    spy_url = secured.url.replace("mqtt://", "mqtt://truck-02:pw-2@")
    spy = Collector(spy_url, "citytrack/v1/vehicle/#").start()
    truck1, _ = connect(secured, "truck-01", "pw-1")
    truck1.publish("citytrack/v1/vehicle/truck-01/fix", b"private", qos=1).wait_for_publish(5)
    truck1.disconnect()
    truck1.loop_stop()
    # the spy's own topic, after truck-01's: had the broker let the spy read truck-01's
    # message, it would arrive before this one
    publish_once(secured, "truck-02", "pw-2", "citytrack/v1/vehicle/truck-02/fix", b"own")
    assert spy.wait_for(1)
    spy.stop()
    assert spy.messages == [("citytrack/v1/vehicle/truck-02/fix", b"own", False)]


def test_a_device_reads_its_own_watermark_and_no_other(secured: MosquittoBroker) -> None:
    hub, _ = connect(secured, "citytrack-hub", "hub-secret")
    for device in ("truck-01", "truck-02"):
        hub.publish(f"citytrack/v1/hub/ack/{device}", b"{}", qos=1, retain=True).wait_for_publish(5)
    url = secured.url.replace("mqtt://", "mqtt://truck-01:pw-1@")
    device = Collector(url, "citytrack/v1/hub/ack/#").start()
    try:
        # the retained ones go out when it subscribes, before anything published later
        hub.publish("citytrack/v1/hub/ack/truck-01", b"later", qos=1).wait_for_publish(5)
        assert poll(lambda: b"later" in device.payloads(), 10)
        assert {t for t, *_ in device.messages} == {"citytrack/v1/hub/ack/truck-01"}
    finally:
        device.stop()
        hub.loop_stop()


def test_the_printed_broker_config_runs_on_mosquitto(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from app.cli import app
    from app.services import find_mosquitto, free_port, wait_port

    exe = find_mosquitto()
    assert exe is not None, "scripts/test.sh installs mosquitto"
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    passwd.write_text("")
    tool = shutil.which("mosquitto_passwd") or str(Path(exe).with_name("mosquitto_passwd"))
    subprocess.run([tool, "-b", str(passwd), "truck-01", "pw"], check=True)
    acl.write_text(CliRunner().invoke(app, ["broker", "acl"]).stdout)
    port = free_port()
    result = CliRunner().invoke(
        app,
        ["broker", "config", "--no-tls", "--port", str(port), "--data-dir", str(tmp_path),
         "--password-file", str(passwd), "--acl-file", str(acl)],
    )  # fmt: skip
    assert result.exit_code == 0
    conf = tmp_path / "mosquitto.conf"
    text = result.stdout.replace("log_dest syslog", "log_dest stderr")
    conf.write_text(text + ("user root\n" if os.geteuid() == 0 else ""))
    for must in ("max_queued_messages 0", "persistence true", "allow_anonymous false"):
        assert must in text
    proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        assert wait_port("127.0.0.1", port, 10, proc), proc.stderr.read() if proc.stderr else ""
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
