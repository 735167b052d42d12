"""Alerts: what the hub's detectors (and a vehicle's accelerometer) find, as the hub stores
and publishes it on ``citytrack/v1/hub/alert/{device_id}`` (``citytrack.wire.alert_topic``).

``Alert.details`` is typed per kind (``details_model``): ``HarshDetails`` for harsh braking
and acceleration, ``CorneringDetails`` for harsh cornering, ``SpeedingDetails`` for
speeding, each on the ``AlertDetails`` base that reconciliation's fields share. Their JSON
keeps only the fields that were set, so stored rows and the API keep one shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from citytrack.wire import DeviceId, EventKind

DetectionSource = Literal["gps", "imu"]
"""Which side found an alert: the hub's GNSS detectors or the vehicle's accelerometer."""


def _isoformat(time: datetime) -> str:
    return time.isoformat()


IsoTime = Annotated[AwareDatetime, PlainSerializer(_isoformat, when_used="json")]
"""An aware time written as ``datetime.isoformat()`` gives it (``+00:00``, not ``Z``)."""


class AlertDetails(BaseModel):
    """What a detector measured of one episode: the base of each kind's details.

    The fields here are those any kind may carry: the episode's length and, once
    ``analytics.driving.reconcile`` has merged the two sides' findings of one episode, which
    sides found it and what the other side measured. Each kind has its own subclass
    (``details_model``). A field is None when its producer did not say; such a field is left
    out of the JSON, except those in ``null_when_given`` (written, null included, whenever
    they were given), so that the JSON is exactly what the detectors have always written.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    null_when_given: ClassVar[frozenset[str]] = frozenset()

    duration_s: float | None = Field(default=None, description="length of the episode, s")
    sources: tuple[DetectionSource, ...] | None = Field(
        default=None, description="which sides found it, sorted (absent: the GNSS side alone)"
    )
    imu_peak_mps2: float | None = Field(
        default=None, description="the accelerometer's peak |acceleration|, m/s^2"
    )
    imu_start_time: IsoTime | None = Field(
        default=None, description="start of the accelerometer's episode, UTC"
    )
    imu_end_time: IsoTime | None = Field(
        default=None, description="end of the accelerometer's episode, UTC"
    )
    imu_seq: int | None = Field(default=None, description="seq of the vehicle's DrivingEvent")
    gps_peak_mps2: float | None = Field(
        default=None, description="the GNSS detector's peak, m/s^2, merged into an IMU alert"
    )
    gps_start_time: IsoTime | None = Field(
        default=None, description="start of the GNSS detector's episode, UTC"
    )
    gps_end_time: IsoTime | None = Field(
        default=None, description="end of the GNSS detector's episode, UTC"
    )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # the fields' schema in both modes: _as_written's would be a bare object
        return handler({k: v for k, v in schema.items() if k != "serialization"})

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)  # without the nulls, if the caller asked exclude_none
        keep_none = self.null_when_given & self.model_fields_set
        written = {name: data.get(name) for name in type(self).model_fields}
        return {k: v for k, v in written.items() if v is not None or k in keep_none}


class ManoeuvreDetails(AlertDetails):
    """What the harsh kinds share: the peak against the vehicle class's threshold."""

    peak_mps2: float | None = Field(
        default=None,
        description="peak |acceleration| of the episode (lateral when cornering), m/s^2",
    )
    threshold_mps2: float | None = Field(
        default=None, description="the vehicle class's threshold for this kind, m/s^2"
    )
    speed_mps: float | None = Field(
        default=None,
        description="speed at the peak (GNSS cornering) or at the vehicle's latest fix "
        "(an accelerometer's alert), m/s",
    )


class HarshDetails(ManoeuvreDetails):
    """harsh_braking and harsh_acceleration."""

    speed_from_mps: float | None = Field(
        default=None, description="speed when the episode began, m/s (GNSS)"
    )
    speed_to_mps: float | None = Field(
        default=None, description="speed when the episode ended, m/s (GNSS)"
    )


class CorneringDetails(ManoeuvreDetails):
    """harsh_cornering."""

    turn_deg: float | None = Field(
        default=None, description="heading change over the episode, degrees (GNSS)"
    )
    direction: Literal["left", "right"] | None = Field(
        default=None, description="which way the vehicle turned"
    )


class SpeedingDetails(AlertDetails):
    """speeding."""

    null_when_given: ClassVar[frozenset[str]] = frozenset({"zone_id"})

    max_speed_kmh: float | None = Field(
        default=None, description="highest speed of the episode, km/h"
    )
    limit_kmh: float | None = Field(
        default=None, description="the strictest limit driven against, km/h"
    )
    tolerance_kmh: float | None = Field(
        default=None, description="allowed excess over the limit, km/h"
    )
    zone_id: str | None = Field(
        default=None, description="the zone or road of that limit; null: the default limit"
    )
    zone_kind: str | None = Field(
        default=None, description='where the limit comes from: "school_zone", "road", "default"'
    )


Details = HarshDetails | CorneringDetails | SpeedingDetails
"""The details of an alert, one model per family of kinds (``details_model``)."""

_DETAILS_MODELS: dict[EventKind, type[Details]] = {
    EventKind.HARSH_BRAKING: HarshDetails,
    EventKind.HARSH_ACCELERATION: HarshDetails,
    EventKind.HARSH_CORNERING: CorneringDetails,
    EventKind.SPEEDING: SpeedingDetails,
}


def details_model(kind: EventKind) -> type[Details]:
    """The details model of alerts of ``kind``."""
    return _DETAILS_MODELS[kind]


class Alert(BaseModel):
    """A detector's finding, as the hub stores and publishes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_id: DeviceId
    driver_id: str | None = None
    kind: EventKind = Field(description="what the alert is about")
    severity: Literal["low", "medium", "high"]
    start_time: AwareDatetime
    end_time: AwareDatetime
    lat_deg: float
    lon_deg: float
    details: Details = Field(
        default_factory=dict,
        validate_default=True,
        description="what the detector measured, in the model of the alert's kind "
        "(details_model); none given: that model, empty",
    )

    @field_validator("details", mode="before")
    @classmethod
    def _details_of_its_kind(cls, details: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind is None:
            return details  # the kind is invalid, and its own error says so
        model = details_model(kind)
        if isinstance(details, AlertDetails):
            if type(details) is not model:
                raise ValueError(
                    f"a {kind.value} alert takes {model.__name__}, not {type(details).__name__}"
                )
            return details
        return model.model_validate(details)
