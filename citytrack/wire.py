"""The wire contract between devices and the hub: topics and typed payloads.

Both sides import this module and nothing else to talk to each other. Every payload is
a JSON object carrying ``schema`` (the contract version), ``kind``, ``device_id`` and a
per-device ``seq`` that never goes backwards, also across restarts (the device's outbox
assigns it). Units are in field names; times are timezone-aware UTC.

Topics (``citytrack/v1/{role}/{device_id}/{kind}``)::

    citytrack/v1/vehicle/{device_id}/fix       Fix, QoS 1, through the device outbox
    citytrack/v1/vehicle/{device_id}/status    DeviceStatus, QoS 1, retained, last will = offline
    citytrack/v1/vehicle/{device_id}/event     DrivingEvent: a harsh event the vehicle detected
                                               itself (accelerometer), QoS 1, through the outbox
    citytrack/v1/station/{device_id}/passage   Passage: a beacon tag's visit to a fixed station
    citytrack/v1/station/{device_id}/sighting  Sighting: the same from a mobile detector, with
                                               the detector's own GNSS position
    citytrack/v1/station/{device_id}/status    DeviceStatus (heartbeat with counters)
    citytrack/v1/hub/alert/{device_id}         Alert, published by the hub for live views
    citytrack/v1/hub/ack/{device_id}           Watermark, retained: the highest seq of the
                                               device the hub has taken in (end-to-end ack)

The ``Alert`` the hub publishes, and its details typed per kind, are in ``citytrack.alerts``.

Size: the whole contract between devices and the hub, read in one place, on purpose.

Errors::

    ContractError(ValueError)        a topic or payload that breaks the contract
      .topic, .reason                where and why
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from citytrack.errors import InvalidInputError

SCHEMA_VERSION: Literal[1] = 1
TOPIC_ROOT = "citytrack/v1"
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

DeviceId = Annotated[str, Field(pattern=DEVICE_ID_PATTERN, description="device identity")]

# Bounds. Numbers are strict ("7" is not a number, true is not 1). Every field is
# bounded, so that no payload the contract accepts can fail in the store: integers to their
# column types, floats finite (no NaN or infinity: the model config) and within what a road
# vehicle, a receiver or a tag can physically report. Times are checked against the
# receiver's clock by ``check_times``: the models cannot know "now".
INT64_MAX = 2**63 - 1  # PostgreSQL bigint
INT32_MAX = 2**31 - 1  # PostgreSQL integer
MAX_SPEED_MPS = 150.0  # 540 km/h: nothing on a road; beyond is a corrupted sentence
MAX_ACCEL_MPS2 = 200.0  # about 20 g: more is a broken sensor, not a vehicle
MAX_COUNTERS = 100  # entries in a status' counters
Seq = Annotated[
    StrictInt,
    Field(ge=1, le=INT64_MAX, description="per-device sequence number, never goes backwards"),
]
Counter = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 at +09:00 is before year 1 in UTC
        raise ValueError("time out of range") from None


UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A timezone-aware time, held in UTC (so that comparing and storing cannot overflow)."""
CounterName = Annotated[str, Field(min_length=1, max_length=64)]


class ContractError(InvalidInputError):
    """A topic or payload that does not follow the contract."""

    def __init__(self, reason: str, *, topic: str = "") -> None:
        super().__init__(f"{topic}: {reason}" if topic else reason)
        self.topic = topic
        self.reason = reason


class Role(StrEnum):
    VEHICLE = "vehicle"
    STATION = "station"


class Kind(StrEnum):
    FIX = "fix"
    STATUS = "status"
    SIGHTING = "sighting"
    PASSAGE = "passage"
    EVENT = "event"


class EventKind(StrEnum):
    """What a driving alert is about: the one list of kinds, at the hub and on the vehicles."""

    HARSH_BRAKING = "harsh_braking"
    HARSH_ACCELERATION = "harsh_acceleration"
    HARSH_CORNERING = "harsh_cornering"
    SPEEDING = "speeding"


# the kinds a vehicle's accelerometer can detect at the edge
HARSH_KINDS = frozenset(
    {EventKind.HARSH_BRAKING, EventKind.HARSH_ACCELERATION, EventKind.HARSH_CORNERING}
)


class BeaconKind(StrEnum):
    """Advertisement formats a station understands.

    ``beacon_id`` spellings: ibeacon ``{uuid}/{major}/{minor}`` (uuid lower-case with
    dashes), altbeacon ``{id1 hex}/{id2}/{id3}``, eddystone_uid ``{namespace 20 hex}/{instance
    12 hex}``, eddystone_eid ``{eid 16 hex}`` (rotating: only the hub can tell whose it is).
    """

    IBEACON = "ibeacon"
    ALTBEACON = "altbeacon"
    EDDYSTONE_UID = "eddystone_uid"
    EDDYSTONE_EID = "eddystone_eid"


def topic_for(role: Role, device_id: str, kind: Kind) -> str:
    """The topic a device publishes ``kind`` messages on."""
    return f"{TOPIC_ROOT}/{role.value}/{device_id}/{kind.value}"


def subscription(role: Role | None = None, kind: Kind | None = None) -> str:
    """An MQTT subscription filter for all devices of ``role`` (any role if None)."""
    return f"{TOPIC_ROOT}/{role.value if role else '+'}/+/{kind.value if kind else '+'}"


def alert_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/hub/alert/{device_id}"


def watermark_topic(device_id: str) -> str:
    """Where the hub publishes ``device_id``'s ``Watermark`` (retained)."""
    return f"{TOPIC_ROOT}/hub/ack/{device_id}"


def parse_topic(topic: str) -> tuple[Role, str, Kind]:
    """Split a device topic into (role, device_id, kind).

    Raises:
        ContractError: the topic is not a device topic of this contract version.
    """
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise ContractError("not a citytrack/v1/{role}/{device_id}/{kind} topic", topic=topic)
    try:
        role, kind = Role(parts[2]), Kind(parts[4])
    except ValueError as exc:
        raise ContractError(f"unknown role or kind in topic: {exc}", topic=topic) from exc
    return role, parts[3], kind


class _Message(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False
    )

    schema_version: Literal[1] = Field(
        default=SCHEMA_VERSION, alias="schema", description="contract version"
    )
    device_id: DeviceId


class Fix(_Message):
    """One GNSS epoch as the vehicle agent merged it from RMC/GGA/VTG/GSA."""

    kind: Literal["fix"] = "fix"
    seq: Seq
    fix_time: UtcTime = Field(description="GNSS time of the fix, UTC")
    recv_time: UtcTime = Field(description="agent clock when the epoch was read, UTC")
    lat_deg: StrictFloat = Field(ge=-90, le=90, description="WGS84 latitude, degrees")
    lon_deg: StrictFloat = Field(ge=-180, le=180, description="WGS84 longitude, degrees")
    speed_mps: StrictFloat | None = Field(
        default=None,
        ge=0,
        le=MAX_SPEED_MPS,
        description="speed over ground from the receiver (RMC/VTG), m/s",
    )
    course_deg: StrictFloat | None = Field(
        default=None, ge=0, lt=360, description="true course over ground, degrees"
    )
    alt_m: StrictFloat | None = Field(
        default=None, ge=-1000, le=10000, description="altitude above mean sea level, m"
    )
    quality: StrictInt | None = Field(default=None, ge=0, le=9, description="GGA fix quality")
    mode: StrictInt | None = Field(
        default=None, ge=1, le=3, description="GSA mode: 1 none, 2 2D, 3 3D"
    )
    sats_used: StrictInt | None = Field(default=None, ge=0, le=99, description="satellites used")
    hdop: StrictFloat | None = Field(
        default=None, ge=0, le=100, description="horizontal dilution of precision"
    )
    pdop: StrictFloat | None = Field(default=None, ge=0, le=100)
    vdop: StrictFloat | None = Field(default=None, ge=0, le=100)
    driver_id: str | None = Field(
        default=None, max_length=64, description="driver card read by the unit, if fitted"
    )


class DeviceStatus(_Message):
    """Retained device state: online/offline plus the agent's counters."""

    kind: Literal["status"] = "status"
    online: StrictBool
    time: UtcTime = Field(description="device clock when the status was made, UTC")
    counters: dict[CounterName, Counter] = Field(
        default_factory=dict, max_length=MAX_COUNTERS, description="monotonic counters"
    )


class Passage(_Message):
    """One visit of a beacon tag to a detector, summarised at the detector.

    Not one message per advertisement: the station smooths RSSI, decides enter/leave with
    hysteresis, and sends one Passage per visit.
    """

    kind: Literal["passage"] = "passage"
    seq: Seq
    beacon_kind: BeaconKind
    beacon_id: str = Field(min_length=1, max_length=80, description="see BeaconKind")
    first_seen: UtcTime = Field(description="first advertisement of the visit, UTC")
    last_seen: UtcTime = Field(description="last advertisement of the visit, UTC")
    closest_time: UtcTime = Field(description="time of the peak smoothed RSSI, UTC")
    peak_rssi_dbm: StrictFloat = Field(le=20, ge=-127, description="peak smoothed RSSI, dBm")
    adv_count: StrictInt = Field(
        ge=1, le=INT32_MAX, description="advertisements heard during the visit"
    )
    tx_power_dbm: StrictInt | None = Field(
        default=None, ge=-127, le=20, description="calibrated power"
    )
    lat_deg: StrictFloat | None = Field(
        default=None, ge=-90, le=90, description="detector position"
    )
    lon_deg: StrictFloat | None = Field(default=None, ge=-180, le=180)
    battery_mv: StrictInt | None = Field(
        default=None, ge=0, le=65535, description="tag battery (Eddystone TLM: 16 bits), mV"
    )
    temperature_c: StrictFloat | None = Field(
        default=None, ge=-128, le=128, description="tag temperature (TLM: 8.8 fixed point), °C"
    )

    @model_validator(mode="after")
    def _times_in_order(self) -> Passage:
        if not self.first_seen <= self.closest_time <= self.last_seen:
            raise ValueError("need first_seen <= closest_time <= last_seen")
        return self


class Sighting(Passage):
    """A Passage from a mobile detector (a volunteer's phone, a bus): it carries the
    detector's own GNSS position at the closest approach."""

    kind: Literal["sighting"] = "sighting"  # type: ignore[assignment]
    lat_deg: StrictFloat = Field(ge=-90, le=90, description="detector position at closest approach")
    lon_deg: StrictFloat = Field(ge=-180, le=180)


class DrivingEvent(_Message):
    """A harsh driving event the vehicle detected at the edge, one per episode.

    The hub reconciles it with its own GNSS-based detection: an event and an alert of the
    same device and kind whose times overlap are one alert (``analytics.driving.reconcile``).
    """

    kind: Literal["event"] = "event"
    seq: Seq
    event_kind: EventKind = Field(description="what happened: a harsh kind, never speeding")
    start_time: UtcTime = Field(description="first moment beyond the threshold, UTC")
    end_time: UtcTime = Field(description="last moment beyond the threshold, UTC")
    peak_mps2: StrictFloat = Field(
        ge=0, le=MAX_ACCEL_MPS2, description="peak filtered |acceleration| of the episode"
    )
    threshold_mps2: StrictFloat = Field(
        gt=0, le=MAX_ACCEL_MPS2, description="the vehicle class threshold, m/s^2"
    )
    source: Literal["imu"] = Field(default="imu", description="what detected it")
    direction: Literal["left", "right"] | None = Field(
        default=None, description="harsh_cornering: which way the vehicle turned"
    )
    lat_deg: StrictFloat | None = Field(
        default=None, ge=-90, le=90, description="latest fix, WGS84"
    )
    lon_deg: StrictFloat | None = Field(default=None, ge=-180, le=180, description="latest fix")
    speed_mps: StrictFloat | None = Field(
        default=None, ge=0, le=MAX_SPEED_MPS, description="latest fix's speed, m/s"
    )

    @field_validator("event_kind")
    @classmethod
    def _harsh(cls, kind: EventKind) -> EventKind:
        if kind not in HARSH_KINDS:
            raise ValueError(f"an edge event is a harsh kind, not {kind.value!r}")
        return kind

    @model_validator(mode="after")
    def _times_in_order(self) -> DrivingEvent:
        if self.end_time < self.start_time:
            raise ValueError("need start_time <= end_time")
        return self

    @model_validator(mode="after")
    def _direction_of_a_turn(self) -> DrivingEvent:
        if self.direction is not None and self.event_kind != EventKind.HARSH_CORNERING:
            raise ValueError(f"a {self.event_kind.value} event has no direction")
        return self


class Watermark(BaseModel):
    """The hub's end-to-end acknowledgement to one device: every message of it up to
    ``seq`` is in the hub's database (stored, a duplicate of a stored one, or refused as a
    dead letter). Retained, so a device reads it when it (re)connects; a device deletes a
    message from its outbox only when a watermark covers it."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    device_id: DeviceId
    seq: Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]
    time: UtcTime = Field(description="hub clock when the watermark was made, UTC")


def with_seq(payload: bytes, seq: int) -> bytes:
    """``payload`` (a device message's JSON) with its ``seq`` replaced."""
    body = json.loads(payload)
    body["seq"] = seq
    return json.dumps(body, separators=(",", ":")).encode()


def encode(message: BaseModel) -> bytes:
    """Serialize a message to its JSON wire form (field aliases, no nulls)."""
    return message.model_dump_json(by_alias=True, exclude_none=True).encode()


DeviceMessage = Fix | DeviceStatus | Passage | Sighting | DrivingEvent

# which message each (role, kind) carries; anything else is refused
_MODELS: dict[tuple[Role, Kind], type[_Message]] = {
    (Role.VEHICLE, Kind.FIX): Fix,
    (Role.VEHICLE, Kind.STATUS): DeviceStatus,
    (Role.VEHICLE, Kind.EVENT): DrivingEvent,
    (Role.STATION, Kind.PASSAGE): Passage,
    (Role.STATION, Kind.SIGHTING): Sighting,
    (Role.STATION, Kind.STATUS): DeviceStatus,
}


def decode(topic: str, payload: bytes) -> DeviceMessage:
    """Validate a device message against its topic.

    Raises:
        ContractError: bad topic, a kind this role does not send, invalid JSON or fields, or a
            payload whose device_id differs from the topic's (a device may speak only
            as itself).
    """
    role, device_id, kind = parse_topic(topic)
    model = _MODELS.get((role, kind))
    if model is None:
        raise ContractError(f"a {role.value} does not send {kind.value!r}", topic=topic)
    try:
        msg = model.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise ContractError(f"invalid {kind.value}: {where}: {first['msg']}", topic=topic) from exc
    if msg.device_id != device_id:
        raise ContractError(
            f"payload device_id {msg.device_id!r} differs from topic device {device_id!r}",
            topic=topic,
        )
    assert isinstance(msg, DeviceMessage)
    return msg


@dataclass(frozen=True)
class TimeWindow:
    """How far a message's times may lie from the receiver's clock: ``past`` before it
    (what the store would keep no longer anyway) to ``future`` after it (clock skew)."""

    past: timedelta
    future: timedelta


def message_times(msg: DeviceMessage) -> list[tuple[str, datetime]]:
    """Every time a message carries, by field name."""
    if isinstance(msg, Fix):
        return [("fix_time", msg.fix_time), ("recv_time", msg.recv_time)]
    if isinstance(msg, DeviceStatus):
        return [("time", msg.time)]
    if isinstance(msg, Passage):
        return [("first_seen", msg.first_seen), ("last_seen", msg.last_seen)]
    return [("start_time", msg.start_time), ("end_time", msg.end_time)]


def check_times(msg: DeviceMessage, now: datetime, window: TimeWindow) -> None:
    """Refuse a message with a time outside ``window`` around ``now`` (aware).

    Raises:
        ContractError: which time, and how far off it is.
    """
    for name, time in message_times(msg):
        if time < now - window.past:
            raise ContractError(
                f"{name} {time.isoformat()} is older than the {_span(window.past)} kept"
            )
        if time > now + window.future:
            raise ContractError(
                f"{name} {time.isoformat()} is more than {_span(window.future)} ahead of "
                "the hub's clock: check the device's clock"
            )


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds / 86400:g} days" if seconds >= 86400 else f"{seconds:g} s"


def utcnow() -> datetime:
    return datetime.now(UTC)
