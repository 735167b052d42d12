"""Property tests of the NMEA reader: no input breaks it, and only good sentences are fixes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citytrack import wire
from edge_agent.nmea import Epoch, NmeaCounters, NmeaFixDecoder
from edge_agent.nmea_sentences import KNOT_MPS
from tests.nmea_text import fragments, lines_counted, nmea

TALKERS = ("GP", "GN", "GL", "GA", "GB", "BD", "QZ")
FAST = settings(max_examples=150, deadline=None)


def decode(data: bytes) -> tuple[list[Epoch], NmeaCounters]:
    decoder = NmeaFixDecoder()
    return decoder.feed(data) + decoder.flush(), decoder.counters


@dataclass(frozen=True)
class Truth:
    """What a receiver knows at one epoch, in the units and precision it prints."""

    talker: str
    when: datetime  # to 1/100 s
    lat_udeg: int  # 1e-6 degree: printed as ddmm.mmmmmm, exactly
    lon_udeg: int
    knots_milli: int
    course_centi: int
    alt_deci: int
    sats: int
    hdop_deci: int


MAX_KNOTS_MILLI = int(wire.MAX_SPEED_MPS / KNOT_MPS * 1000)  # the contract's bound


@st.composite
def truths(draw: st.DrawFn) -> Truth:
    day = draw(st.dates(date(1980, 1, 1), date(2079, 12, 31)))
    hms = draw(st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)))
    when = datetime.combine(day, time(*hms, draw(st.integers(0, 99)) * 10_000), tzinfo=UTC)
    return Truth(
        talker=draw(st.sampled_from(TALKERS)),
        when=when,
        lat_udeg=draw(st.integers(-89_999_999, 89_999_999)),
        lon_udeg=draw(st.integers(-179_999_999, 179_999_999)),
        knots_milli=draw(st.integers(0, MAX_KNOTS_MILLI)),
        course_centi=draw(st.integers(0, 35_999)),
        alt_deci=draw(st.integers(-5_000, 90_000)),
        sats=draw(st.integers(0, 99)),
        hdop_deci=draw(st.integers(0, 999)),
    )


def _ddmm(udeg: int, width: int, hemispheres: str) -> str:
    """``(d)ddmm.mmmmmm,H`` for an angle in 1e-6 degree."""
    deg, rest = divmod(abs(udeg) * 60, 60_000_000)  # rest in 1e-6 minute
    return f"{deg:0{width}d}{rest // 1_000_000:02d}.{rest % 1_000_000:06d},{hemispheres[udeg < 0]}"


def sentences(t: Truth) -> bytes:
    """The RMC and GGA a receiver would send for ``t``."""
    tod = t.when.strftime("%H%M%S") + f".{t.when.microsecond // 10_000:02d}"
    pos = f"{_ddmm(t.lat_udeg, 2, 'NS')},{_ddmm(t.lon_udeg, 3, 'EW')}"
    rmc = f"{t.talker}RMC,{tod},A,{pos},{t.knots_milli / 1000:.3f},{t.course_centi / 100:.2f}"
    gga = f"{t.talker}GGA,{tod},{pos},1,{t.sats:02d},{t.hdop_deci / 10:.1f},{t.alt_deci / 10:.1f}"
    return nmea(f"{rmc},{t.when:%d%m%y},,,A") + nmea(f"{gga},M,0.0,M,,")


@FAST
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise_and_every_piece_is_counted(data: bytes) -> None:
    epochs, counters = decode(data)
    assert epochs == []
    assert lines_counted(counters) == fragments(data)
    assert (
        counters.epochs
        == counters.fixes + counters.no_fix + counters.no_position + counters.no_time
    )


@FAST
@given(
    st.sampled_from(
        [
            "GPRMC",
            "GNGGA",
            "GLGLL",
            "GAGNS",
            "GBVTG",
            "BDGSA",
            "QZZDA",
            "GPGSV",
            "PASHR",
            "PUBX",
            "PTNL",
            "PSXN",
            "PGRME",
            "PMGNST",
            "PSRF",
            "PQTMNAV",
        ]
    ),
    st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="$*"), max_size=80
    ),
)
def test_any_checksummed_sentence_never_raises(address: str, fields: str) -> None:
    for body in (address, f"{address},{fields}"):
        epochs, counters = decode(nmea(body))
        assert lines_counted(counters) == 1 and len(epochs) <= 1


@FAST
@given(truths())
def test_good_sentences_round_trip(t: Truth) -> None:
    (e,), counters = decode(sentences(t))
    assert counters.sentences_ok == 2 and counters.fixes == 1
    assert e.fix_time == t.when
    assert (e.lat_deg, e.lon_deg) == pytest.approx((t.lat_udeg / 1e6, t.lon_udeg / 1e6), abs=1e-9)
    assert e.speed_mps == pytest.approx(t.knots_milli / 1000 * KNOT_MPS, abs=1e-12)
    assert e.course_deg == pytest.approx(t.course_centi / 100, abs=1e-9)
    assert e.alt_m == pytest.approx(t.alt_deci / 10, abs=1e-9)
    assert (e.sats_used, e.hdop, e.quality) == (t.sats, pytest.approx(t.hdop_deci / 10), 1)
    assert e.to_fix("prop", 1, datetime.now(UTC)).lat_deg == e.lat_deg


@FAST
@given(truths(), st.integers(MAX_KNOTS_MILLI + 1, 999_999))
def test_a_speed_beyond_the_contract_is_never_a_fix(t: Truth, knots_milli: int) -> None:
    """A checksum-valid corruption (2.5e20 m/s was seen) decodes, but the contract refuses
    to make it a fix: the agent counts it (``out_of_range``) and sends nothing."""
    (e,), _ = decode(sentences(replace(t, knots_milli=knots_milli)))
    with pytest.raises(wire.ContractError, match="speed_mps"):
        e.to_fix("prop", 1, datetime.now(UTC))


@FAST
@given(st.lists(st.one_of(truths(), st.binary(max_size=40)), max_size=12), st.data())
def test_any_chunking_gives_the_same_epochs_and_counts(
    parts: list[Truth | bytes], data: st.DataObject
) -> None:
    stream = b"".join(p if isinstance(p, bytes) else sentences(p) for p in parts)
    whole, whole_counters = decode(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    decoder = NmeaFixDecoder()
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=False)]
    chunked = [e for piece in pieces for e in decoder.feed(piece)] + decoder.flush()
    assert chunked == whole
    assert decoder.counters == whole_counters


@FAST
@given(st.lists(st.one_of(truths(), st.binary(max_size=60)), min_size=1, max_size=8))
def test_only_good_sentences_give_positions(parts: list[Truth | bytes]) -> None:
    stream = b"".join(p if isinstance(p, bytes) else sentences(p) for p in parts)
    known = {(p.lat_udeg, p.lon_udeg) for p in parts if isinstance(p, Truth)}
    epochs, counters = decode(stream)
    for e in epochs:
        assert (round(e.lat_deg * 1e6), round(e.lon_deg * 1e6)) in known
    assert lines_counted(counters) == fragments(stream)


@FAST
@given(truths(), st.data())
def test_a_corrupted_sentence_is_never_a_position(t: Truth, data: st.DataObject) -> None:
    rmc, gga = sentences(t).splitlines(keepends=True)
    target = data.draw(st.sampled_from([rmc, gga]))
    star = target.index(b"*")
    where = data.draw(st.sampled_from([*range(7, star), star + 1, star + 2]))  # field or digit
    old = target[where : where + 1]
    alphabet = "0123456789ABCDEF" if where > star else "0123456789ABCDEFNSEWV.,-"
    new = data.draw(st.sampled_from(alphabet).map(str.encode).filter(lambda c: c != old))
    corrupted = target[:where] + new + target[where + 1 :]
    epochs, counters = decode(nmea("GPZDA,000000,01,01,2000,00,00") + corrupted)
    assert epochs == [] and counters.bad_checksum == 1, corrupted
    assert counters.sentences_ok == 1 and lines_counted(counters) == 2  # the ZDA, and this


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_corpus_logs_split_anywhere_decode_the_same(corpora: Path, data: st.DataObject) -> None:
    logs = sorted((corpora / "nmea" / "gpsd").glob("*.log"))
    stream = data.draw(st.sampled_from(logs)).read_bytes()
    whole, whole_counters = decode(stream)
    size = data.draw(st.integers(1, 64))
    decoder = NmeaFixDecoder()
    chunked = [e for i in range(0, len(stream), size) for e in decoder.feed(stream[i : i + size])]
    assert chunked + decoder.flush() == whole
    assert decoder.counters == whole_counters
