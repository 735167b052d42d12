"""The hub's scheduled rollups: every truck's trips and stops, then the daily driver table.

``RollupJob.run(conn, now)``:

1. ``TripRepository.build`` for every registered vehicle (``hub.storage.trips``: incremental
   from each truck's watermark, so a run reads only what is new);
2. ``DriverStatsRepository.refresh_daily`` for the last ``days`` local days up to the
   day of ``now`` in the city's time zone (default 2: yesterday, which late fixes and
   the last trips of the evening still change, and today so far).

The hub runs it every ``hub.maintenance_interval_s``, after retention
(``hub.ingest.service.HubService.refresh_rollups``); ``citytrack db rollups`` runs it once. A truck
whose build the database refuses is logged, counted and skipped, as is a refused
refresh; a lost connection ends the run (``StoreUnavailableError``) and the next period
tries again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from citytrack.config import CityConfig, QualityConfig
from citytrack.counters import Counters
from hub.storage.db import Connection, StoreRejectedError
from hub.storage.drivers import DriverStatsRepository, MotionRules
from hub.storage.trips import TripBuild, TripRepository, TripRules

log = logging.getLogger(__name__)


@dataclass
class RollupCounts(Counters):
    """Monotonic counts over the job's life (the hub's process)."""

    runs: int = 0  # runs that finished
    failures: int = 0  # runs that raised (counted by the caller's supervisor loop)
    device_failures: int = 0  # truck builds the database refused
    daily_failures: int = 0  # driver_daily refreshes the database refused
    trips: int = 0  # trip rows written (a rebuilt trip counts again)
    stops: int = 0  # stop rows written
    daily_rows: int = 0  # driver_daily rows written


@dataclass(frozen=True)
class RollupResult:
    """One run: the builds that succeeded, the trucks that failed, and the daily refresh
    (``daily_rows`` None: refused) of local days ``first_day..last_day``."""

    builds: list[TripBuild]
    failed: list[str]
    first_day: date
    last_day: date
    daily_rows: int | None

    def summary(self) -> str:
        trips = sum(b.trips for b in self.builds)
        still_open = sum(b.open_trips for b in self.builds)
        stops = sum(b.stops for b in self.builds)
        daily = "refused" if self.daily_rows is None else f"{self.daily_rows} row(s)"
        failed = f", {len(self.failed)} failed ({', '.join(self.failed)})" if self.failed else ""
        return (
            f"trips: {len(self.builds)} truck(s) built{failed}, {trips} trip(s) "
            f"({still_open} still open: in progress or gone silent) and "
            f"{stops} stop(s) written; driver_daily {self.first_day}..{self.last_day}: {daily}"
        )


@dataclass
class RollupJob:
    """Trips for every truck, then ``driver_daily`` (module docstring)."""

    tz: ZoneInfo
    trip_rules: TripRules = field(default_factory=TripRules)
    motion: MotionRules = field(default_factory=MotionRules)
    days: int = 2
    counts: RollupCounts = field(default_factory=RollupCounts)

    @classmethod
    def for_city(cls, city: CityConfig, quality: QualityConfig, days: int = 2) -> RollupJob:
        """The job for the city's time zone, with the detectors' fix filter."""
        return cls(
            tz=ZoneInfo(city.timezone),
            trip_rules=TripRules.from_quality(quality),
            motion=MotionRules.from_quality(quality),
            days=days,
        )

    def run(self, conn: Connection, now: datetime) -> RollupResult:
        """One run at ``now`` (aware; the hub's clock).

        ``conn``: an autocommit connection (every truck's build commits on its own).

        Raises:
            ValueError: ``now`` is naive, ``days < 1`` or ``conn`` is not autocommit.
            StoreUnavailableError: the database went away (the run stops there).
        """
        if now.utcoffset() is None or self.days < 1 or not conn.autocommit:
            raise ValueError("need an aware now, days >= 1 and an autocommit connection")
        builds, failed = self._build_trips(conn, now)
        last = now.astimezone(self.tz).date()
        first = last - timedelta(days=self.days - 1)
        daily = self._refresh_daily(conn, first, last)
        self.counts.runs += 1
        return RollupResult(builds, failed, first, last, daily)

    def _build_trips(self, conn: Connection, now: datetime) -> tuple[list[TripBuild], list[str]]:
        repo = TripRepository(conn, self.trip_rules)
        builds: list[TripBuild] = []
        failed: list[str] = []
        for device_id in repo.devices():
            try:
                build = repo.build(device_id, now)
            except StoreRejectedError as exc:
                log.error("trips of %s not built: %s", device_id, exc)
                self.counts.device_failures += 1
                failed.append(device_id)
                continue
            builds.append(build)
            self.counts.trips += build.trips
            self.counts.stops += build.stops
            if build.late:
                log.info("trips of %s rebuilt from %s: late fixes", device_id, build.since)
        return builds, failed

    def _refresh_daily(self, conn: Connection, first: date, last: date) -> int | None:
        try:
            with conn.transaction():  # readers see the old days or the new, never half
                rows = DriverStatsRepository(conn, self.motion).refresh_daily(first, last, self.tz)
        except StoreRejectedError as exc:
            log.error("driver_daily %s..%s not refreshed: %s", first, last, exc)
            self.counts.daily_failures += 1
            return None
        self.counts.daily_rows += rows
        return rows
