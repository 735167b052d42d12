"""Beacon passages at a station: advertisements in, one ``Visit`` per visit out.

Pure: no clock (time is the advertisement's), no I/O. A station hears a tag many times a
second; the hub wants to know that a child *passed*, once, and when it was closest.

Smoothing. RSSI jumps by several dB from one advertisement to the next (multipath, the
child's body, the tag's orientation) and packets are lost. Each beacon keeps its last
``cfg.window`` advertisements; the smoothed RSSI is their median, defined once the window
is full. The median describes the middle of its window, so the time attached to a smoothed
value is the time of the window's middle advertisement: a median over the last five does
not make the closest approach look two advertisements late.

Visits, with hysteresis::

    smoothed >= leave_rssi_dbm   an approach starts; first_seen = oldest advertisement
                                 in the window (the ones that brought it here)
    smoothed >= enter_rssi_dbm   the approach is ENTERED: it will be reported
    smoothed <  leave_rssi_dbm   the approach ends (the advertisement that ended it is
                                 not part of it)
    silent  >  away_timeout_s    the approach ends and the window is forgotten

An approach that ends without ever being entered reports nothing: a tag that never comes
near the station never passes it. Gaps shorter than ``away_timeout_s`` (packet loss, a
child's body in the way) do not split a visit.

Per beacon (``beacon_kind``, ``beacon_id``), advertisements must come in time order; one
older than the beacon's last is taken as heard at that last time (a wall clock stepped
back by NTP must not end a visit).

A mobile detector (a phone, a bus) reports where it was at the closest approach:
:class:`PositionTrack` keeps its recent positions and answers "where at time t".
"""

from __future__ import annotations

import statistics
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from citytrack.config.watch import PassageDetectorConfig
from citytrack.wire import BeaconKind

BeaconKey = tuple[BeaconKind, str]
LatLon = tuple[float, float]


@dataclass(frozen=True)
class Advertisement:
    """One advertisement of an identified beacon, as heard by the station.

    ``time`` is UTC (timezone-aware); ``rssi_dbm`` as received; ``tx_power_dbm`` the
    calibrated power the frame carries (iBeacon at 1 m, Eddystone at 0 m), if any.
    """

    time: datetime
    beacon_kind: BeaconKind
    beacon_id: str
    rssi_dbm: float
    tx_power_dbm: int | None = None

    @property
    def key(self) -> BeaconKey:
        return (self.beacon_kind, self.beacon_id)


@dataclass(frozen=True)
class Visit:
    """One visit of a beacon to the station.

    Times UTC with ``first_seen <= closest_time <= last_seen``; ``peak_rssi_dbm`` is the
    highest smoothed RSSI (dBm) and ``closest_time`` when it was reached; ``adv_count``
    counts the advertisements of the visit; ``tx_power_dbm`` is the latest calibrated
    power heard (None if the frames carry none).
    """

    beacon_kind: BeaconKind
    beacon_id: str
    first_seen: datetime
    last_seen: datetime
    closest_time: datetime
    peak_rssi_dbm: float
    adv_count: int
    tx_power_dbm: int | None


@dataclass(frozen=True)
class _Heard:
    time: datetime
    rssi_dbm: float


@dataclass(frozen=True)
class BeaconTrack:
    """What the detector remembers about one beacon.

    ``window``: the last ``cfg.window`` advertisements, oldest first; ``last_time``: the
    latest advertisement's time; ``visit``: the approach in progress, summarised so far
    (None when the beacon is far); ``entered``: whether that approach reached
    ``enter_rssi_dbm``.
    """

    window: tuple[_Heard, ...]
    last_time: datetime
    visit: Visit | None = None
    entered: bool = False


def _smoothed(window: tuple[_Heard, ...], size: int) -> tuple[float, datetime] | None:
    """Median RSSI of a full window (dBm) and the time it describes; None if not full."""
    if len(window) < size:
        return None
    return statistics.median(h.rssi_dbm for h in window), window[len(window) // 2].time


def _silent(track: BeaconTrack, now: datetime, cfg: PassageDetectorConfig) -> bool:
    return now - track.last_time > timedelta(seconds=cfg.away_timeout_s)


def _reported(track: BeaconTrack) -> list[Visit]:
    return [track.visit] if track.visit is not None and track.entered else []


def _begin(
    window: tuple[_Heard, ...], adv: Advertisement, rssi: float, at: datetime, tx: int | None
) -> Visit:
    return Visit(
        beacon_kind=adv.beacon_kind,
        beacon_id=adv.beacon_id,
        first_seen=window[0].time,
        last_seen=adv.time,
        closest_time=at,
        peak_rssi_dbm=rssi,
        adv_count=len(window),
        tx_power_dbm=tx,
    )


def _extend(visit: Visit, when: datetime, rssi: float, at: datetime, tx: int | None) -> Visit:
    closer = rssi > visit.peak_rssi_dbm
    return replace(
        visit,
        last_seen=when,
        closest_time=at if closer else visit.closest_time,
        peak_rssi_dbm=rssi if closer else visit.peak_rssi_dbm,
        adv_count=visit.adv_count + 1,
        tx_power_dbm=tx if tx is not None else visit.tx_power_dbm,
    )


def step(
    track: BeaconTrack | None, adv: Advertisement, cfg: PassageDetectorConfig
) -> tuple[BeaconTrack, list[Visit]]:
    """Feed one advertisement of the beacon ``track`` follows (None: a beacon not yet heard).

    Returns the new track and the visit that ended, if any: the previous one when the
    beacon had been silent for more than ``away_timeout_s``, or the current one when this
    advertisement takes the smoothed RSSI below ``leave_rssi_dbm``.
    """
    done: list[Visit] = []
    if track is not None and adv.time < track.last_time:
        adv = replace(adv, time=track.last_time)
    if track is not None and _silent(track, adv.time, cfg):
        done += _reported(track)
        track = None
    window = ((track.window if track else ()) + (_Heard(adv.time, adv.rssi_dbm),))[-cfg.window :]
    visit = track.visit if track else None
    entered = track.entered if track else False
    smooth = _smoothed(window, cfg.window)
    if smooth is None:
        return BeaconTrack(window, adv.time, visit, entered), done
    rssi, at = smooth
    if visit is not None and rssi < cfg.leave_rssi_dbm:
        done += _reported(BeaconTrack(window, adv.time, visit, entered))
        visit, entered = None, False
    elif visit is not None:
        visit = _extend(visit, adv.time, rssi, at, adv.tx_power_dbm)
    elif rssi >= cfg.leave_rssi_dbm:
        visit = _begin(window, adv, rssi, at, adv.tx_power_dbm)
    entered = entered or (visit is not None and rssi >= cfg.enter_rssi_dbm)
    return BeaconTrack(window, adv.time, visit, entered), done


def expire(
    track: BeaconTrack, now: datetime, cfg: PassageDetectorConfig
) -> tuple[BeaconTrack | None, list[Visit]]:
    """End the track if the beacon has been silent for more than ``away_timeout_s`` at
    ``now`` (UTC): returns (None, the visit if it was entered); else (track, [])."""
    if not _silent(track, now, cfg):
        return track, []
    return None, _reported(track)


class PassageDetector:
    """Visits of every beacon one station hears (see the module docstring).

    Not thread-safe: one station's advertisements go through one thread.
    """

    def __init__(self, cfg: PassageDetectorConfig) -> None:
        self.cfg = cfg
        self._tracks: dict[BeaconKey, BeaconTrack] = {}

    def __len__(self) -> int:
        """Beacons currently remembered (heard within ``away_timeout_s``)."""
        return len(self._tracks)

    def __iter__(self) -> Iterator[BeaconKey]:
        return iter(self._tracks)

    def feed(self, adv: Advertisement) -> list[Visit]:
        """One advertisement; returns the visits of that beacon that ended."""
        track, done = step(self._tracks.get(adv.key), adv, self.cfg)
        self._tracks[adv.key] = track
        return done

    def tick(self, now: datetime) -> list[Visit]:
        """Close the visits of beacons silent for more than ``away_timeout_s`` at ``now``
        (UTC, on the advertisements' time line); forgets those beacons."""
        done: list[Visit] = []
        for key, track in list(self._tracks.items()):
            kept, ended = expire(track, now, self.cfg)
            done += ended
            if kept is None:
                del self._tracks[key]
        return sorted(done, key=lambda v: v.last_seen)

    def flush(self) -> list[Visit]:
        """End every open visit now (at shutdown); the entered ones are returned."""
        done = [v for track in self._tracks.values() for v in _reported(track)]
        self._tracks.clear()
        return sorted(done, key=lambda v: v.last_seen)


class PositionTrack:
    """Recent positions of a mobile detector, to place its sightings: where was it at t?

    ``at`` answers with the sample nearest in time, if one lies within ``max_gap_s`` s.
    """

    def __init__(self, *, max_gap_s: float = 30.0, keep: int = 7200) -> None:
        self.max_gap = timedelta(seconds=max_gap_s)
        self.keep = keep
        self._times: list[datetime] = []
        self._positions: list[LatLon] = []

    def add(self, when: datetime, position: LatLon) -> None:
        """Record ``position`` (degrees) at ``when``; older samples than the last are ignored."""
        if self._times and when < self._times[-1]:
            return
        self._times.append(when)
        self._positions.append(position)
        if len(self._times) > 2 * self.keep:
            del self._times[: -self.keep], self._positions[: -self.keep]

    def last_time(self) -> datetime | None:
        return self._times[-1] if self._times else None

    def at(self, when: datetime) -> LatLon | None:
        """The position (degrees) sampled nearest to ``when``; None if none is close enough."""
        i = bisect_left(self._times, when)
        near = [j for j in (i - 1, i) if 0 <= j < len(self._times)]
        best = min(near, key=lambda j: abs(self._times[j] - when), default=None)
        if best is None or abs(self._times[best] - when) > self.max_gap:
            return None
        return self._positions[best]
