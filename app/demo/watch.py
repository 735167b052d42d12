"""The demo's child watch: a school morning, time-compressed, through real station agents.

    beacon simulator (school morning) --paced--> simulated BLE source per station
        --> station agent (passage detector, outbox) --MQTT--> hub --> guardian notices
        --> local LINE / SMTP / webhook servers

The morning runs ``speedup`` times faster than the wall clock; the hub's child-watch clock
follows the simulated time, so "not at school by 08:15" fires when the simulated clock
passes 08:15.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from citytrack.config import CitytrackConfig
from citytrack.mqtt import BrokerAddress
from edge_agent.ble_sources import BleRecord, SimulatedBleSource
from edge_agent.outbox import Outbox
from edge_agent.station import StationAgent
from evaluation.passages import PassageKey, PassageScore, score_passages
from firmware_sim.beacons import SchoolMorning, paced

MORNING_START = dtime(7, 20)


class SimClock:
    """Simulated time that runs ``speedup`` times faster than the wall clock."""

    def __init__(self, sim_start: datetime, speedup: float) -> None:
        self.sim_start = sim_start
        self.speedup = speedup
        self.wall_start = time.monotonic()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self.wall_start) * self.speedup
        return self.sim_start + timedelta(seconds=elapsed)

    def to_wall(self, sim_time: datetime) -> float:
        """The monotonic wall-clock second at which the simulation reaches ``sim_time``."""
        return self.wall_start + (sim_time - self.sim_start).total_seconds() / self.speedup


def next_school_day(day: date, school_days: list[int]) -> date:
    while day.weekday() not in school_days:
        day += timedelta(days=1)
    return day


def demo_day(data_dir: Path, tz: ZoneInfo, school_days: list[int]) -> date:
    """Each demo run plays the next school day, so a second run is a new morning."""
    counter = data_dir / "watch-runs"
    runs = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(runs + 1))
    day = next_school_day(datetime.now(tz).date(), school_days)
    for _ in range(runs):
        day = next_school_day(day + timedelta(days=1), school_days)
    return day


EDGE = timedelta(seconds=30)
"""How far past the scoring horizon a passage may fall and still match one before it."""


@dataclass(frozen=True)
class StationRig:
    agent: StationAgent
    source: SimulatedBleSource


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
        ``data_dir``); ``outbox_factory`` makes each station's outbox from its path."""
        tz = ZoneInfo(cfg.city.timezone)
        self.cfg = cfg
        self.day = day or demo_day(data_dir, tz, cfg.watch.schools[0].school_days)
        self.morning = SchoolMorning(cfg.watch, date=self.day, seed=seed)
        sim_start = datetime.combine(self.day, MORNING_START, tzinfo=tz).astimezone(UTC)
        self.clock = SimClock(sim_start, speedup)
        self.stations: dict[str, StationRig] = {}
        for st in cfg.watch.stations:
            if st.kind == "mobile":
                continue
            source = SimulatedBleSource()
            box = outbox_factory(data_dir / "outbox" / f"{st.id}.db")
            agent = StationAgent(
                st.id, source, box, address_for(st.id), cfg.watch.passage, clock=self.clock.now
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
        records = (r for r in self.morning.advertisements() if r.time >= self.clock.sim_start)
        for rec in paced(
            records,
            self.clock.speedup,
            start_wall=self.clock.wall_start,
            start_sim=self.clock.sim_start,
        ):
            if self._stop.is_set():
                return
            rig = self.stations.get(rec.station_id)
            if rig is not None:
                rig.source.put(BleRecord(rec.time, rec.address, rec.rssi_dbm, rec.fields))

    def stop(self, drain_timeout_s: float) -> None:
        self._stop.set()
        self._thread.join(5)
        for rig in self.stations.values():
            rig.agent.stop(drain_timeout_s=drain_timeout_s)

    def score(self, detected: list[PassageKey]) -> dict[str, float | int]:
        """Passages stored so far against the simulator's truth up to the sim clock.

        Only passages old enough to have been reported count (before ``horizon``). A
        detected closest time and its true one can straddle the horizon by a few seconds,
        so each side is matched against the other side's passages up to ``EDGE`` later:
        recall from the true passages before the horizon, false passages from the
        detected ones before it.
        """
        horizon = self.clock.now() - timedelta(seconds=60)
        truth = [PassageKey(t.child_id, t.station_id, t.closest_time) for t in self.morning.truth]

        def until(keys: list[PassageKey], end: datetime) -> list[PassageKey]:
            return [k for k in keys if k.time <= end]

        found = score_passages(until(truth, horizon), until(detected, horizon + EDGE))
        told = score_passages(until(truth, horizon + EDGE), until(detected, horizon))
        return PassageScore(found.truth, told.detected, found.matched, told.false).as_dict()
