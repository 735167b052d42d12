"""``citytrack ble decode``: one JSON line per hex input, exit status 0 only if all decoded."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from app.cli import app

IBEACON = "0201061aff4c0002154142434445464748494041424344454600010002f8"
EID = "0201060303aafe0d16aafe30e34549445f74657374"
TLM_REPORT = (
    "04 3e 25 02 01 03 01 35 94 ef cd d6 1c 19 "
    "0201060303aafe1116aafe20000b1813000000146700002ac4 e4"
)


def run(*inputs: str) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(app, ["ble", "decode", *inputs])
    if result.exit_code == 0:
        assert result.stderr == ""
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]


def test_good_inputs() -> None:
    status, (ibeacon, eid) = run(IBEACON, "0x" + EID.upper())
    assert status == 0
    assert ibeacon == {
        "input": IBEACON,
        "frames": [
            {
                "type": "ibeacon",
                "uuid": "41424344-4546-4748-4940-414243444546",
                "major": 1,
                "minor": 2,
                "tx_power_dbm": -8,
                "beacon_kind": "ibeacon",
                "beacon_id": "41424344-4546-4748-4940-414243444546/1/2",
            }
        ],
    }
    assert eid["frames"] == [
        {
            "type": "eddystone_eid",
            "eid": "4549445f74657374",
            "tx_power_dbm": -29,
            "beacon_kind": "eddystone_eid",
            "beacon_id": "4549445f74657374",
        }
    ]


def test_hci_report() -> None:
    status, (line,) = run(TLM_REPORT)
    assert status == 0
    assert line["reports"] == [
        {
            "address": "1c:d6:cd:ef:94:35",
            "address_type": 1,
            "event_type": 3,
            "rssi_dbm": -28,
            "tx_power_dbm": None,
        }
    ]
    (tlm,) = line["frames"]
    assert tlm["type"] == "eddystone_tlm"
    assert (tlm["battery_mv"], tlm["temperature_c"], tlm["uptime_s"]) == (2840, 19.0, 1094.8)
    assert (tlm["beacon_kind"], tlm["beacon_id"]) == (None, None)


def test_bad_inputs_each_get_a_clear_error() -> None:
    status, lines = run(
        "zz",
        "0201060303aafe0d16",
        "0201060303aafe1716aafe01e3123456789012346789010000000000010000",
        "413e41020103",
        IBEACON,
    )
    assert status == 1
    errors = [line.get("error", "") for line in lines]
    assert errors[0].startswith("not hex")
    assert errors[1].startswith("malformed AD at offset 7: ")
    assert errors[2] == "no beacon frame (skipped: eddystone_frame_0x01)"
    assert errors[3].startswith("malformed AD at offset 0: ")
    assert "frames" in lines[4] and "error" not in lines[4]
    assert [line["input"] for line in lines][:2] == ["zz", "0201060303aafe0d16"]


def test_broken_hci_report() -> None:
    status, (line,) = run("043e0302010003")
    assert status == 1
    assert line["error"].startswith("bad HCI packet at offset ")
    status, (line,) = run("043e0e 0201030135 94efcdd61c 02 0303 c4")
    assert status == 1
    assert line["error"] == (
        "report 1: malformed AD at offset 0: length 3 runs past the end (only 1 follow)"
    )


def test_the_failures_are_counted_on_stderr() -> None:
    result = CliRunner().invoke(app, ["ble", "decode", IBEACON, "zz", "0201"])
    assert result.exit_code == 1 and len(result.stdout.splitlines()) == 3
    assert result.stderr == "citytrack: 2 of 3 input(s) gave no beacon frame\n"
