"""The accelerometer line decoder: what the simulator writes comes back, bad lines are
counted (never raised under errors="skip"), and chunking never matters."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.pctim import ImuDecoder, ImuLineError, ImuSample
from firmware_sim.accelerometer import checksum, format_samples

T = 1_780_000_000.0


def line(body: str, *, cs: str | None = None) -> bytes:
    return f"${body}*{checksum(body) if cs is None else cs}\r\n".encode()


def good(i: int) -> bytes:
    return line(f"PCTIM,{T + i * 0.02:.3f},{0.1 * i:.3f},-0.500,9.806")


def test_what_the_simulator_writes_decodes_to_the_same_numbers() -> None:
    rng = np.random.default_rng(1)
    t = T + np.arange(200) / 50.0
    accel = rng.normal(0.0, 3.0, (200, 3)) + np.array([0.0, 0.0, 9.8])
    decoder = ImuDecoder(errors="raise")
    samples = decoder.feed(format_samples(t, accel))
    assert [s.t_s for s in samples] == pytest.approx(t.tolist(), abs=5e-4)
    got = [(s.ax_mps2, s.ay_mps2, s.az_mps2) for s in samples]
    assert np.allclose(got, accel, atol=5e-4)
    assert decoder.counters.lines_ok == 200 and decoder.counters.bad_lines == 0


BAD = [
    (b"hello world\r\n", "garbage"),
    (b"\x00\xff\xb5b\x01\x07\r\n", "garbage"),  # binary (UBX)
    (line(f"PCTIM,{T:.3f},1,2,3", cs="00"), "bad_checksum"),
    (f"$PCTIM,{T:.3f},1,2,3\r\n".encode(), "bad_checksum"),  # no checksum at all
    (line(f"PCTIM,{T:.3f},1,2"), "garbage"),  # a field missing
    (line(f"PCTIM,{T:.3f},1,,3"), "garbage"),  # an empty field
    (line(f"PCTIM,{T:.3f},1,nan,3"), "garbage"),
    (line("PCTIM,12.5,1,2,3"), "bad_field"),  # a clock that was never set
    (line(f"PCTIM,{T:.3f},1,2,300.5"), "bad_field"),  # beyond 16 g
    (line("GPRMC,1,2,3,4"), "garbage"),  # another sentence
    (b"$PCTIM," + b"1" * 200 + b"\r\n", "overlong"),
]


@pytest.mark.parametrize("bad, counter", BAD)
def test_a_bad_line_is_counted_once_and_the_stream_goes_on(bad: bytes, counter: str) -> None:
    decoder = ImuDecoder()
    samples = decoder.feed(good(0) + bad + good(1))
    assert [s.t_s for s in samples] == [pytest.approx(T), pytest.approx(T + 0.02)]
    counts = decoder.counters.as_dict()
    assert counts.pop(counter) == 1
    assert counts.pop("lines_ok") == 2
    assert set(counts.values()) == {0}
    assert decoder.counters.bad_lines == 1


def test_times_must_go_forward() -> None:
    decoder = ImuDecoder()
    samples = decoder.feed(good(5) + good(3) + good(5) + good(6))
    assert len(samples) == 2
    assert decoder.counters.out_of_order == 2


def test_raise_policy_names_the_reason() -> None:
    with pytest.raises(ImuLineError) as err:
        ImuDecoder(errors="raise").feed(good(0) + line(f"PCTIM,{T + 1:.3f},1,2,3", cs="00"))
    assert err.value.reason == "bad_checksum"
    with pytest.raises(ValueError, match="errors must be"):
        ImuDecoder(errors="ignore")  # type: ignore[arg-type]


def test_line_ends_and_blank_lines() -> None:
    decoder = ImuDecoder()
    data = good(0).replace(b"\r\n", b"\n") + b"\r\n\r\n" + good(1).replace(b"\r\n", b"\r")
    assert len(decoder.feed(data + good(2).rstrip())) == 2
    assert decoder.flush() == [ImuSample(pytest.approx(T + 0.04), 0.2, -0.5, 9.806)]  # type: ignore[arg-type]
    assert decoder.counters.bad_lines == 0


STREAM = b"".join([good(0), b"junk\n", good(1), BAD[2][0], good(2), BAD[-1][0], good(3)])


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_chunking_never_matters(cuts: list[int]) -> None:
    whole = ImuDecoder()
    expected = whole.feed(STREAM) + whole.flush()
    decoder = ImuDecoder()
    got: list[ImuSample] = []
    bounds = [0, *sorted(cuts), len(STREAM)]
    for a, b in pairwise(bounds):
        got += decoder.feed(STREAM[a:b])
    got += decoder.flush()
    assert got == expected and len(got) == 4
    assert decoder.counters == whole.counters
