"""The vehicle agent's NMEA 0183 reader: bytes from a GNSS receiver in, one Epoch per fix out.

Sans-I/O: :class:`NmeaFixDecoder` is fed whatever bytes a source read (any chunking gives
the same epochs and counts) and returns the epochs they completed. It never raises on
input; what it cannot use is counted in :class:`NmeaCounters`.

Lines. :mod:`edge_agent.nmea_framing` cuts the stream at ``$`` and line ends. Every piece is
counted once: ``garbage`` (not a sentence: no ``$``, not printable ASCII, no address),
``overlong``, ``no_checksum`` (no ``*hh`` at the end: mostly lines cut short, so these are
rejected although gpsd accepts them; no capture in the corpora relies on them),
``bad_checksum``, ``unsupported`` (a good sentence the agent does not use or pynmea2 cannot
parse), ``bad_field`` (a malformed field, see :mod:`edge_agent.nmea_sentences`), or
``sentences_ok``. Any talker is accepted (GP, GN, GL, GA, GB, BD, QZ, ...).

Epochs. Sentences sharing a time of day are one receiver cycle; sentences without a time
(VTG, GSA, or a time-bearing sentence with its time empty) join the current epoch, and a
second one of the same address (not GSA, which comes once per constellation) starts a new
epoch. A ZDA off the epoch's time only updates the date. An epoch is emitted as soon as the
sentence that ends the receiver's cycle arrives, as gpsd does: at each change of time, the
last sentence of a cycle that gave a fix, with its count in that cycle (e.g. the 3rd GNGSA),
is learnt as a cycle end. A cycle end that fired early (sentences without a time came after
it, or one with its time brought data the emitted epoch lacked) is forgotten, and what came
after it is dropped as that cycle's tail. Without a learnt cycle end an epoch is emitted
when the time changes, or at :meth:`NmeaFixDecoder.flush`. Sentences that arrive after
their epoch was emitted are counted as ``late``; only their date is used.

Each closed epoch counts in ``epochs`` and in one of ``fixes`` (emitted), ``no_fix`` (RMC or
GLL status V or mode N, GGA quality 0, GNS mode all N, or every GSA mode 1), ``no_position``
or ``no_time`` (a position whose UTC date or time of day is unknown: no date from RMC/ZDA
yet). An epoch without a date of its own (GGA only) takes the last known date, moved by a
day when its time of day crosses midnight. Position, speed, course and altitude: the last
sentence in the epoch that gives them wins (as in gpsd's last report of the cycle); speed is
the receiver's (RMC or VTG; knots before km/h), never derived from positions.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import reduce

import pynmea2
from pydantic import ValidationError

from citytrack.counters import Counters
from citytrack.wire import ContractError, Fix
from edge_agent.nmea_framing import CHECKSUM, NmeaFramer
from edge_agent.nmea_sentences import FieldError, SentenceReport, read_sentence

_PRINTABLE = re.compile(rb"[\x20-\x7e]+")
_ADDRESS = re.compile(rb"\$[A-Za-z0-9]{2,20}[,*]")
_HALF_DAY = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Epoch:
    """One GNSS fix merged from a receiver cycle's RMC, GGA, GLL, GNS, VTG, GSA and ZDA.

    ``fix_time`` is the receiver's UTC time (tz-aware). Units: degrees (WGS84, course true),
    m/s (speed over ground from the receiver, never derived from positions), metres above
    mean sea level. ``quality`` is the GGA fix quality, ``mode`` the GSA fix mode (2 or 3).
    """

    fix_time: datetime
    lat_deg: float
    lon_deg: float
    speed_mps: float | None = None
    course_deg: float | None = None
    alt_m: float | None = None
    quality: int | None = None
    mode: int | None = None
    sats_used: int | None = None
    hdop: float | None = None
    pdop: float | None = None
    vdop: float | None = None

    def to_fix(self, device_id: str, seq: int, recv_time: datetime) -> Fix:
        """The wire message for this epoch; ``recv_time`` is when its bytes were read.

        Raises:
            ContractError: ``device_id``, ``seq`` or ``recv_time`` break the contract
                (e.g. seq < 1, a naive recv_time).
        """
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        try:
            return Fix(device_id=device_id, seq=seq, recv_time=recv_time, **values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ContractError(f"invalid fix: {where}: {first['msg']}") from exc


@dataclass
class NmeaCounters(Counters):
    """Monotonic counts of what the decoder read (lines) and assembled (epochs)."""

    sentences_ok: int = 0
    bad_checksum: int = 0
    no_checksum: int = 0
    garbage: int = 0
    overlong: int = 0
    unsupported: int = 0
    bad_field: int = 0
    late: int = 0
    epochs: int = 0
    fixes: int = 0
    no_fix: int = 0
    no_position: int = 0
    no_time: int = 0


@dataclass
class _EpochBuilder:
    """The epoch being assembled: what its sentences said so far."""

    tod: time | None = None
    day: date | None = None
    day_from_zda: bool = False
    no_fix: bool = False
    lat_deg: float | None = None
    lon_deg: float | None = None
    speed_mps: float | None = None
    course_deg: float | None = None
    alt_m: float | None = None
    quality: int | None = None
    mode: int | None = None
    sats_used: int | None = None
    hdop_fix: float | None = None
    hdop_gsa: float | None = None
    pdop: float | None = None
    vdop: float | None = None
    addresses: Counter[str] = field(default_factory=Counter)

    def merge(self, r: SentenceReport) -> None:
        self.addresses[r.address] += 1
        if self.tod is None:
            self.tod = r.tod
        if r.date is not None and (r.kind == "ZDA" or not self.day_from_zda):
            self.day, self.day_from_zda = r.date, r.kind == "ZDA"
        self.no_fix = self.no_fix or r.no_fix
        if r.lat_deg is not None and r.lon_deg is not None:
            self.lat_deg, self.lon_deg = r.lat_deg, r.lon_deg
        for name in ("speed_mps", "course_deg", "alt_m", "quality", "pdop", "vdop"):
            value = getattr(r, name)
            if value is not None:
                setattr(self, name, value)
        if r.mode is not None:
            self.mode = max(self.mode or 0, r.mode)
        if r.sats_used is not None:
            self.sats_used = max(self.sats_used or 0, r.sats_used)
        if r.hdop is not None and r.kind == "GSA":
            self.hdop_gsa = r.hdop
        elif r.hdop is not None:
            self.hdop_fix = r.hdop

    def has(self, address: str) -> bool:
        return self.addresses[address] > 0

    @property
    def empty(self) -> bool:
        return not self.addresses

    @property
    def invalid(self) -> bool:
        return self.no_fix or self.mode == 1

    def known(self) -> frozenset[str]:
        """Names of the facts this epoch holds (for telling whether a late sentence adds any)."""
        values = ((f.name, getattr(self, f.name)) for f in fields(self))
        skip = ("addresses", "day_from_zda")
        return frozenset(n for n, v in values if n not in skip and v not in (None, False))

    def adds(self, r: SentenceReport) -> bool:
        trial = replace(self, addresses=Counter())
        trial.merge(r)
        return not trial.known() <= self.known()

    def build(self, day: date) -> Epoch:
        assert self.tod is not None and self.lat_deg is not None and self.lon_deg is not None
        return Epoch(
            fix_time=datetime.combine(day, self.tod, tzinfo=UTC),
            lat_deg=self.lat_deg,
            lon_deg=self.lon_deg,
            speed_mps=self.speed_mps,
            course_deg=self.course_deg,
            alt_m=self.alt_m,
            quality=self.quality,
            mode=self.mode,
            sats_used=self.sats_used,
            hdop=self.hdop_fix if self.hdop_fix is not None else self.hdop_gsa,
            pdop=self.pdop,
            vdop=self.vdop,
        )


class NmeaFixDecoder:
    """Turns the byte stream of a GNSS receiver into epochs; see the module docstring.

    ``max_line_bytes`` bounds one sentence from ``$`` to before its line end (NMEA 0183
    allows 82 characters; receivers exceed it, and 164 leaves room for them).

    Raises:
        ValueError: ``max_line_bytes`` below 16.
    """

    def __init__(self, *, max_line_bytes: int = 164) -> None:
        if max_line_bytes < 16:
            raise ValueError(f"max_line_bytes must be at least 16, got {max_line_bytes}")
        self.counters = NmeaCounters()
        self._framer = NmeaFramer(max_line_bytes, self.counters)
        self._reset()

    def _reset(self) -> None:
        """Forget the stream: a new one may come from another receiver."""
        self._pending = _EpochBuilder()
        self._date_ref: datetime | None = None  # last UTC date and time the receiver gave
        self._enders: set[tuple[str, int]] = set()  # (address, count in cycle) ending a cycle
        self._cycle_tod: time | None = None
        self._cycle_counts: Counter[str] = Counter()
        self._cycle_last: tuple[str, int] | None = None
        self._fired: tuple[str, int] | None = None  # the cycle end that emitted this cycle
        self._fired_early = False
        self._emitted: _EpochBuilder | None = None  # the epoch a cycle end emitted

    def feed(self, data: bytes) -> list[Epoch]:
        """Read more bytes; returns the epochs they completed, oldest first."""
        out: list[Epoch] = []
        for line in self._framer.feed(data):
            self._read_line(line, out)
        return out

    def flush(self) -> list[Epoch]:
        """End of stream: read a last unterminated line and emit the pending epoch.

        Afterwards the decoder starts afresh (the counters go on counting).
        """
        out: list[Epoch] = []
        for line in self._framer.flush():
            self._read_line(line, out)
        self._close(out)
        self._reset()
        return out

    def _read_line(self, line: bytes, out: list[Epoch]) -> None:
        report = self._classify(line.strip())
        if report is not None:
            self.counters.sentences_ok += 1
            self._assemble(report, out)

    def _classify(self, line: bytes) -> SentenceReport | None:
        """The sentence's report, or None after counting why there is none."""
        c = self.counters
        if not _PRINTABLE.fullmatch(line) or not _ADDRESS.match(line):
            c.garbage += 1
            return None
        checksum = CHECKSUM.search(line)
        if checksum is None:
            c.no_checksum += 1
            return None
        if reduce(operator.xor, line[1 : checksum.start()], 0) != int(checksum.group(1), 16):
            c.bad_checksum += 1
            return None
        try:
            msg = pynmea2.parse(line.decode("ascii"), check=True)
        except (ValueError, LookupError):
            # ParseError: a sentence pynmea2 does not know; IndexError: some of its
            # proprietary parsers index fields a short sentence lacks (e.g. "$PASHR*58").
            c.unsupported += 1
            return None
        try:
            report = read_sentence(msg)
        except FieldError:
            c.bad_field += 1
            return None
        if report is None:
            c.unsupported += 1
        return report

    def _assemble(self, r: SentenceReport, out: list[Epoch]) -> None:
        if r.kind == "ZDA" and not self._joins(r):
            self._note_date(r)  # a clock sentence off the epoch's time: only its date is used
            return
        self._track_cycle(r)
        if r.tod is not None and self._pending.tod is None and self._is_late(r.tod):
            self._late(r)
            return
        if self._starts_new_epoch(r):
            self._close(out)
        self._note_date(r)
        self._pending.merge(r)
        if self._fired is not None:
            self._fired_early = True  # more of this cycle came after its supposed end
        key = (r.address, self._cycle_counts[r.address])
        if self._pending.tod is not None and key in self._enders:
            self._emitted = self._close(out)
            self._fired, self._fired_early = key, False

    def _joins(self, r: SentenceReport) -> bool:
        """Whether a ZDA belongs to the epoch being assembled or the one just emitted."""
        if r.tod is None:
            return False
        if self._pending.tod is not None:
            return r.tod == self._pending.tod
        return self._is_late(r.tod)

    def _is_late(self, tod: time) -> bool:
        """Whether ``tod`` is the time of the epoch a cycle end has just emitted."""
        return self._emitted is not None and tod == self._emitted.tod

    def _track_cycle(self, r: SentenceReport) -> None:
        """Count sentences per receiver cycle; at a change of time, learn the cycle's end."""
        if r.tod is not None and r.tod != self._cycle_tod:
            self._end_cycle()
            self._cycle_tod = r.tod
            self._cycle_counts.clear()
        self._cycle_counts[r.address] += 1
        self._cycle_last = (r.address, self._cycle_counts[r.address])

    def _end_cycle(self) -> None:
        """Learn from the receiver cycle that just ended (only from cycles with a fix)."""
        fired, self._fired = self._fired, None
        epoch = self._emitted if fired is not None else self._pending
        if fired is not None and self._fired_early:
            # It fired before the cycle was over: what came after it is that cycle's tail,
            # not the start of the next epoch.
            self._enders.discard(fired)
            self.counters.late += sum(self._pending.addresses.values())
            self._pending = _EpochBuilder()
        self._fired_early = False
        had_fix = (
            epoch is not None
            and epoch.tod == self._cycle_tod
            and not epoch.invalid
            and epoch.lat_deg is not None
        )
        if had_fix and self._cycle_tod is not None and self._cycle_last is not None:
            self._enders.add(self._cycle_last)

    def _starts_new_epoch(self, r: SentenceReport) -> bool:
        p = self._pending
        if p.empty:
            return False
        if r.tod is not None and p.tod is not None:
            return r.tod != p.tod
        return r.kind != "GSA" and p.has(r.address)

    def _note_date(self, r: SentenceReport) -> None:
        if r.date is not None and r.tod is not None:
            self._date_ref = datetime.combine(r.date, r.tod, tzinfo=UTC)

    def _late(self, r: SentenceReport) -> None:
        self.counters.late += 1
        self._note_date(r)
        if self._emitted is not None and self._emitted.adds(r):
            self._fired_early = True

    def _close(self, out: list[Epoch]) -> _EpochBuilder:
        """Close the pending epoch: count it, and emit it if it is a fix with a known time."""
        p, self._pending = self._pending, _EpochBuilder()
        if p.empty:
            return p
        c = self.counters
        c.epochs += 1
        if p.invalid:
            c.no_fix += 1
        elif p.lat_deg is None or p.lon_deg is None:
            c.no_position += 1
        else:
            day = self._fix_date(p)
            if day is None:
                c.no_time += 1
            else:
                c.fixes += 1
                out.append(p.build(day))
        return p

    def _fix_date(self, p: _EpochBuilder) -> date | None:
        """The epoch's UTC date: its own, else the last known one (across midnight)."""
        if p.tod is None:
            return None
        if p.day is not None:
            return p.day
        if self._date_ref is None:
            return None
        guess = datetime.combine(self._date_ref.date(), p.tod, tzinfo=UTC)
        if guess < self._date_ref - _HALF_DAY:
            guess += timedelta(days=1)
        elif guess > self._date_ref + _HALF_DAY:
            guess -= timedelta(days=1)
        self._date_ref = guess
        return guess.date()
