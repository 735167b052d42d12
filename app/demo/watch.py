"""The demo's child watch: a school morning, time-compressed, through real station agents.

    beacon simulator (school morning) --paced--> simulated BLE source per station
        --> station agent (passage detector, outbox) --MQTT--> hub --> guardian notices
        --> local LINE / SMTP / webhook servers

The morning runs ``speedup`` times faster than the wall clock; the hub's child-watch clock
follows the simulated time, so "not at school by 08:15" fires when the simulated clock
passes 08:15. The morning played is a past school day (``demo_day``), and the simulated
clock never runs ahead of the real one, so nothing stored is dated in the future.

What the stations decide does not depend on how fast the machine is: each station's
clock (which closes the visits of beacons gone silent) is the morning's time as far as
that station has heard it (``FedBleSource.now``), never past an advertisement it has not
read yet. A loaded machine delivers the same advertisements later, not different passages.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from citytrack.config import CitytrackConfig
from citytrack.mqtt import BrokerAddress
from edge_agent.ble_sources import BleRecord
from edge_agent.outbox import Outbox
from edge_agent.station import StationAgent
from evaluation.passages import PassageKey, PassageScore, score_passages
from firmware_sim.beacons import SchoolMorning

MORNING_START = dtime(7, 20)


class SimClock:
    """Simulated time that runs ``speedup`` times faster than the wall clock, never ahead of
    the real clock (``real_now``): a demo that runs long enough to reach the present goes on
    at the present, it does not write the future."""

    def __init__(
        self,
        sim_start: datetime,
        speedup: float,
        *,
        real_now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sim_start = sim_start
        self.speedup = speedup
        self.wall_start = time.monotonic()
        self._real_now = real_now

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self.wall_start) * self.speedup
        return min(self.sim_start + timedelta(seconds=elapsed), self._real_now())

    def to_wall(self, sim_time: datetime) -> float:
        """The monotonic wall-clock second at which the simulation reaches ``sim_time``."""
        return self.wall_start + (sim_time - self.sim_start).total_seconds() / self.speedup


class FeedClock:
    """The morning's time as far as it has been handed to the stations.

    ``now`` is the simulated clock, but never past the advertisement the dispatcher is
    waiting to hand out (``waiting_for``; None once the morning is all out). The lock is
    shared with every ``FedBleSource`` of the morning, so a record is handed out and the
    clock moves past it in one step.
    """

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.lock = threading.Condition()
        self.waiting_for: datetime | None = clock.sim_start

    def frontier(self) -> datetime:
        """``now`` for a caller that holds ``lock``."""
        now = self.clock.now()
        return now if self.waiting_for is None else min(now, self.waiting_for)

    def now(self) -> datetime:
        with self.lock:
            return self.frontier()


class FedBleSource:
    """One station's advertisements as the morning hands them out (a ``BleSource``).

    ``now`` is this station's clock: the morning's time (``FeedClock``), but never past an
    advertisement put here and not read yet. The station agent reads, handles what it
    read, then closes silent visits at ``now()``, all in one thread: a visit is never
    closed for a silence that only the machine's slowness made.
    """

    def __init__(self, feed: FeedClock) -> None:
        self._feed = feed
        self._pending: deque[BleRecord] = deque()
        self._closed = False

    def put(self, record: BleRecord) -> None:
        """Hand out ``record`` (in time order; thread-safe)."""
        with self._feed.lock:
            self._pending.append(record)
            self._feed.lock.notify_all()

    def now(self) -> datetime:
        with self._feed.lock:
            frontier = self._feed.frontier()
            return min(frontier, self._pending[0].time) if self._pending else frontier

    def start(self) -> None:
        """Nothing to start: records arrive by ``put``."""

    def read(self, timeout_s: float) -> list[BleRecord]:
        with self._feed.lock:
            self._feed.lock.wait_for(lambda: self._pending or self._closed, timeout_s)
            out = list(self._pending)
            self._pending.clear()
        return out

    def counters(self) -> dict[str, int]:
        return {"scanner_restarts": 0, "scanner_errors": 0}

    def close(self) -> None:
        with self._feed.lock:
            self._closed = True
            self._feed.lock.notify_all()


def previous_school_day(day: date, school_days: list[int]) -> date:
    """The last school day strictly before ``day``."""
    day -= timedelta(days=1)
    while day.weekday() not in school_days:
        day -= timedelta(days=1)
    return day


def demo_day(data_dir: Path, tz: ZoneInfo, school_days: list[int], today: date) -> date:
    """The morning a demo run plays: the last school day before ``today``, one school day
    further back for each run already made in ``data_dir``, so a second run is a new
    morning and no run writes passages dated in the future."""
    counter = data_dir / "watch-runs"
    runs = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(runs + 1))
    day = previous_school_day(today, school_days)
    for _ in range(runs):
        day = previous_school_day(day, school_days)
    return day


EDGE = timedelta(seconds=30)
"""How far past the scoring horizon a passage may fall and still match one before it."""


@dataclass(frozen=True)
class StationRig:
    agent: StationAgent
    source: FedBleSource


class WatchRig:
    """Station agents fed by a paced school morning."""

    def __init__(
        self,
        cfg: CitytrackConfig,
        data_dir: Path,
        seed: int,
        address_for: Callable[[str], BrokerAddress],
        speedup: float,
        *,
        day: date | None = None,
        outbox_factory: Callable[[Path], Outbox] = Outbox,
    ) -> None:
        """``day``: the morning to play (default: the next school day not yet played in
        ``data_dir``); ``outbox_factory`` makes each station's outbox from its path.
        ``clock``: the simulated clock runs at wall speed from the morning's start;
        ``feed``: the same, never past what the dispatcher has handed out (give the hub
        ``feed.now``: its timers then see what the stations could have heard)."""
        tz = ZoneInfo(cfg.city.timezone)
        self.cfg = cfg
        today = datetime.now(tz).date()
        self.day = day or demo_day(data_dir, tz, cfg.watch.schools[0].school_days, today)
        self.morning = SchoolMorning(cfg.watch, date=self.day, seed=seed)
        sim_start = datetime.combine(self.day, MORNING_START, tzinfo=tz).astimezone(UTC)
        self.clock = SimClock(sim_start, speedup)
        self.feed = FeedClock(self.clock)
        self.stations: dict[str, StationRig] = {}
        for st in cfg.watch.stations:
            if st.kind == "mobile":
                continue
            source = FedBleSource(self.feed)
            box = outbox_factory(data_dir / "outbox" / f"{st.id}.db")
            agent = StationAgent(
                st.id, source, box, address_for(st.id), cfg.watch.passage, clock=source.now
            )
            self.stations[st.id] = StationRig(agent, source)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._dispatch, name="school-morning", daemon=True)

    def start(self) -> None:
        for rig in self.stations.values():
            rig.agent.start()
        self.clock.wall_start = time.monotonic()
        self._thread.start()

    def _dispatch(self) -> None:
        """Hand each advertisement to its station when the simulated clock reaches it."""
        start = self.clock.sim_start
        for rec in (r for r in self.morning.advertisements() if r.time >= start):
            rig = self.stations.get(rec.station_id)
            if rig is None:
                continue
            with self.feed.lock:
                self.feed.waiting_for = rec.time
            if self._stop.wait(max(0.0, self.clock.to_wall(rec.time) - time.monotonic())):
                return
            rig.source.put(BleRecord(rec.time, rec.address, rec.rssi_dbm, rec.fields))
        with self.feed.lock:
            self.feed.waiting_for = None

    def stop(self, drain_timeout_s: float) -> None:
        """Stop the morning where it is (``feed`` stands still from now on, however long
        the stations then take to drain), then the stations, reporting their open visits."""
        self._stop.set()
        self._thread.join(5)
        with self.feed.lock:
            self.feed.waiting_for = self.feed.frontier()
        for rig in self.stations.values():
            rig.agent.stop(drain_timeout_s=drain_timeout_s)

    def score(self, detected: list[PassageKey]) -> dict[str, float | int]:
        """Passages stored so far against the simulator's truth up to the morning's time
        as handed to the stations (``feed``, which stands still once stopped).

        Only passages old enough to have been reported count (before ``horizon``). A
        detected closest time and its true one can straddle the horizon by a few seconds,
        so each side is matched against the other side's passages up to ``EDGE`` later:
        recall from the true passages before the horizon, false passages from the
        detected ones before it.
        """
        horizon = self.feed.now() - timedelta(seconds=60)
        truth = [PassageKey(t.child_id, t.station_id, t.closest_time) for t in self.morning.truth]

        def until(keys: list[PassageKey], end: datetime) -> list[PassageKey]:
            return [k for k in keys if k.time <= end]

        found = score_passages(until(truth, horizon), until(detected, horizon + EDGE))
        told = score_passages(until(truth, horizon + EDGE), until(detected, horizon))
        return PassageScore(found.truth, told.detected, found.matched, told.false).as_dict()
