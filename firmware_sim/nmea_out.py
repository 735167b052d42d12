"""NMEA 0183 output of a receiver report: RMC, VTG, GGA, GSA and GSV, as a u-blox does it.

Each epoch renders, in this order (the u-blox default, see ``neo-m8n.log`` in gpsd's test
captures): ``RMC`` (knots), ``VTG`` (knots and km/h), ``GGA``, ``GSA``, and ``GSV`` split in
sentences of four satellites. Sentences are built with ``pynmea2`` (which computes the
checksums) and end in CR LF. Times carry hundredths (``hhmmss.ss``), positions five decimals
of minutes (about 2 cm), as NMEA 4.x receivers print them.

Without a fix the receiver keeps talking: ``RMC`` status ``V`` and mode ``N`` with empty
position, ``GGA`` quality 0, ``GSA`` fix type 1, DOPs 99.99, an empty ``VTG``, and ``GSV``
as usual. The course is empty at (near) standstill.

The talker is ``GP`` (GPS only) or ``GN`` (multi-constellation style) for RMC, VTG, GGA and
GSA; ``GSV`` always uses ``GP`` because it lists GPS satellites (a GNSS receiver also
reports GSV per constellation).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pynmea2

from firmware_sim.gps import ReceiverReport
from firmware_sim.sky import NO_DOP, SatelliteView

TALKERS = ("GP", "GN")
KNOTS_PER_MPS = 3600.0 / 1852.0
GEOID_SEPARATION_M = 36.7  # EGM96 geoid above WGS84 ellipsoid around Osaka
SATS_PER_GSV = 4


def _hhmmss(t: datetime) -> str:
    return f"{t:%H%M%S}.{t.microsecond // 10_000:02d}"


def _ddmmyy(t: datetime) -> str:
    return f"{t:%d%m%y}"


def _angle(value_deg: float, degree_digits: int) -> str:
    """Degrees as (d)ddmm.mmmmm, unsigned."""
    total_min = round(abs(value_deg) * 60.0, 5)
    deg, minutes = divmod(total_min, 60.0)
    return f"{int(deg):0{degree_digits}d}{minutes:08.5f}"


def lat_fields(lat_deg: float) -> tuple[str, str]:
    """Latitude as NMEA (ddmm.mmmmm, N|S)."""
    return _angle(lat_deg, 2), "N" if lat_deg >= 0 else "S"


def lon_fields(lon_deg: float) -> tuple[str, str]:
    """Longitude as NMEA (dddmm.mmmmm, E|W)."""
    return _angle(lon_deg, 3), "E" if lon_deg >= 0 else "W"


def _dop(value: float) -> str:
    return f"{min(value, NO_DOP):.2f}"


def rmc(r: ReceiverReport, talker: str = "GP") -> pynmea2.RMC:
    """Recommended minimum data: time, status, position, speed (knots), course, date."""
    if not r.fix or r.lat_deg is None or r.lon_deg is None or r.speed_mps is None:
        fields = [_hhmmss(r.time), "V", "", "", "", "", "", "", _ddmmyy(r.time), "", "", "N"]
        return pynmea2.RMC(talker, "RMC", tuple(fields))
    course = "" if r.course_deg is None else f"{r.course_deg:.2f}"
    fields = [
        _hhmmss(r.time),
        "A",
        *lat_fields(r.lat_deg),
        *lon_fields(r.lon_deg),
        f"{r.speed_mps * KNOTS_PER_MPS:.3f}",
        course,
        _ddmmyy(r.time),
        "",
        "",
        "A",
    ]
    return pynmea2.RMC(talker, "RMC", tuple(fields))


def vtg(r: ReceiverReport, talker: str = "GP") -> pynmea2.VTG:
    """Course and speed over ground: knots and km/h."""
    if not r.fix or r.speed_mps is None:
        return pynmea2.VTG(talker, "VTG", ("", "", "", "", "", "", "", "", "N"))
    course = "" if r.course_deg is None else f"{r.course_deg:.2f}"
    fields = (
        course,
        "T",
        "",
        "M",
        f"{r.speed_mps * KNOTS_PER_MPS:.3f}",
        "N",
        f"{r.speed_mps * 3.6:.3f}",
        "K",
        "A",
    )
    return pynmea2.VTG(talker, "VTG", fields)


def gga(r: ReceiverReport, talker: str = "GP") -> pynmea2.GGA:
    """Fix data: time, position, quality, satellites in use, HDOP, altitude."""
    used = f"{len(r.sky.used_prns):02d}"
    if not r.fix or r.lat_deg is None or r.lon_deg is None or r.alt_m is None:
        fields = (_hhmmss(r.time), "", "", "", "", "0", used, _dop(NO_DOP), "", "", "", "", "", "")
        return pynmea2.GGA(talker, "GGA", fields)
    fields = (
        _hhmmss(r.time),
        *lat_fields(r.lat_deg),
        *lon_fields(r.lon_deg),
        "1",
        used,
        _dop(r.sky.hdop),
        f"{r.alt_m:.1f}",
        "M",
        f"{GEOID_SEPARATION_M:.1f}",
        "M",
        "",
        "",
    )
    return pynmea2.GGA(talker, "GGA", fields)


def gsa(r: ReceiverReport, talker: str = "GP") -> pynmea2.GSA:
    """DOP and satellites in use (up to 12 PRNs)."""
    prns = [f"{p:02d}" for p in r.sky.used_prns[:12]]
    prns += [""] * (12 - len(prns))
    if not r.fix:
        return pynmea2.GSA(talker, "GSA", ("A", "1", *prns, *[_dop(NO_DOP)] * 3))
    dops = (_dop(r.sky.pdop), _dop(r.sky.hdop), _dop(r.sky.vdop))
    return pynmea2.GSA(talker, "GSA", ("A", "3", *prns, *dops))


def gsv(satellites: Sequence[SatelliteView], talker: str = "GP") -> list[pynmea2.GSV]:
    """Satellites in view, four per sentence: PRN, elevation, azimuth, SNR (empty = none)."""
    chunks = [satellites[i : i + SATS_PER_GSV] for i in range(0, len(satellites), SATS_PER_GSV)]
    chunks = chunks or [[]]
    out = []
    for n, chunk in enumerate(chunks, start=1):
        fields = [str(len(chunks)), str(n), f"{len(satellites):02d}"]
        for s in chunk:
            snr = "" if s.snr_dbhz is None else f"{s.snr_dbhz:02d}"
            fields += [f"{s.prn:02d}", f"{s.elevation_deg:02d}", f"{s.azimuth_deg:03d}", snr]
        out.append(pynmea2.GSV(talker, "GSV", tuple(fields)))
    return out


def render_epoch(report: ReceiverReport, talker: str = "GP") -> list[str]:
    """The epoch's sentences, rendered with checksums, without line endings.

    Raises:
        ValueError: a talker other than those of ``TALKERS``.
    """
    if talker not in TALKERS:
        raise ValueError(f"talker must be one of {TALKERS}, got {talker!r}")
    sentences: list[pynmea2.NMEASentence] = [
        rmc(report, talker),
        vtg(report, talker),
        gga(report, talker),
        gsa(report, talker),
        *gsv(report.sky.satellites, "GP"),
    ]
    return [s.render(checksum=True, dollar=True, newline=False) for s in sentences]


def format_epoch(report: ReceiverReport, talker: str = "GP") -> bytes:
    """The epoch as bytes on the wire: ASCII sentences, each ending in CR LF.

    Raises:
        ValueError: a talker other than those of ``TALKERS``.
    """
    return "".join(line + "\r\n" for line in render_epoch(report, talker)).encode("ascii")
