"""``nmea decode``: the agent's decoder over a raw capture, printing fixes as published."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from citytrack.wire import ContractError, Fix, encode
from edge_agent.nmea import NmeaFixDecoder
from edge_agent.nmea_tool import decode_stream


def test_decode_prints_fixes_as_the_agent_publishes_them(corpora: Path) -> None:
    log = corpora / "nmea" / "gpsd" / "garmin15x.log"
    out, err = io.StringIO(), io.StringIO()
    before = datetime.now(UTC)
    with log.open("rb") as stream:
        assert decode_stream(stream, out, err, device_id="truck-07") == 0
    lines = out.getvalue().splitlines()
    fixes = [Fix.model_validate_json(line) for line in lines]
    decoder = NmeaFixDecoder()
    epochs = decoder.feed(log.read_bytes()) + decoder.flush()
    assert [f.seq for f in fixes] == list(range(1, len(epochs) + 1)) and len(epochs) == 7
    for line, fix, epoch in zip(lines, fixes, epochs, strict=True):
        assert fix.device_id == "truck-07" and before <= fix.recv_time <= datetime.now(UTC)
        assert line.encode() == encode(epoch.to_fix("truck-07", fix.seq, fix.recv_time))
    assert json.loads(err.getvalue()) == decoder.counters.as_dict()


def test_decode_of_nothing_prints_only_counters() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert decode_stream(io.BytesIO(b""), out, err) == 0
    assert out.getvalue() == "" and set(json.loads(err.getvalue()).values()) == {0}


def test_decode_counts_garbage_and_emits_the_last_epoch_at_the_end() -> None:
    data = b"\x00garbage\r\n$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"
    out, err = io.StringIO(), io.StringIO()
    decode_stream(io.BytesIO(data), out, err)  # no line end after the last sentence
    (fix,) = [Fix.model_validate_json(line) for line in out.getvalue().splitlines()]
    assert (fix.device_id, fix.seq, fix.speed_mps) == ("decode", 1, pytest.approx(11.523555555))
    counters = json.loads(err.getvalue())
    assert (counters["garbage"], counters["fixes"]) == (1, 1)


def test_decode_rejects_a_bad_device_id_before_reading() -> None:
    stream = io.BytesIO(b"anything")
    with pytest.raises(ContractError, match="device id"):
        decode_stream(stream, io.StringIO(), io.StringIO(), device_id="not valid!")
    assert stream.tell() == 0
