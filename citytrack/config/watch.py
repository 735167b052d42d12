"""Child-watch (mimamori) configuration: schools, stations, tags, children, guardians.

The ``[watch]`` section of the city's TOML file. Tag identity keys are secrets held by
the hub only: a station's configuration never needs them (it forwards the rotating
Eddystone-EID it hears, and the hub resolves it).
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEVICE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class School(_Section):
    id: str = Field(description="stable identifier")
    name: str = Field(description="school name as guardians know it")
    name_ja: str = Field(default="", description="Japanese name for notifications")
    ward: str = Field(description="ward (区) the school is in; area broadcasts address it")
    lat_deg: float = Field(ge=-90, le=90, description="WGS84 latitude, degrees")
    lon_deg: float = Field(ge=-180, le=180, description="WGS84 longitude, degrees")
    arrival_deadline: time = Field(
        default=time(8, 15), description='local time by which children arrive, "HH:MM"'
    )
    school_days: list[int] = Field(
        default=[0, 1, 2, 3, 4], description="weekdays with classes, 0 = Monday"
    )


class Station(_Section):
    id: str = Field(pattern=DEVICE_ID, description="station device id (its MQTT user)")
    name: str = Field(description='where it stands, as in "passed the {name}"')
    name_ja: str = Field(default="", description="Japanese name for notifications")
    kind: Literal["school_gate", "roadside", "area_boundary", "mobile"] = Field(
        description="school_gate: arrival/leave; area_boundary: edge of the watch area; "
        "mobile: a volunteer's phone or a bus (reports its own position)"
    )
    school_id: str | None = Field(default=None, description="the school a school_gate serves")
    ward: str = Field(description="ward (区) the station is in")
    lat_deg: float | None = Field(default=None, ge=-90, le=90, description="None for mobile")
    lon_deg: float | None = Field(default=None, ge=-180, le=180, description="None for mobile")


class Tag(_Section):
    id: str = Field(description="tag identifier (printed on the tag)")
    child_id: str = Field(description="the child who carries it")
    kind: Literal["ibeacon", "eddystone_eid"] = Field(
        description="ibeacon: fixed id (trackable by anyone listening); eddystone_eid: rotating"
    )
    ibeacon_uuid: str | None = Field(default=None, description="iBeacon proximity UUID")
    ibeacon_major: int | None = Field(default=None, ge=0, le=65535)
    ibeacon_minor: int | None = Field(default=None, ge=0, le=65535)
    eid_identity_key: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{32}$", description="EID identity key, 16 bytes hex"
    )
    eid_rotation_exponent: int = Field(
        default=10, ge=0, le=15, description="EID rotates every 2^K seconds"
    )

    @model_validator(mode="after")
    def _ids_for_kind(self) -> Tag:
        if self.kind == "ibeacon" and None in (
            self.ibeacon_uuid,
            self.ibeacon_major,
            self.ibeacon_minor,
        ):
            raise ValueError(f"tag {self.id}: ibeacon needs ibeacon_uuid, _major and _minor")
        if self.kind == "eddystone_eid" and self.eid_identity_key is None:
            raise ValueError(f"tag {self.id}: eddystone_eid needs eid_identity_key")
        return self

    @property
    def trackable(self) -> bool:
        """A fixed identifier lets anyone sniffing the air follow the child."""
        return self.kind == "ibeacon"

    def ibeacon_id(self) -> str:
        """The wire ``beacon_id`` of an iBeacon tag: ``{uuid}/{major}/{minor}``."""
        return f"{str(self.ibeacon_uuid).lower()}/{self.ibeacon_major}/{self.ibeacon_minor}"


class Channel(_Section):
    kind: Literal["line", "email", "webhook"] = Field(description="how to reach the guardian")
    to: str = Field(description="LINE user id, e-mail address, or webhook URL")


class Guardian(_Section):
    id: str = Field(description="stable identifier")
    name: str = Field(description="guardian's name")
    language: Literal["ja", "en"] = Field(default="ja", description="notification language")
    channels: list[Channel] = Field(default_factory=list, description="where notices go")
    api_token_sha256: str = Field(
        default="",
        pattern=r"^([0-9a-f]{64})?$",
        description="SHA-256 (hex) of the guardian's API token; empty = no API access",
    )


class Child(_Section):
    id: str = Field(description="stable identifier")
    name: str = Field(description="given name used in notices")
    school_id: str = Field(description="school the child attends")
    guardian_ids: list[str] = Field(min_length=1, description="who is notified")


class PassageDetectorConfig(_Section):
    window: int = Field(default=5, ge=1, description="advertisements in the RSSI median window")
    enter_rssi_dbm: float = Field(default=-80.0, description="smoothed RSSI to enter, dBm")
    leave_rssi_dbm: float = Field(default=-90.0, description="smoothed RSSI to leave, dBm")
    away_timeout_s: float = Field(default=10.0, gt=0, description="silence that ends a visit, s")

    @model_validator(mode="after")
    def _hysteresis(self) -> PassageDetectorConfig:
        if self.leave_rssi_dbm >= self.enter_rssi_dbm:
            raise ValueError("leave_rssi_dbm must be below enter_rssi_dbm (hysteresis)")
        return self


_HHMM = re.compile(r"^\d{2}:\d{2}$")


class NotifyConfig(_Section):
    line_api_base: str = Field(
        default="https://api.line.me", description="LINE Messaging API base URL"
    )
    line_token_env: str = Field(
        default="CITYTRACK_LINE_TOKEN", description="environment variable with the channel token"
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port")
    smtp_from: str = Field(default="mimamori@citytrack.invalid", description="sender address")
    webhook_secret_env: str = Field(
        default="CITYTRACK_WEBHOOK_SECRET", description="env var with the HMAC-SHA256 secret"
    )
    quiet_start: time = Field(default=time(21, 0), description="local start of quiet hours")
    quiet_end: time = Field(default=time(6, 30), description="local end of quiet hours")
    dedup_window_s: float = Field(
        default=120.0, ge=0, description="same child and event within this window: one notice"
    )
    max_per_child_per_hour: int = Field(default=12, ge=1, description="rate limit per child")
    max_attempts: int = Field(default=5, ge=1, description="delivery attempts before failing")
    retry_base_s: float = Field(default=2.0, gt=0, description="first retry delay, doubling, s")


class WatchConfig(_Section):
    schools: list[School] = Field(default_factory=list)
    stations: list[Station] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    children: list[Child] = Field(default_factory=list)
    guardians: list[Guardian] = Field(default_factory=list)
    passage: PassageDetectorConfig = Field(default_factory=PassageDetectorConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    retention_days: int = Field(default=30, ge=1, description="keep passages this long, days")
    area_timeout_min: float = Field(
        default=30.0, gt=0, description="unseen this long after leaving school: left the area"
    )

    @model_validator(mode="after")
    def _references_resolve(self) -> WatchConfig:
        schools = {s.id for s in self.schools}
        children = {c.id for c in self.children}
        guardians = {g.id for g in self.guardians}
        for st in self.stations:
            if st.school_id is not None and st.school_id not in schools:
                raise ValueError(f"station {st.id}: unknown school {st.school_id!r}")
            if st.kind != "mobile" and (st.lat_deg is None or st.lon_deg is None):
                raise ValueError(f"station {st.id}: a fixed station needs lat_deg and lon_deg")
        for child in self.children:
            if child.school_id not in schools:
                raise ValueError(f"child {child.id}: unknown school {child.school_id!r}")
            missing = set(child.guardian_ids) - guardians
            if missing:
                raise ValueError(f"child {child.id}: unknown guardians {sorted(missing)}")
        for tag in self.tags:
            if tag.child_id not in children:
                raise ValueError(f"tag {tag.id}: unknown child {tag.child_id!r}")
        return self

    def station(self, station_id: str) -> Station | None:
        return next((s for s in self.stations if s.id == station_id), None)
