"""Collection-routing configuration: the ``[routes]`` section of the city's TOML file.

Where the data behind a day's collection plan comes from (collection points with today's
courses, expected garbage by weekday), what the trucks can do (capacity, shift), and the
settings that turn stored fixes into stops, service times and travel times.

File formats (paths are relative to the config file):

- ``points_csv``: ``id,name,lat_deg,lon_deg,course,course_order,window_start,window_end``.
  One collection point per row, added to ``[[city.collection_points]]``. ``course`` is
  the truck (device id) that serves the point on today's courses and ``course_order`` its
  place in that course (1 = first); the windows are local ``HH:MM`` and may be empty.
- ``emissions_csv``: ``point_id,weekday,kg``: expected garbage at a point on a weekday
  (``mon`` .. ``sun``); a point without a row for a weekday is not collected that day.
"""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoutesConfig(_Section):
    points_csv: str | None = Field(
        default=None,
        description="collection points and today's courses (CSV, see citytrack.config.routes)",
    )
    emissions_csv: str | None = Field(
        default=None, description="expected garbage per point and weekday (CSV point_id,weekday,kg)"
    )
    capacity_kg: dict[str, int] = Field(
        default_factory=lambda: {"light": 1000, "medium": 1500, "heavy": 2000},
        description="payload per trip by vehicle class, kg (a 4 t packer truck carries ~2 t)",
    )
    shift_start: time = Field(default=time(8, 30), description='trucks leave the depot, "HH:MM"')
    shift_end: time = Field(default=time(16, 30), description='trucks back at the depot, "HH:MM"')
    unload_s: int = Field(default=900, ge=0, description="time to empty at the disposal site, s")
    default_service_s: float = Field(
        default=60.0, ge=0, description="service time at a point with no dwell history, s"
    )
    dwell_speed_mps: float = Field(
        default=1.0, gt=0, description="slower than this, a truck is standing, m/s"
    )
    dwell_min_s: float = Field(
        default=15.0, ge=0, description="standing at least this long is a dwell (a stop), s"
    )
    cluster_eps_m: float = Field(
        default=25.0, gt=0, description="dwells closer than this belong to one place, m"
    )
    cluster_min_days: int = Field(
        default=3, ge=1, description="a place must see dwells on this many days to count"
    )
    proposal_min_stop_share: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="propose a new station only where trucks stopped on this share of the "
        "times they passed (a traffic light: far fewer)",
    )
    match_radius_m: float = Field(
        default=40.0, gt=0, description="a place this close to a configured point is that point, m"
    )
    speed_profile_kmh: dict[int, float] = Field(
        default_factory=lambda: {0: 25.0, 7: 16.0, 10: 20.0, 16: 16.0, 19: 25.0},
        description="fallback driving speed by hour band (key = first local hour of the band), "
        "km/h; the bands also group observed travel times",
    )
    detour_factor: float = Field(
        default=1.0, ge=1.0, description="road distance over grid (L1) distance for fallbacks"
    )
    min_observations: int = Field(
        default=3, ge=1, description="traversals needed before an observed travel time is used"
    )
    plan_seconds: float = Field(default=10.0, gt=0, description="solver time budget, s")

    @model_validator(mode="after")
    def _bands_valid(self) -> RoutesConfig:
        if 0 not in self.speed_profile_kmh:
            raise ValueError("speed_profile_kmh needs a band starting at hour 0")
        if any(not 0 <= h <= 23 or v <= 0 for h, v in self.speed_profile_kmh.items()):
            raise ValueError("speed_profile_kmh: hours 0-23, speeds > 0")
        if self.shift_end <= self.shift_start:
            raise ValueError("shift_end must be after shift_start")
        return self
