"""A labelled fleet dataset that tries to fool the driving detectors.

Size: the fleet plan, its episode scripts and their labels are one dataset definition.

``plan_fleet`` draws a fleet of trucks (``TruckPlan``): each drives a loop of Osaka's
street grid (``TEMPLATES``: two loops cross a school zone twice a lap, two run along 60 km/h
arterials), at 1 Hz or 10 Hz, with a class from the configuration, 1-5 m of position noise,
and a shift made of shuffled blocks:

- scripted episodes (``firmware_sim.scripts``): ``harsh_braking``, ``harsh_acceleration``,
  ``harsh_cornering``, and ``speeding_zone`` or ``speeding_road`` (as the loop allows);
- ``clean`` stretches of 5-15 minutes of calm driving with no episode at all;
- ``collection_work``: stop-and-go, halting every 20-60 m for 10-40 s
  (``firmware_sim.work_scripts``);
- ``parked``: 2-8 minutes at rest.

Throughout, the receiver suffers the city (``firmware_sim.impairments``): multipath along
some streets, GPS jumps (some with a speed glitch), stationary drift, and tunnels; and the
truck turns along arcs (``firmware_sim.corners``), so a corner takes seconds.

``TruckScenario`` plays one plan: its ``epochs`` are NMEA bytes rendered by
``firmware_sim.nmea_out`` (what ``receiver.iter_nmea`` writes), then ``labels`` (episodes,
``evaluation.episodes.EpisodeLabel``), ``stretches`` (``Stretch``: clean, stop-and-go and
parked driving with the distance truly driven) and ``impairments``. A block waits for its
situation (a corner ahead, a school zone ahead, a long straight), and episodes never start
during a jump or a tunnel. Deterministic: the same plan gives the same bytes and labels.

Errors: ``ValueError`` for a plan naming a vehicle class the configuration lacks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from citytrack.config import CitytrackConfig, Truck
from citytrack.geo import LocalFrame
from firmware_sim.corners import RoundedRoute
from firmware_sim.driving import DriveView, EpisodeScript
from firmware_sim.gps import TruckSimulator, TruthEpoch
from firmware_sim.impairments import ImpairmentConfig, ImpairmentRecord, ReceiverImpairments
from firmware_sim.labels import EpisodeLabel
from firmware_sim.nmea_out import format_epoch
from firmware_sim.scripts import HARSH_BRAKE_MIN_SPEED_MPS, SCRIPTS, ScriptContext
from firmware_sim.work_scripts import COLLECTION_WORK, PARKED, ParkScript, StopAndGoScript

LatLon = tuple[float, float]
EPISODE_KINDS = (
    "harsh_braking",
    "harsh_acceleration",
    "harsh_cornering",
    "speeding_zone",
    "speeding_road",
)
CLEAN = "clean"
STRETCH_KINDS = (CLEAN, COLLECTION_WORK, PARKED)
START_TIME = datetime(2025, 6, 2, 23, 0, tzinfo=UTC)  # 08:00 in Osaka
CLEAN_S = (300.0, 900.0)
PARK_S = (120.0, 480.0)
COLLECTION_STOPS = (8, 16)
EPISODE_GAP_S = (8.0, 20.0)  # calm driving after an episode, before the next block
STRETCH_GAP_S = (5.0, 10.0)
WARM_UP_S = 30.0
MAX_SHIFT_S = 3 * 3600.0  # a block that never finds its situation gives up with the shift


@dataclass(frozen=True)
class RouteTemplate:
    """A loop of the street grid, and the scripted episodes it can host."""

    name: str
    corners: tuple[LatLon, ...]
    kinds: tuple[str, ...]  # a kind listed twice is played twice as often


_ZONE_KINDS = ("harsh_braking", "harsh_acceleration", "harsh_cornering", *["speeding_zone"] * 2)
_ROAD_KINDS = ("harsh_braking", "harsh_acceleration", "harsh_cornering", *["speeding_road"] * 2)
TEMPLATES = (
    # Both north-south legs cross the Naniwa elementary school's Zone 30.
    RouteTemplate(
        "naniwa-zone30",
        ((34.6560, 135.4976), (34.6700, 135.4976), (34.6700, 135.4994), (34.6560, 135.4994)),
        _ZONE_KINDS,
    ),
    # Both north-south legs cross the Chuo elementary school's Zone 30.
    RouteTemplate(
        "chuo-zone30",
        ((34.6700, 135.5085), (34.6900, 135.5085), (34.6900, 135.5103), (34.6700, 135.5103)),
        _ZONE_KINDS,
    ),
    # Sakaisuji and a parallel street, 3 km legs at the 60 km/h default limit.
    RouteTemplate(
        "sakaisuji",
        ((34.6560, 135.5065), (34.6830, 135.5065), (34.6830, 135.5150), (34.6560, 135.5150)),
        _ROAD_KINDS,
    ),
    # Nagahori-dori and a parallel street, 2.5 km legs.
    RouteTemplate(
        "nagahori",
        ((34.6745, 135.4880), (34.6745, 135.5150), (34.6700, 135.5150), (34.6700, 135.4880)),
        _ROAD_KINDS,
    ),
)


@dataclass(frozen=True)
class RateSize:
    """Trucks at one output rate, and the blocks of each truck's shift."""

    rate_hz: float
    trucks: int
    episodes: int  # per kind the truck's loop hosts (listed twice: twice this)
    clean: int
    collection: int
    parked: int


@dataclass(frozen=True)
class FleetSize:
    rates: tuple[RateSize, ...]


# Shifts of about an hour: the simulated sky (firmware_sim.sky) drifts and its geometry
# degrades over several hours, while real satellites rise and set.
BENCHMARK_SIZE = FleetSize((RateSize(1.0, 56, 4, 1, 2, 1), RateSize(10.0, 8, 4, 1, 1, 1)))
SMALL_SIZE = FleetSize((RateSize(1.0, 1, 1, 1, 1, 1), RateSize(10.0, 1, 1, 0, 0, 0)))


@dataclass(frozen=True)
class TruckPlan:
    """Everything that makes one truck's shift; ``seed`` drives all its randomness."""

    device_id: str
    rate_hz: float
    vehicle_class: str  # a key of [city.vehicle_classes]
    route: tuple[LatLon, ...]
    cruise_kmh: float
    position_noise_m: float
    dropout_prob: float
    blocks: tuple[str, ...]  # episode kinds and stretch kinds, in preferred order
    impairments: ImpairmentConfig
    seed: int
    start_time: datetime = START_TIME


@dataclass(frozen=True)
class Stretch:
    """A stretch of driving of one kind (``STRETCH_KINDS``): UTC interval, true distance (m)."""

    device_id: str
    kind: str
    start: datetime
    end: datetime
    distance_m: float


@dataclass
class TruckLog:
    """A played plan: the receiver's bytes and the ground truth."""

    plan: TruckPlan
    nmea: bytes
    labels: list[EpisodeLabel]
    stretches: list[Stretch]
    impairments: list[ImpairmentRecord]
    distance_m: float
    duration_s: float
    unplayed: list[str] = field(default_factory=list)


def _route(template: RouteTemplate, rng: np.random.Generator) -> tuple[LatLon, ...]:
    """The loop in either direction, starting at any of its corners."""
    corners = list(template.corners)
    if rng.random() < 0.5:
        corners.reverse()
    k = int(rng.integers(len(corners)))
    return tuple(corners[k:] + corners[:k])


def _impairments(rng: np.random.Generator, loop_m: float) -> ImpairmentConfig:
    starts = rng.uniform(0.0, loop_m, int(rng.integers(1, 4)))
    canyons = tuple(sorted((float(a), float(a + rng.uniform(200.0, 600.0))) for a in starts))
    return ImpairmentConfig(
        canyons=canyons,
        canyon_sigma_m=float(rng.uniform(10.0, 30.0)),
        canyon_course_mps=float(rng.uniform(0.2, 0.6)),
        jumps_per_hour=float(rng.uniform(2.0, 8.0)),
        jump_speed_glitch=0.3,
        tunnels_per_hour=float(rng.uniform(1.0, 4.0)),
        drift_speed_mps=float(rng.uniform(0.0, 0.5)),
        drift_sigma_m=float(rng.uniform(1.0, 5.0)),
    )


def _loop_m(route: Sequence[LatLon]) -> float:
    """Length of a closed loop of [lat, lon] corners, m: equirectangular around the mean
    latitude of the corners with the first one counted twice, as the benchmark's
    impairments have always been placed (a ``Route`` centres on the distinct corners)."""
    lat = np.array([p[0] for p in (*route, route[0])])
    lon = np.array([p[1] for p in (*route, route[0])])
    x, y = LocalFrame(float(np.mean(lat)), 0.0).to_xy(lat, lon)
    return float(np.sum(np.hypot(np.diff(x), np.diff(y))))


def plan_fleet(cfg: CitytrackConfig, size: FleetSize, *, seed: int) -> list[TruckPlan]:
    """The fleet's plans, deterministic for ``seed``; classes cycle through the config's."""
    classes = sorted(cfg.city.vehicle_classes)
    seeds = np.random.SeedSequence(seed).spawn(sum(r.trucks for r in size.rates))
    plans: list[TruckPlan] = []
    for r in size.rates:
        for i in range(r.trucks):
            n = len(plans)
            rng = np.random.default_rng(seeds[n])
            template = TEMPLATES[n % len(TEMPLATES)]
            route = _route(template, rng)
            blocks = [k for k in template.kinds for _ in range(r.episodes)]
            blocks += [CLEAN] * r.clean + [COLLECTION_WORK] * r.collection + [PARKED] * r.parked
            rng.shuffle(blocks)
            plans.append(
                TruckPlan(
                    device_id=f"sim-{r.rate_hz:g}hz-{i + 1:03d}",
                    rate_hz=r.rate_hz,
                    vehicle_class=classes[n % len(classes)],
                    route=route,
                    cruise_kmh=float(rng.uniform(32.0, 42.0)),
                    position_noise_m=float(rng.uniform(1.0, 5.0)),
                    dropout_prob=float(rng.uniform(0.0, 0.02)),
                    blocks=tuple(blocks),
                    impairments=_impairments(rng, _loop_m(route)),
                    seed=int(rng.integers(2**31)),
                )
            )
    return plans


def planned_counts(plans: Sequence[TruckPlan]) -> Counter[str]:
    """How many blocks of each kind the plans hold (episodes and stretches)."""
    return Counter(b for p in plans for b in p.blocks)


class TruckScenario:
    """One plan played epoch by epoch; see the module docstring."""

    def __init__(self, plan: TruckPlan, cfg: CitytrackConfig, *, talker: str = "GP") -> None:
        """Prepare the truck at rest at the start of its loop.

        Raises:
            ValueError: ``plan.vehicle_class`` is not a class of ``cfg``.
        """
        classes = cfg.city.vehicle_classes
        if plan.vehicle_class not in classes:
            known = ", ".join(sorted(classes))
            raise ValueError(f"unknown vehicle class {plan.vehicle_class!r} (classes: {known})")
        self.plan = plan
        self.talker = talker
        self.sim = _simulator(plan, cfg)
        self.rng = np.random.default_rng([plan.seed, 1])
        self.ctx = ScriptContext(classes[plan.vehicle_class], plan.cruise_kmh / 3.6, self.rng)
        self.impairments = ReceiverImpairments(
            plan.impairments,
            rate_hz=plan.rate_hz,
            route_length_m=self.sim.route.length_m,
            rng=np.random.default_rng([plan.seed, 2]),
        )
        self.labels: list[EpisodeLabel] = []
        self.stretches: list[Stretch] = []
        self._queue = list(plan.blocks)
        self._current: tuple[str, float, float] | None = None  # kind, start t_s, start s_m
        self._clean_until = 0.0
        self._next_at = WARM_UP_S

    @property
    def done(self) -> bool:
        """Every block played (or the shift is over), and the last gap driven."""
        d = self.sim.driver
        idle = self._current is None and not self._queue and d.t_s >= self._next_at
        return idle or d.t_s >= MAX_SHIFT_S

    def epochs(self) -> Iterator[tuple[TruthEpoch, bytes]]:
        """(truth, NMEA bytes) per epoch until ``done``; b"" for an epoch with no output."""
        while not self.done:
            self._schedule()
            epoch = self.sim.step()
            d = self.sim.driver
            report = self.impairments.apply(epoch, d.s_m, d.t_s, quiet=self._quiet())
            self.labels += [lb for lb in self.sim.pop_labels() if lb.kind in EPISODE_KINDS]
            data = b"" if report is None else format_epoch(report, self.talker)
            valid = report is not None and report.fix
            yield replace(epoch.truth, valid=valid, emitted=report is not None), data
        self.impairments.close()

    def run(self) -> TruckLog:
        """Play the whole shift and keep its bytes."""
        nmea = b"".join(data for _, data in self.epochs())
        return TruckLog(
            self.plan,
            nmea,
            self.labels,
            self.stretches,
            self.impairments.records,
            self.sim.driver.s_m,
            self.sim.driver.t_s,
            self.unplayed,
        )

    @property
    def unplayed(self) -> list[str]:
        """Blocks the shift ended without (their situation never came)."""
        return list(self._queue) + ([self._current[0]] if self._current else [])

    def _quiet(self) -> bool:
        """No episode under way: the receiver may jump or enter a tunnel."""
        script = self.sim.driver.active_script
        return script is None or script.kind in (COLLECTION_WORK, PARKED)

    def _at(self, t_s: float) -> datetime:
        return self.plan.start_time + timedelta(microseconds=round(t_s * 1e6))

    def _schedule(self) -> None:
        """Close the block that ended; start the next one whose situation has come."""
        d = self.sim.driver
        if self._current is not None:
            kind, t0, s0 = self._current
            work = d.active_script
            if isinstance(work, StopAndGoScript | ParkScript) and work.phase == "armed":
                self._current = (kind, d.t_s, d.s_m)  # the stretch starts with the work
            over = d.t_s >= self._clean_until if kind == CLEAN else d.active_script is None
            if not over:
                return
            if kind in STRETCH_KINDS:
                start, end = self._at(t0), self._at(d.t_s)
                self.stretches.append(Stretch(self.plan.device_id, kind, start, end, d.s_m - s0))
            gap = STRETCH_GAP_S if kind in STRETCH_KINDS else EPISODE_GAP_S
            self._current, self._next_at = None, d.t_s + float(self.rng.uniform(*gap))
        if not self._queue or d.t_s < self._next_at:
            return
        picked = self._pick(d.view(), episodes=d.t_s >= self.impairments.busy_until_s)
        if picked is None:
            return
        kind = picked
        self._queue.remove(kind)
        self._current = (kind, d.t_s, d.s_m)
        if kind == CLEAN:
            self._clean_until = d.t_s + float(self.rng.uniform(*CLEAN_S))
        else:
            d.schedule(self._script(kind, d.t_s))

    def _pick(self, view: DriveView, *, episodes: bool) -> str | None:
        """The block to play now: a rare situation first, else the first one ready."""
        ready = [k for k in self._queue if (episodes or k in STRETCH_KINDS) and _ready(k, view)]
        rare = [k for k in ready if k in ("harsh_cornering", "speeding_zone", "speeding_road")]
        return next(iter(rare or ready), None)

    def _script(self, kind: str, at_s: float) -> EpisodeScript:
        if kind == COLLECTION_WORK:
            stops = int(self.rng.integers(COLLECTION_STOPS[0], COLLECTION_STOPS[1] + 1))
            return StopAndGoScript(at_s, self.rng, stops)
        if kind == PARKED:
            return ParkScript(at_s, self.rng, float(self.rng.uniform(*PARK_S)))
        return SCRIPTS[kind](at_s, self.ctx)


def _simulator(plan: TruckPlan, cfg: CitytrackConfig) -> TruckSimulator:
    """The plan's truck on its loop, with rounded corners and the plan's receiver noise."""
    truck = Truck(
        device_id=plan.device_id,
        name=plan.device_id,
        driver_id="scenario",
        vehicle_class=plan.vehicle_class,
        route=list(plan.route),
        cruise_kmh=plan.cruise_kmh,
    )
    noise = {"position_noise_m": plan.position_noise_m, "dropout_prob": plan.dropout_prob}
    return TruckSimulator(
        truck,
        cfg.city,
        cfg.sim.model_copy(update=noise),
        seed=plan.seed,
        start_time=plan.start_time,
        rate_hz=plan.rate_hz,
        geometry=RoundedRoute,
    )


def _ready(kind: str, view: DriveView) -> bool:
    """Whether the situation ``kind`` needs is here (stretches are always ready)."""
    if kind in STRETCH_KINDS:
        return not view.dwelling
    if kind == "harsh_braking":
        return view.v_mps >= HARSH_BRAKE_MIN_SPEED_MPS + 0.3 and view.room_m >= 40.0
    if kind == "harsh_acceleration":
        return view.room_m >= 200.0 and view.v_mps > 0.0
    if kind == "harsh_cornering":
        c = view.next_corner
        return c is not None and 80.0 <= c.distance_m <= 300.0 and view.room_m >= c.distance_m - 1
    in_school = view.limit.zone_kind == "school_zone"
    if kind == "speeding_zone":
        school = view.next_school
        return not in_school and school is not None and 100.0 <= school[1] <= 450.0
    if kind == "speeding_road":
        return not in_school and view.room_m >= 750.0
    raise ValueError(f"unknown block kind {kind!r}")
