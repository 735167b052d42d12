"""Unit tests of the NMEA reader: framing, field conversion, epoch merging and emission."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pynmea2
import pytest

from citytrack.wire import ContractError, Fix
from edge_agent.nmea import Epoch, NmeaCounters, NmeaFixDecoder
from edge_agent.nmea_sentences import KNOT_MPS
from tests.nmea_text import nmea

KMH = 1 / 3.6


def cycle(tod: str, *, lat: str = "4807.038", lon: str = "01131.000", knots: str = "2.0") -> bytes:
    """A u-blox-like 1 Hz cycle: RMC, VTG, GGA, GSA (date 23 Mar 1994)."""
    return b"".join(
        [
            nmea(f"GPRMC,{tod},A,{lat},N,{lon},E,{knots},84.4,230394,,,A"),
            nmea(f"GPVTG,84.4,T,,M,{knots},N,{float(knots) * 1.852:.3f},K,A"),
            nmea(f"GPGGA,{tod},{lat},N,{lon},E,1,08,0.9,545.4,M,46.9,M,,"),
            nmea("GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1"),
        ]
    )


def decode(data: bytes) -> tuple[list[Epoch], NmeaCounters]:
    decoder = NmeaFixDecoder()
    epochs = decoder.feed(data) + decoder.flush()
    return epochs, decoder.counters


def test_one_cycle_is_one_epoch_in_si_units() -> None:
    epochs, counters = decode(cycle("123519.50", knots="10.0"))
    assert len(epochs) == 1 and counters.fixes == counters.epochs == 1
    e = epochs[0]
    assert e.fix_time == datetime(1994, 3, 23, 12, 35, 19, 500000, tzinfo=UTC)
    assert e.lat_deg == pytest.approx(48 + 7.038 / 60, abs=1e-12)
    assert e.lon_deg == pytest.approx(11 + 31.0 / 60, abs=1e-12)
    assert e.speed_mps == pytest.approx(10.0 * 1852 / 3600)
    assert (e.course_deg, e.alt_m, e.quality, e.mode, e.sats_used) == (84.4, 545.4, 1, 3, 8)
    assert (e.hdop, e.pdop, e.vdop) == (0.9, 2.5, 2.1)  # hdop from GGA, the others from GSA
    assert counters.sentences_ok == 4


def test_southern_western_hemispheres_are_negative() -> None:
    data = nmea("GPRMC,225446,A,4916.45,S,12311.12,W,000.5,054.7,191194,020.3,E")
    (e,), _ = decode(data)
    assert (e.lat_deg, e.lon_deg) == pytest.approx((-49.274166666, -123.185333333))


def test_speed_comes_from_the_receiver_never_from_positions() -> None:
    far = cycle("120000", lon="01131.000", knots="0.0") + cycle(
        "120001", lon="01132.000", knots="0.0"
    )
    epochs, _ = decode(far)  # 1.2 km apart in one second, yet the receiver says 0 kn
    assert [e.speed_mps for e in epochs] == [0.0, 0.0]
    gga_only = nmea("GPRMC,115959,A,4807.038,N,01131.000,E,,,230394,,,A") + b"".join(
        nmea(f"GPGGA,12000{s},4807.038,N,0113{s}.000,E,1,08,0.9,545.4,M,46.9,M,,") for s in "01"
    )
    epochs, _ = decode(gga_only)
    assert [e.speed_mps for e in epochs] == [None, None, None]


def test_vtg_knots_preferred_then_kmh_and_legacy_layout() -> None:
    rmc = nmea("GPRMC,120000,A,4807.038,N,01131.000,E,,,230394,,,A")
    kmh_only = nmea("GPVTG,10.5,T,,M,,N,36.0,K,A")
    (e,), _ = decode(rmc + kmh_only)
    assert (e.speed_mps, e.course_deg) == pytest.approx((10.0, 10.5))
    legacy = nmea("GPVTG,054.7,034.4,005.5,010.2")  # NMEA 0183 1.5: no unit letters
    (e,), _ = decode(rmc + legacy)
    assert (e.speed_mps, e.course_deg) == pytest.approx((5.5 * KNOT_MPS, 54.7))


def test_course_360_is_0() -> None:
    (e,), _ = decode(nmea("GPRMC,120000,A,4807.038,N,01131.000,E,1.0,360.0,230394,,,A"))
    assert e.course_deg == 0.0
    assert e.to_fix("bus-1", 1, datetime.now(UTC)).course_deg == 0.0


@pytest.mark.parametrize("talker", ["GP", "GN", "GL", "GA", "GB", "BD", "QZ", "GI"])
def test_every_gnss_talker(talker: str) -> None:
    (e,), _ = decode(nmea(f"{talker}RMC,120000,A,4807.038,N,01131.000,E,1.0,10.0,230394,,,A"))
    assert e.lat_deg == pytest.approx(48.1173)


@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b"\r", b"\n\r", b"\r\r\n"])
def test_line_endings(ending: bytes) -> None:
    data = cycle("120000") + cycle("120001")
    epochs, counters = decode(data.replace(b"\r\n", ending))
    assert epochs == decode(data)[0] and len(epochs) == 2
    assert counters.garbage == 0 and counters.sentences_ok == 8


def test_garbage_before_a_dollar_resyncs_there() -> None:
    rmc = nmea("GPRMC,120000,A,4807.038,N,01131.000,E,1.0,10.0,230394,,,A")
    data = b"\x00\x00\xff noise $" + rmc + b"#comment $GPGGA,half a sentence\r\n" + b"\x00" * 5
    epochs, counters = decode(data)
    assert len(epochs) == 1
    # the noise, the "$" of "$$", the comment, the NUL padding; the cut GGA has no checksum
    assert (counters.garbage, counters.no_checksum, counters.sentences_ok) == (4, 1, 1)


def test_binary_ubx_between_sentences_is_garbage_never_a_position() -> None:
    ubx = bytes.fromhex("b5620107 5c00 a8b3 1a0e e707 0307 0a29 0d37") + b"\r\n\x00$\x01"
    data = ubx + cycle("120000") + ubx * 3 + cycle("120001") + ubx
    epochs, counters = decode(data)
    assert [e.fix_time.second for e in epochs] == [0, 1]
    assert counters.garbage > 0 and counters.bad_checksum == 0


def test_truncated_and_unchecked_lines_are_rejected() -> None:
    cut = nmea("GPRMC,120000,A,4807.038,N,01131.000,E,1.0,10.0,230394,,,A")[:30] + b"\r\n"
    unchecked = b"$GPRMC,120001,A,4807.038,N,01131.000,E,1.0,10.0,230394,,,A\r\n"
    epochs, counters = decode(cut + unchecked)
    assert epochs == [] and counters.no_checksum == 2


def test_bad_checksum_is_counted_and_never_a_position() -> None:
    good = nmea("GPRMC,120000,A,4807.038,N,01131.000,E,1.0,10.0,230394,,,A")
    epochs, counters = decode(good.replace(b"4807", b"4808"))
    assert epochs == [] and counters.bad_checksum == 1 and counters.epochs == 0


def test_lowercase_checksum_is_fine() -> None:
    data = b"$GNRMC,103607.00,A,5327.03942,N,10214.42462,W,0.046,,060321,,,A,V*0e\r\n"
    (e,), _ = decode(data)
    assert e.lon_deg == pytest.approx(-102.2404103333)


def test_overlong_line_is_dropped_up_to_the_next_dollar() -> None:
    rmc = nmea("GPRMC,120000,A,4807.038,N,01131.000,E,1.0,10.0,230394,,,A")
    decoder = NmeaFixDecoder(max_line_bytes=100)
    epochs = decoder.feed(b"$GPTXT," + b"A" * 500 + b"\r\n" + b"$PUBX," + b"9" * 200 + rmc)
    assert len(epochs + decoder.flush()) == 1
    assert decoder.counters.overlong == 2 and decoder.counters.garbage == 0


def test_a_complete_sentence_cut_off_by_the_next_dollar_is_kept() -> None:
    gga = nmea("GPGGA,120000,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,", end="")
    rmc = nmea("GPRMC,120000,A,4807.038,N,01131.000,E,1.0,10.0,230394,,,A")
    (e,), counters = decode(gga + rmc)
    assert (counters.sentences_ok, e.alt_m, e.speed_mps) == (2, 545.4, pytest.approx(KNOT_MPS))


@pytest.mark.parametrize("line", [b"$PASHR*58", b"$PUBX*1F", b"$PTNL*06", b"$GPTXT*4F"])
def test_short_sentences_pynmea2_chokes_on_are_unsupported(line: bytes) -> None:
    epochs, counters = decode(line + b"\r\n")  # pynmea2.parse raises IndexError on some
    assert epochs == [] and counters.unsupported == 1


def test_max_line_bytes_is_checked() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        NmeaFixDecoder(max_line_bytes=8)


@pytest.mark.parametrize(
    "sentence",
    [
        "GPRMC,120000,V,4807.038,N,01131.000,E,1.0,10.0,230394,,,N",  # status V
        "GPRMC,120000,A,4807.038,N,01131.000,E,1.0,10.0,230394,,,N",  # mode N
        "GPGGA,120000,4807.038,N,01131.000,E,0,00,99.9,,,,,,",  # quality 0
        "GPGLL,4807.038,N,01131.000,E,120000,V,N",
        "GNGNS,120000,4807.038,N,01131.000,E,NNN,00,,,,,",
    ],
)
def test_invalid_fix_is_counted_not_emitted(sentence: str) -> None:
    date_known = nmea("GPZDA,110000,23,03,1994,00,00")
    epochs, counters = decode(date_known + nmea(sentence))
    assert epochs == [] and counters.no_fix == counters.epochs == 1


def test_gsa_mode_1_alone_is_no_fix_but_one_good_constellation_is_a_fix() -> None:
    rmc = nmea("GNRMC,120000,A,4807.038,N,01131.000,E,1.0,10.0,230394,,,A")
    epochs, counters = decode(rmc + nmea("GNGSA,A,1,,,,,,,,,,,,,99.9,99.9,99.9,1"))
    assert epochs == [] and counters.no_fix == 1
    gsas = nmea("GNGSA,A,1,,,,,,,,,,,,,2.0,1.0,1.7,3") + nmea(
        "GNGSA,A,3,1,2,3,4,,,,,,,,,2.0,1.0,1.7,1"
    )
    (e,), _ = decode(rmc + gsas)
    assert e.mode == 3


@pytest.mark.parametrize(
    "sentence",
    [
        "GNRMC,121614.00,A,5327.04173,N,00214.41443,W,X.138,,200122,,,A,V",  # speed
        "GPRMC,000231.099,A,4829.0005,N,00022.0015,E,0.15,212.28,2208-1,,,A",  # date
        "GPRMC,120000,A,4807.0x8,N,01131.000,E,1.0,10.0,230394,,,A",  # latitude
        "GPRMC,120000,A,4867.038,N,01131.000,E,1.0,10.0,230394,,,A",  # 67 minutes
        "GPRMC,120000,A,4807.038,Q,01131.000,E,1.0,10.0,230394,,,A",  # hemisphere
        "GPRMC,120000,A,4807.038,N,,E,1.0,10.0,230394,,,A",  # half a position
        "GPRMC,126000,A,4807.038,N,01131.000,E,1.0,10.0,230394,,,A",  # 60 minutes
        "GPRMC,120000,A,4807.038,N,01131.000,E,nan,10.0,230394,,,A",  # not NMEA numbers
        "GPRMC,120000,A,4807.038,N,01131.000,E,1e3,10.0,230394,,,A",
        "GPRMC,120000,A,4807.038,N,01131.000,E,-1.0,10.0,230394,,,A",  # negative speed
        "GPRMC,120000,A,4807.038,N,01131.000,E,1.0,361.0,230394,,,A",  # course
        "GPGGA,120000,4807.038,N,01131.000,E,1,0x8,0.9,545.4,M,46.9,M,,",  # satellites
        "GPGGA,120000,4807.038,N,01131.000,E,1,08,0.9,545.4,F,46.9,M,,",  # feet
        "GNGSA,A,4,1,2,3,4,,,,,,,,,2.0,1.0,1.7,1",  # mode
        "GNGNS,120000,4807.038,N,01131.000,E,A1,08,1.0,545.4,46.9,,",  # mode letters
        "GPZDA,120000,31,02,1994,00,00",  # 31 February
    ],
)
def test_malformed_field_is_a_counted_parse_error_never_a_number(sentence: str) -> None:
    epochs, counters = decode(nmea("GPZDA,110000,23,03,1994,00,00") + nmea(sentence))
    assert epochs == [] and counters.bad_field == 1 and counters.sentences_ok == 1


def test_pynmea2_alone_would_pass_the_raw_string_through() -> None:
    line = nmea("GNRMC,121614.00,A,5327.04173,N,00214.41443,W,X.138,,200122,,,A,V").decode()
    assert pynmea2.parse(line.strip(), check=True).spd_over_grnd == "X.138"  # why we read raw
    empty = nmea("GPGGA,201716.684,,,,,1,00,,,M,0.0,M,,0000").decode().strip()
    assert pynmea2.parse(empty).latitude == 0.0
    epochs, counters = decode(nmea("GPZDA,110000,23,03,1994,00,00") + empty.encode() + b"\n")
    assert epochs == [] and counters.no_position == 1


def test_no_date_known_means_no_epoch_then_the_last_date_is_used() -> None:
    gga = "GPGGA,{},4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"
    before = b"".join(nmea(gga.format(t)) for t in ("235957", "235958"))
    rmc = nmea("GPRMC,235959,A,4807.038,N,01131.000,E,1.0,10.0,311294,,,A")
    after = b"".join(nmea(gga.format(t)) for t in ("000000", "000001"))
    epochs, counters = decode(before + rmc + after)
    assert counters.no_time == 2 and counters.fixes == 3
    assert [e.fix_time for e in epochs] == [
        datetime(1994, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1995, 1, 1, 0, 0, 0, tzinfo=UTC),  # across midnight and the new year
        datetime(1995, 1, 1, 0, 0, 1, tzinfo=UTC),
    ]


def test_zda_gives_the_date_and_wins_over_a_two_digit_year() -> None:
    gga = nmea("GPGGA,120000,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")
    (e,), _ = decode(nmea("GPZDA,115959,22,08,2019,00,00") + gga)
    assert e.fix_time.date() == date(2019, 8, 22)
    rmc = nmea("GPRMC,120000,A,4807.038,N,01131.000,E,1.0,10.0,220899,,,A")
    (e,), _ = decode(rmc + nmea("GPZDA,120000,07,04,2019,00,00"))
    assert e.fix_time.date() == date(2019, 4, 7)
    (e,), _ = decode(rmc)  # as gpsd: no week-rollover correction of the receiver's date
    assert e.fix_time.date() == date(1999, 8, 22)


def test_a_learnt_cycle_end_emits_without_waiting_for_the_next_cycle() -> None:
    decoder = NmeaFixDecoder()
    assert decoder.feed(cycle("120000") + cycle("120001")) != []  # 12:00:00, at the time change
    third = cycle("120002")
    *head, gsa = third.splitlines(keepends=True)
    assert decoder.feed(b"".join(head)) == []
    (e,) = decoder.feed(gsa)  # the GSA ends this receiver's cycle
    assert e.fix_time.time() == time(12, 0, 2) and e.pdop == 2.5


def test_without_a_cycle_end_the_epoch_is_emitted_when_the_time_changes() -> None:
    decoder = NmeaFixDecoder()
    assert decoder.feed(cycle("120000")) == []
    (e,) = decoder.feed(nmea("GPRMC,120001,A,4807.038,N,01131.000,E,,,230394,,,A"))
    assert e.fix_time.second == 0
    (e,) = decoder.flush()
    assert e.fix_time.second == 1


def test_a_cycle_end_that_fires_early_is_forgotten() -> None:
    def rmc(t: str) -> bytes:
        return nmea(f"GPRMC,{t},A,4807.038,N,01131.000,E,,,230394,,,A")

    def vtg(knots: int) -> bytes:
        return nmea(f"GPVTG,10.0,T,,M,{knots}.0,N,,K,A")

    decoder = NmeaFixDecoder()
    epochs = decoder.feed(rmc("120000") + rmc("120001") + rmc("120002"))  # learns: RMC ends
    epochs += decoder.feed(vtg(2) + rmc("120003") + vtg(3) + rmc("120004") + vtg(4))
    epochs += decoder.flush()
    speeds = {e.fix_time.second: e.speed_mps for e in epochs}
    # 12:00:02 went out at its RMC; its VTG then fell into 12:00:03, which showed the RMC
    # end was wrong; from then on each VTG is in its own epoch, which it ends.
    assert speeds[3] == pytest.approx(3 * KNOT_MPS) and speeds[4] == pytest.approx(4 * KNOT_MPS)
    assert speeds[2] is None


def test_sentences_after_their_epoch_went_out_are_late_not_a_second_epoch() -> None:
    # GPS-320FW: the cycle ends at GSA, but every other cycle a GLL, now and then a ZDA.
    gll = "GPGLL,4807.038,N,01131.000,E,{},A,A"
    data = cycle("120000") + cycle("120001") + nmea(gll.format("120001"))
    data += cycle("120002") + nmea(gll.format("120002")) + nmea("GPZDA,120002,23,03,1994,00,00")
    decoder = NmeaFixDecoder()
    epochs = decoder.feed(data)
    assert [e.fix_time.second for e in epochs] == [0, 1, 2]  # each at its GSA
    assert decoder.flush() == []
    assert decoder.counters.late == 3 and decoder.counters.epochs == 3


def test_a_repeated_untimed_sentence_starts_a_new_epoch() -> None:
    # Telit HE910 at power-up: whole cycles without a time, then its first fix.
    blank = b"".join(
        nmea(s)
        for s in (
            "GPGGA,,,,,,0,,,,M,,M,,",
            "GPGLL,,,,,,V,N",
            "GPGSA,A,1,,,,,,,,,,,,,,,",
            "GPRMC,,V,,,,,,,,,,N",
        )
    )
    epochs, counters = decode(blank * 3 + cycle("105153.71"))
    assert counters.no_fix == 3 and len(epochs) == 1 and epochs[0].quality == 1


def test_a_zda_off_the_epoch_time_only_gives_the_date() -> None:
    # gpsbabel's reference capture: the ZDA has whole seconds, the fix .379 s more.
    gga = "GPGGA,{}.379,4231.8291,N,08807.3033,W,1,05,1.6,209.8,M,-34.2,M,0.0,0000"
    data = b"".join(
        nmea(f"GPZDA,{t},07,08,2004,00,00") + nmea(gga.format(t)) for t in ("032908", "032909")
    )
    epochs, counters = decode(data)
    assert [e.fix_time for e in epochs] == [
        datetime(2004, 8, 7, 3, 29, s, 379000, tzinfo=UTC) for s in (8, 9)
    ]
    assert counters.epochs == 2 and counters.no_position == 0


def test_flush_emits_the_pending_epoch_and_the_decoder_goes_on() -> None:
    decoder = NmeaFixDecoder()
    assert decoder.feed(cycle("120000")) == []
    assert len(decoder.flush()) == 1
    assert decoder.flush() == []
    assert decoder.feed(cycle("120005")) == []  # a new stream: nothing learnt carries over
    assert [e.fix_time.second for e in decoder.flush()] == [5]


def test_epoch_to_fix_is_the_wire_message() -> None:
    (e,), _ = decode(cycle("120000"))
    recv = datetime(1994, 3, 23, 12, 0, 1, tzinfo=UTC)
    fix = e.to_fix("truck-07", 42, recv)
    assert isinstance(fix, Fix)
    assert (fix.device_id, fix.seq, fix.recv_time, fix.fix_time) == (
        "truck-07",
        42,
        recv,
        e.fix_time,
    )
    assert (fix.lat_deg, fix.speed_mps, fix.mode, fix.hdop) == (e.lat_deg, e.speed_mps, 3, 0.9)
    with pytest.raises(ContractError, match="seq"):
        e.to_fix("truck-07", 0, recv)
    with pytest.raises(ContractError, match="device_id"):
        e.to_fix("no spaces", 1, recv)


def test_counters_as_dict() -> None:
    _, counters = decode(b"junk\n" + cycle("120000"))
    as_dict = counters.as_dict()
    assert as_dict["garbage"] == 1 and as_dict["fixes"] == 1 and as_dict["sentences_ok"] == 4
    assert set(as_dict) >= {"bad_checksum", "unsupported", "epochs", "no_fix"}
    assert all(type(v) is int for v in as_dict.values())
