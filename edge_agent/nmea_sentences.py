"""NMEA 0183 sentence fields to typed values in SI units, strictly.

pynmea2 does the envelope work (talker, sentence type, field split). This module reads the
fields the vehicle agent needs from their raw text and converts them at once: a field that
does not hold what NMEA 0183 says it holds raises :class:`FieldError`. It never passes a raw
string through or invents a number, as pynmea2's own accessors do (a converter that fails
returns the raw string; ``latitude`` returns 0.0 for an empty field).

Sentences read (any talker: GP, GN, GL, GA, GB, BD, QZ, ...): RMC, GGA, GLL, GNS (time and
position), VTG (velocity), GSA (fix mode, DOP), ZDA (date). Fix validity follows gpsd rather
than pynmea2's ``is_valid``: RMC and GLL need status ``A`` and a mode indicator other than
``N`` (an empty one will do); the NMEA 4.1 navigational status is ignored (the Quectel
EG25-G reports ``V`` there alongside good fixes). GGA needs a quality other than 0 or empty,
GNS a mode other than all ``N``. VTG with mode ``N`` says nothing.

Two-digit RMC years are read as 1980-2079, with no GPS week-rollover correction: a receiver
that reports 1999-08-22 after the April 2019 rollover is reported as such, as gpsd does.

Errors::

    FieldError(ValueError)          a field that does not hold what NMEA 0183 says it holds
      .address, .field, .value      sentence address (e.g. "GPRMC"), field name, raw text
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time

import pynmea2

from citytrack.errors import InvalidInputError

KNOT_MPS = 1852.0 / 3600.0
KMH_MPS = 1000.0 / 3600.0

_TOD = re.compile(r"(\d{2})(\d{2})(\d{2})(?:\.(\d*))?")
_DDMMYY = re.compile(r"(\d{2})(\d{2})(\d{2})")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_INTEGER = re.compile(r"\d+")
_LAT = re.compile(r"(\d{1,2})(\d{2}(?:\.\d*)?)")
_LON = re.compile(r"(\d{1,3})(\d{2}(?:\.\d*)?)")
_MODES = re.compile(r"[A-Z]+")


class FieldError(InvalidInputError):
    """A sentence field that does not hold what NMEA 0183 says it holds."""

    def __init__(self, address: str, field: str, value: str, why: str) -> None:
        super().__init__(f"{address}.{field}={value!r}: {why}")
        self.address = address
        self.field = field
        self.value = value


@dataclass(frozen=True, slots=True)
class SentenceReport:
    """What one sentence says about the current epoch; None where it says nothing.

    ``no_fix`` is the sentence's own statement that the receiver has no fix. ``mode`` is
    the GSA fix mode (1 none, 2 2D, 3 3D). Units: degrees, m/s, metres.
    """

    address: str
    kind: str
    tod: time | None = None
    date: date | None = None
    no_fix: bool = False
    lat_deg: float | None = None
    lon_deg: float | None = None
    speed_mps: float | None = None
    course_deg: float | None = None
    alt_m: float | None = None
    quality: int | None = None
    mode: int | None = None
    sats_used: int | None = None
    hdop: float | None = None
    pdop: float | None = None
    vdop: float | None = None


class _Fields:
    """Raw fields of one pynmea2 sentence, read by name and converted strictly."""

    def __init__(self, msg: pynmea2.TalkerSentence) -> None:
        self._msg = msg
        self.kind: str = msg.sentence_type
        self.address = f"{msg.talker}{msg.sentence_type}"

    def raw(self, name: str) -> str:
        index = type(self._msg).name_to_idx[name]
        data: list[str] = self._msg.data
        return data[index].strip() if index < len(data) else ""

    def error(self, name: str, why: str) -> FieldError:
        return FieldError(self.address, name, self.raw(name), why)

    def tod(self, name: str = "timestamp") -> time | None:
        """UTC time of day from hhmmss[.sss]; None when empty."""
        text = self.raw(name)
        if not text:
            return None
        match = _TOD.fullmatch(text)
        if not match:
            raise self.error(name, "not hhmmss[.sss]")
        hh, mm, ss, frac = match.groups()
        if int(hh) > 23 or int(mm) > 59 or int(ss) > 59:
            raise self.error(name, "time of day out of range")
        return time(int(hh), int(mm), int(ss), int((frac or "").ljust(6, "0")[:6]))

    def ddmmyy(self, name: str) -> date | None:
        """Date from ddmmyy, years 80-99 as 19xx and 00-79 as 20xx; None when empty."""
        text = self.raw(name)
        if not text:
            return None
        match = _DDMMYY.fullmatch(text)
        if not match:
            raise self.error(name, "not ddmmyy")
        dd, mm, yy = (int(g) for g in match.groups())
        return self.make_date(name, yy + (1900 if yy >= 80 else 2000), mm, dd)

    def make_date(self, name: str, year: int, month: int, day: int) -> date:
        try:
            return date(year, month, day)
        except ValueError as exc:
            raise self.error(name, str(exc)) from exc

    def number(self, name: str, lo: float | None = None, hi: float | None = None) -> float | None:
        """A decimal number within [lo, hi]; None when empty."""
        text = self.raw(name)
        if not text:
            return None
        if not _NUMBER.fullmatch(text):
            raise self.error(name, "not a decimal number")
        value = float(text)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(name, f"outside [{lo}, {hi}]")
        return value

    def integer(self, name: str, lo: int, hi: int) -> int | None:
        """A non-negative integer within [lo, hi]; None when empty."""
        text = self.raw(name)
        if not text:
            return None
        if not _INTEGER.fullmatch(text) or not lo <= int(text) <= hi:
            raise self.error(name, f"not an integer in [{lo}, {hi}]")
        return int(text)

    def course(self, name: str) -> float | None:
        """True course in [0, 360) degrees (a receiver's 360.0 is 0.0)."""
        value = self.number(name, lo=0.0, hi=360.0)
        return None if value is None else value % 360.0

    def position(self) -> tuple[float | None, float | None]:
        """(lat_deg, lon_deg) from ddmm.mmmm/dddmm.mmmm and N/S/E/W; (None, None) if empty."""
        lat, lon = self.raw("lat"), self.raw("lon")
        if not lat and not lon:
            return None, None
        return (
            self._angle("lat", _LAT, 90.0, {"N": 1.0, "S": -1.0}, "lat_dir"),
            self._angle("lon", _LON, 180.0, {"E": 1.0, "W": -1.0}, "lon_dir"),
        )

    def _angle(
        self, name: str, pattern: re.Pattern[str], limit: float, signs: dict[str, float], hemi: str
    ) -> float:
        match = pattern.fullmatch(self.raw(name))
        if not match:
            raise self.error(name, "not (d)ddmm.mmmm")
        degrees, minutes = int(match.group(1)), float(match.group(2))
        value = degrees + minutes / 60.0
        if minutes >= 60.0 or value > limit:
            raise self.error(name, "out of range")
        sign = signs.get(self.raw(hemi))
        if sign is None:
            raise self.error(hemi, f"hemisphere not one of {'/'.join(signs)}")
        return sign * value


def _rmc(f: _Fields) -> SentenceReport:
    tod, day = f.tod(), f.ddmmyy("datestamp")
    if f.raw("status") != "A" or f.raw("mode_indicator") == "N":
        return SentenceReport(f.address, f.kind, tod=tod, date=day, no_fix=True)
    lat, lon = f.position()
    knots = f.number("spd_over_grnd", lo=0.0)
    return SentenceReport(
        f.address,
        f.kind,
        tod=tod,
        date=day,
        lat_deg=lat,
        lon_deg=lon,
        speed_mps=None if knots is None else knots * KNOT_MPS,
        course_deg=f.course("true_course"),
    )


def _altitude(f: _Fields) -> float | None:
    if f.raw("altitude_units") not in ("", "M"):
        raise f.error("altitude_units", "altitude not in metres")
    return f.number("altitude")


def _gga(f: _Fields) -> SentenceReport:
    tod, quality = f.tod(), f.integer("gps_qual", 0, 9)
    if not quality:
        return SentenceReport(f.address, f.kind, tod=tod, quality=quality, no_fix=True)
    lat, lon = f.position()
    return SentenceReport(
        f.address,
        f.kind,
        tod=tod,
        lat_deg=lat,
        lon_deg=lon,
        quality=quality,
        sats_used=f.integer("num_sats", 0, 99),
        hdop=f.number("horizontal_dil", lo=0.0),
        alt_m=_altitude(f),
    )


def _gll(f: _Fields) -> SentenceReport:
    tod = f.tod()
    if f.raw("status") != "A" or f.raw("faa_mode") == "N":
        return SentenceReport(f.address, f.kind, tod=tod, no_fix=True)
    lat, lon = f.position()
    return SentenceReport(f.address, f.kind, tod=tod, lat_deg=lat, lon_deg=lon)


def _gns(f: _Fields) -> SentenceReport:
    tod, modes = f.tod(), f.raw("mode_indicator")
    if modes and not _MODES.fullmatch(modes):
        raise f.error("mode_indicator", "not one mode letter per constellation")
    if modes and not modes.strip("N"):
        return SentenceReport(f.address, f.kind, tod=tod, no_fix=True)
    lat, lon = f.position()
    return SentenceReport(
        f.address,
        f.kind,
        tod=tod,
        lat_deg=lat,
        lon_deg=lon,
        sats_used=f.integer("num_sats", 0, 99),
        hdop=f.number("hdop", lo=0.0),
        alt_m=f.number("altitude"),
    )


def _vtg(f: _Fields) -> SentenceReport:
    if f.raw("faa_mode") == "N":
        return SentenceReport(f.address, f.kind)
    if f.raw("true_track_sym") not in ("", "T"):
        # NMEA 0183 before 2.0: "$--VTG,track,magtrack,knots,kmh" without unit letters.
        knots, kmh = f.number("mag_track", lo=0.0), f.number("mag_track_sym", lo=0.0)
    else:
        knots = f.number("spd_over_grnd_kts", lo=0.0)
        kmh = f.number("spd_over_grnd_kmph", lo=0.0)
    speed: float | None = None
    if knots is not None:
        speed = knots * KNOT_MPS
    elif kmh is not None:
        speed = kmh * KMH_MPS
    return SentenceReport(f.address, f.kind, speed_mps=speed, course_deg=f.course("true_track"))


def _gsa(f: _Fields) -> SentenceReport:
    return SentenceReport(
        f.address,
        f.kind,
        mode=f.integer("mode_fix_type", 1, 3),
        pdop=f.number("pdop", lo=0.0),
        hdop=f.number("hdop", lo=0.0),
        vdop=f.number("vdop", lo=0.0),
    )


def _zda(f: _Fields) -> SentenceReport:
    tod = f.tod()
    parts = [f.integer(name, 0, 9999) for name in ("year", "month", "day")]
    if None in parts:
        return SentenceReport(f.address, f.kind, tod=tod)
    year, month, day = (p or 0 for p in parts)
    return SentenceReport(f.address, f.kind, tod=tod, date=f.make_date("year", year, month, day))


_READERS: dict[str, Callable[[_Fields], SentenceReport]] = {
    "RMC": _rmc,
    "GGA": _gga,
    "GLL": _gll,
    "GNS": _gns,
    "VTG": _vtg,
    "GSA": _gsa,
    "ZDA": _zda,
}


def read_sentence(msg: pynmea2.NMEASentence) -> SentenceReport | None:
    """Convert one parsed sentence; None for a sentence type the agent does not use.

    Raises:
        FieldError: a field the agent reads is malformed or out of range.
    """
    if not isinstance(msg, pynmea2.TalkerSentence):
        return None
    reader = _READERS.get(msg.sentence_type)
    return None if reader is None else reader(_Fields(msg))
