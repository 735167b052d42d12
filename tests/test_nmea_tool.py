"""``nmea decode``: the agent's decoder over a raw capture, yielding fixes as published."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from citytrack.wire import ContractError
from edge_agent.nmea import NmeaFixDecoder
from edge_agent.nmea_tool import decode_fixes


def test_decode_yields_fixes_as_the_agent_publishes_them(corpora: Path) -> None:
    log = corpora / "nmea" / "gpsd" / "garmin15x.log"
    decoder = NmeaFixDecoder()
    before = datetime.now(UTC)
    with log.open("rb") as stream:
        fixes = list(decode_fixes(stream, decoder, device_id="truck-07"))
    reference = NmeaFixDecoder()
    epochs = reference.feed(log.read_bytes()) + reference.flush()
    assert [f.seq for f in fixes] == list(range(1, len(epochs) + 1)) and len(epochs) == 7
    for fix, epoch in zip(fixes, epochs, strict=True):
        assert fix.device_id == "truck-07" and before <= fix.recv_time <= datetime.now(UTC)
        assert fix == epoch.to_fix("truck-07", fix.seq, fix.recv_time)
    assert decoder.counters.as_dict() == reference.counters.as_dict()


def test_decode_of_nothing_yields_nothing_and_counts_nothing() -> None:
    decoder = NmeaFixDecoder()
    assert list(decode_fixes(io.BytesIO(b""), decoder)) == []
    assert set(decoder.counters.as_dict().values()) == {0}


def test_decode_counts_garbage_and_yields_the_last_epoch_at_the_end() -> None:
    data = b"\x00garbage\r\n$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"
    decoder = NmeaFixDecoder()
    (fix,) = decode_fixes(io.BytesIO(data), decoder)  # no line end after the last sentence
    assert (fix.device_id, fix.seq, fix.speed_mps) == ("decode", 1, pytest.approx(11.523555555))
    counters = decoder.counters.as_dict()
    assert (counters["garbage"], counters["fixes"]) == (1, 1)


def test_decode_rejects_a_bad_device_id_before_reading() -> None:
    stream = io.BytesIO(b"anything")
    with pytest.raises(ContractError, match="device id"):
        decode_fixes(stream, NmeaFixDecoder(), device_id="not valid!")
    assert stream.tell() == 0


def test_the_command_names_a_file_it_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.nmea"
    result = CliRunner().invoke(app, ["nmea", "decode", str(missing)])
    assert result.exit_code == 2
    assert result.stderr == f"citytrack: cannot read {missing}: No such file or directory\n"
    bad_id = CliRunner().invoke(app, ["nmea", "decode", "-", "--device-id", "a b"], input=b"")
    assert bad_id.exit_code == 2
    assert bad_id.stderr == "citytrack: invalid device id 'a b'\n"
