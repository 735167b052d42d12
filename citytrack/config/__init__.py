"""Typed, validated configuration, loaded once at the entry point.

One TOML file (``config/osaka.toml`` is the default Osaka demo city) with sections
``[city]``, ``[detectors]``, ``[hub]``, ``[agent]``, ``[sim]``, ``[watch]``,
``[routes]`` and ``[scores]``; each component is handed only its own section. Unknown keys
are errors, never ignored.

Errors::

    ConfigError(ValueError)     .path, .key: the file and the dotted key that is wrong
"""

from __future__ import annotations

import os
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from citytrack.config.routes import RoutesConfig
from citytrack.config.watch import WatchConfig
from citytrack.errors import InvalidInputError
from citytrack.times import zone

REPO_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
DEFAULT_CONFIG_NAME = "osaka.toml"


class ConfigError(InvalidInputError):
    """A configuration file that cannot be used; names the file and the key."""

    def __init__(self, message: str, *, path: Path | None = None, key: str = "") -> None:
        where = f"{path}" + (f": {key}" if key else "") if path else key
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.key = key


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


LatLon = tuple[float, float]


class Place(_Section):
    id: str = Field(description="stable identifier, used in routes and reports")
    name: str = Field(description="human name, as a supervisor would say it")
    lat_deg: float = Field(ge=-90, le=90, description="WGS84 latitude, degrees")
    lon_deg: float = Field(ge=-180, le=180, description="WGS84 longitude, degrees")


class SpeedZone(_Section):
    id: str = Field(description="stable identifier")
    name: str = Field(description="human name, e.g. the school the zone protects")
    kind: Literal["school_zone", "road"] = Field(description="what the zone is")
    limit_kmh: float = Field(gt=0, description="posted speed limit inside the polygon, km/h")
    polygon: list[LatLon] = Field(min_length=3, description="outline as [lat, lon] pairs")


class VehicleClass(_Section):
    description: str = Field(default="", description="what vehicles this class covers")
    harsh_braking_mps2: float = Field(gt=0, description="deceleration threshold, m/s^2")
    harsh_acceleration_mps2: float = Field(gt=0, description="acceleration threshold, m/s^2")
    harsh_cornering_mps2: float = Field(
        default=4.0, gt=0, description="lateral acceleration threshold (speed x yaw rate), m/s^2"
    )
    min_duration_s: float = Field(ge=0, description="time above threshold before an alert, s")
    min_speed_mps: float = Field(
        default=2.0, ge=0, description="ignore harsh events below this speed (GNSS noise), m/s"
    )


class Driver(_Section):
    id: str = Field(description="stable driver identifier")
    name: str = Field(description="driver's name")


class EpisodePlan(_Section):
    kind: Literal["harsh_braking", "harsh_acceleration", "speeding_zone", "speeding_road"] = Field(
        description="scripted driving episode the simulator plays"
    )
    at_s: float = Field(ge=0, description="earliest start, seconds after the simulation starts")


class Truck(_Section):
    device_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="GPS unit id")
    name: str = Field(description="vehicle name or plate")
    driver_id: str = Field(description="driver on duty (id from [[city.drivers]])")
    vehicle_class: str = Field(description="key of [city.vehicle_classes]")
    route: list[str | LatLon] = Field(
        min_length=2,
        description="waypoints in order: a place id (depot, disposal site, collection point) "
        "or a [lat, lon] road corner; the route loops",
    )
    cruise_kmh: float = Field(default=30.0, gt=0, description="normal cruising speed, km/h")
    episodes: list[EpisodePlan] = Field(default_factory=list, description="scripted episodes")


class SpeedingConfig(_Section):
    tolerance_kmh: float = Field(ge=0, description="allowed excess over the limit, km/h")
    min_duration_s: float = Field(ge=0, description="time over limit+tolerance for an alert, s")


class RosterEntry(_Section):
    device_id: str = Field(description="the truck's GPS unit")
    driver_id: str = Field(description="who drove it (id from [[city.drivers]])")
    start: datetime = Field(description="shift start (ISO 8601 with offset)")
    end: datetime | None = Field(default=None, description="shift end; None = still driving")


class CityConfig(_Section):
    name: str = Field(description="city name")
    timezone: str = Field(
        description="IANA time zone (e.g. Asia/Tokyo): local display, plain dates and "
        "timestamps without an offset"
    )
    default_road_limit_kmh: float = Field(gt=0, description="limit where no zone applies, km/h")
    depot: Place = Field(description="where trucks start and end")
    disposal_site: Place = Field(description="where collected garbage is unloaded")
    collection_points: list[Place] = Field(default_factory=list)
    speed_zones: list[SpeedZone] = Field(default_factory=list)
    vehicle_classes: dict[str, VehicleClass] = Field(description="thresholds per vehicle class")
    drivers: list[Driver] = Field(default_factory=list)
    trucks: list[Truck] = Field(default_factory=list)
    roster: list[RosterEntry] = Field(
        default_factory=list,
        description="who drove which truck when; a truck's driver_id covers the rest",
    )
    roads_geojson: str | None = Field(
        default=None,
        description="GeoJSON LineStrings with a maxspeed (km/h) property: road speed limits; "
        "a path relative to the config file",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        zone(name)  # an unknown zone fails here, at load, not in the first command using it
        return name

    @model_validator(mode="after")
    def _references_resolve(self) -> CityConfig:
        places = self.place_ids()
        drivers = {d.id for d in self.drivers}
        for i, truck in enumerate(self.trucks):
            if truck.vehicle_class not in self.vehicle_classes:
                raise ValueError(f"trucks[{i}].vehicle_class {truck.vehicle_class!r} is unknown")
            if truck.driver_id not in drivers:
                raise ValueError(f"trucks[{i}].driver_id {truck.driver_id!r} is unknown")
            for stop in truck.route:
                if isinstance(stop, str) and stop not in places:
                    raise ValueError(f"trucks[{i}].route names unknown place {stop!r}")
        return self

    def place_ids(self) -> dict[str, Place]:
        every = [self.depot, self.disposal_site, *self.collection_points]
        return {p.id: p for p in every}

    def truck(self, device_id: str) -> Truck | None:
        return next((t for t in self.trucks if t.device_id == device_id), None)


class QualityConfig(_Section):
    """Which fixes the detectors trust (a GPS jump must never become harsh braking)."""

    max_hdop: float = Field(default=5.0, gt=0, description="ignore fixes with a worse HDOP")
    min_sats: int = Field(default=4, ge=0, description="ignore fixes with fewer satellites used")
    max_implied_speed_mps: float = Field(
        default=70.0, gt=0, description="a position implying a faster move is a jump, m/s"
    )
    max_gap_s: float = Field(
        default=2.5, gt=0, description="longer without a fix: no acceleration across it, s"
    )


class DetectorsConfig(_Section):
    speeding: SpeedingConfig = Field(description="speeding detector settings")
    quality: QualityConfig = Field(default_factory=QualityConfig, description="fix filter")


class HubConfig(_Section):
    broker_url: str = Field(default="mqtt://127.0.0.1:1883", description="MQTT broker URL")
    db_url: str = Field(default="", description="PostgreSQL URL; empty = embedded server")
    client_id: str = Field(default="citytrack-hub", description="MQTT client id (persistent)")
    batch_max: int = Field(default=2000, ge=1, description="max messages per write batch")
    batch_wait_s: float = Field(default=0.05, gt=0, description="max wait to fill a batch, s")
    api_host: str = Field(default="127.0.0.1", description="HTTP API bind address")
    api_port: int = Field(default=8080, ge=0, le=65535, description="HTTP API port; 0 = any")
    fixes_retention_days: int = Field(default=400, ge=1, description="keep fixes this long, days")
    dead_letters_retention_days: int = Field(
        default=30, ge=1, description="keep dead letters this long, days"
    )
    maintenance_interval_s: float = Field(
        default=3600,
        gt=0,
        description="how often the hub prunes expired rows (on TimescaleDB only the tables its"
        " policies leave) and refreshes trips and driver_daily, s",
    )
    max_clock_skew_s: float = Field(
        default=600,
        gt=0,
        description="a message dated further ahead of the hub's clock is a dead letter, s",
    )


class AgentConfig(_Section):
    broker_url: str = Field(default="mqtt://127.0.0.1:1883", description="MQTT broker URL")
    outbox_dir: str = Field(default=".citytrack/outbox", description="where outboxes live")
    status_interval_s: float = Field(default=10.0, gt=0, description="status publish period, s")
    max_inflight: int = Field(default=200, ge=1, description="unacknowledged QoS 1 messages")


class SimConfig(_Section):
    rate_hz: float = Field(default=1.0, gt=0, le=10, description="NMEA epochs per second")
    position_noise_m: float = Field(default=1.5, ge=0, description="1-sigma position noise, m")
    speed_noise_mps: float = Field(default=0.05, ge=0, description="1-sigma speed noise, m/s")
    dropout_prob: float = Field(default=0.01, ge=0, le=1, description="chance an epoch is lost")
    dwell_s: float = Field(default=8.0, ge=0, description="stop time at a collection point, s")


class ScoresConfig(_Section):
    # 16 points per event per 100 km (analytics/driving/scorecard.py): below 50 km one
    # harsh event costs over 32 points, and a single event decides the ranking
    min_km: float = Field(
        default=50.0,
        ge=0,
        description="less distance in a period: no safety score, not enough driving yet, km",
    )
    min_driving_s: float = Field(
        default=3600.0,
        ge=0,
        description="less driving time in a period: no safety score, not enough driving yet, s",
    )


class CitytrackConfig(_Section):
    city: CityConfig
    detectors: DetectorsConfig
    hub: HubConfig = Field(default_factory=HubConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    sim: SimConfig = Field(default_factory=SimConfig)
    watch: WatchConfig = Field(default_factory=WatchConfig)
    routes: RoutesConfig = Field(default_factory=RoutesConfig)
    scores: ScoresConfig = Field(default_factory=ScoresConfig)


def default_config_path() -> Path:
    """``$CITYTRACK_CONFIG``, else ``./config/osaka.toml``, else the repository's copy."""
    env = os.environ.get("CITYTRACK_CONFIG")
    if env:
        return Path(env)
    local = Path("config") / DEFAULT_CONFIG_NAME
    return local if local.exists() else REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME


def load_config(path: Path | str | None = None) -> CitytrackConfig:
    """Read and validate a configuration file.

    Raises:
        ConfigError: the file is missing, is not TOML, or breaks the schema (the message
            names the first offending key).
    """
    path = Path(path) if path is not None else default_config_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("file not found", path=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from exc
    try:
        cfg = CitytrackConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(message, path=path, key=key) from exc
    return _resolve_paths(cfg, path.resolve().parent)


def _resolve_paths(cfg: CitytrackConfig, base: Path) -> CitytrackConfig:
    """Make the data-file paths relative to the config file absolute."""

    def resolved(value: str | None) -> str | None:
        return value if value is None or Path(value).is_absolute() else str(base / value)

    city = cfg.city.model_copy(update={"roads_geojson": resolved(cfg.city.roads_geojson)})
    routes = cfg.routes.model_copy(
        update={
            "points_csv": resolved(cfg.routes.points_csv),
            "emissions_csv": resolved(cfg.routes.emissions_csv),
        }
    )
    return cfg.model_copy(update={"city": city, "routes": routes})
