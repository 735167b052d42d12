"""Beacon frames carried in advertisements: iBeacon, AltBeacon and Eddystone.

Where each lives in :class:`~citytrack.ble.adstructs.AdFields` (payloads after the company
id or service UUID; multi-byte numbers big-endian unless noted)::

    iBeacon    manufacturer 0x004C: 02 15 | uuid 16 | major 2 | minor 2 | power@1m 1
    AltBeacon  manufacturer any:    be ac | id1 16 | id2 2 | id3 2 | ref_rssi@1m 1 | rsvd 1
    Eddystone  service 0xFEAA:      frame type 1 | frame body
      0x00 UID   power@0m 1 | namespace 10 | instance 6 | [RFU 2]
      0x10 URL   power@0m 1 | scheme 1 | encoded URL
      0x20 TLM   version 00 | battery mV 2 | temp 8.8 signed 2 | adv count 4 | 0.1 s count 4
      0x30 EID   power@0m 1 | EID 8

Specs: Apple "Proximity Beacon Specification" r1; AltBeacon spec v1.0
(github.com/AltBeacon/spec); Eddystone (github.com/google/eddystone, ``protocol-
specification.md`` and one folder per frame).

Decoding never raises on payload content: anything that looks like a beacon but does
not fit is skipped, and counted in ``skipped`` when the caller passes a Counter.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from citytrack.ble.adstructs import AdFields, parse_ad
from citytrack.ble.urls import decode_url, encode_url
from citytrack.wire import BeaconKind

APPLE_COMPANY_ID = 0x004C
IBEACON_PREFIX = b"\x02\x15"
ALTBEACON_CODE = b"\xbe\xac"
EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"
FRAME_UID, FRAME_URL, FRAME_TLM, FRAME_EID = 0x00, 0x10, 0x20, 0x30
TLM_NO_TEMPERATURE = -0x8000  # 0x8000 as a signed 8.8 value: "not supported"


@dataclass(frozen=True)
class IBeacon:
    """Apple iBeacon. ``uuid`` lower-case with dashes; ``tx_power_dbm`` measured at 1 m."""

    uuid: str
    major: int
    minor: int
    tx_power_dbm: int
    beacon_kind: ClassVar[BeaconKind] = BeaconKind.IBEACON
    frame_type: ClassVar[str] = "ibeacon"

    @property
    def beacon_id(self) -> str:
        """``{uuid}/{major}/{minor}``."""
        return f"{self.uuid}/{self.major}/{self.minor}"


@dataclass(frozen=True)
class AltBeacon:
    """AltBeacon. ``id1`` 32 lower-case hex; ``ref_rssi_dbm`` is the RSSI at 1 m."""

    id1: str
    id2: int
    id3: int
    ref_rssi_dbm: int
    mfg_reserved: int
    company_id: int
    beacon_kind: ClassVar[BeaconKind] = BeaconKind.ALTBEACON
    frame_type: ClassVar[str] = "altbeacon"

    @property
    def beacon_id(self) -> str:
        """``{id1 hex}/{id2}/{id3}``."""
        return f"{self.id1}/{self.id2}/{self.id3}"


@dataclass(frozen=True)
class EddystoneUid:
    """Eddystone-UID. Hex lower-case: namespace 20 digits, instance 12; power at 0 m."""

    namespace: str
    instance: str
    tx_power_dbm: int
    beacon_kind: ClassVar[BeaconKind] = BeaconKind.EDDYSTONE_UID
    frame_type: ClassVar[str] = "eddystone_uid"

    @property
    def beacon_id(self) -> str:
        """``{namespace}/{instance}``."""
        return f"{self.namespace}/{self.instance}"


@dataclass(frozen=True)
class EddystoneEid:
    """Eddystone-EID: the 8-byte ephemeral id as 16 lower-case hex; power at 0 m."""

    eid: str
    tx_power_dbm: int
    beacon_kind: ClassVar[BeaconKind] = BeaconKind.EDDYSTONE_EID
    frame_type: ClassVar[str] = "eddystone_eid"

    @property
    def beacon_id(self) -> str:
        """The EID itself: only the hub, holding the identity keys, can tell whose it is."""
        return self.eid


@dataclass(frozen=True)
class EddystoneTlm:
    """Unencrypted Eddystone-TLM (version 0).

    ``battery_mv`` 0 means the beacon does not report it; ``temperature_c`` None likewise
    (0x8000 on the air); ``uptime_s`` is the 0.1 s power-on counter in seconds.
    """

    version: int
    battery_mv: int
    temperature_c: float | None
    adv_count: int
    uptime_s: float
    beacon_kind: ClassVar[None] = None
    frame_type: ClassVar[str] = "eddystone_tlm"

    @property
    def beacon_id(self) -> None:
        """Telemetry does not identify a tag on its own."""
        return None


@dataclass(frozen=True)
class EddystoneUrl:
    """Eddystone-URL: the expanded URL; power at 0 m."""

    url: str
    tx_power_dbm: int
    beacon_kind: ClassVar[None] = None
    frame_type: ClassVar[str] = "eddystone_url"

    @property
    def beacon_id(self) -> None:
        """A URL is shared by many beacons: not a tag id."""
        return None


Frame = IBeacon | AltBeacon | EddystoneUid | EddystoneEid | EddystoneTlm | EddystoneUrl
EddystoneFrame = EddystoneUid | EddystoneEid | EddystoneTlm | EddystoneUrl


def decode_fields(fields: AdFields, *, skipped: Counter[str] | None = None) -> list[Frame]:
    """Every beacon frame in ``fields``: manufacturer data first, then Eddystone.

    Returns [] when there is none. Never raises on payload content: a payload that looks
    like a beacon but does not fit the format is skipped and, if ``skipped`` is given,
    counted there under a reason such as ``"eddystone_uid_length"``.
    """
    tally: Counter[str] = Counter() if skipped is None else skipped
    frames: list[Frame] = []
    for company, payload in fields.manufacturer_data.items():
        frames.extend(_decode_manufacturer(company, payload, tally))
    eddystone = fields.service_data.get(EDDYSTONE_UUID)
    if eddystone is not None:
        frame = _decode_eddystone(eddystone, tally)
        if frame is not None:
            frames.append(frame)
    return frames


def decode_ad(data: bytes, *, skipped: Counter[str] | None = None) -> list[Frame]:
    """:func:`parse_ad` then :func:`decode_fields`.

    Raises:
        AdError: the advertising data itself is malformed.
    """
    return decode_fields(parse_ad(data), skipped=skipped)


def _decode_manufacturer(company: int, payload: bytes, tally: Counter[str]) -> list[Frame]:
    if company == APPLE_COMPANY_ID and payload[:2] == IBEACON_PREFIX:
        # Apple's payload is a run of (type, length) records; iBeacon is type 02 length 0x15
        if len(payload) < 23:
            tally["ibeacon_length"] += 1
            return []
        return [
            IBeacon(
                uuid=str(uuid.UUID(bytes=payload[2:18])),
                major=int.from_bytes(payload[18:20], "big"),
                minor=int.from_bytes(payload[20:22], "big"),
                tx_power_dbm=_int8(payload[22]),
            )
        ]
    if payload[:2] == ALTBEACON_CODE:
        # a 23-byte payload lacks the reserved byte, as some beacons send it;
        # android-beacon-library reads the missing field as 0, and so do we
        if len(payload) < 23:
            tally["altbeacon_length"] += 1
            return []
        return [
            AltBeacon(
                id1=payload[2:18].hex(),
                id2=int.from_bytes(payload[18:20], "big"),
                id3=int.from_bytes(payload[20:22], "big"),
                ref_rssi_dbm=_int8(payload[22]),
                mfg_reserved=payload[23] if len(payload) > 23 else 0,
                company_id=company,
            )
        ]
    return []


def _decode_eddystone(data: bytes, tally: Counter[str]) -> EddystoneFrame | None:
    if not data:
        tally["eddystone_empty"] += 1
        return None
    decoder = _EDDYSTONE_DECODERS.get(data[0])
    if decoder is None:
        tally[f"eddystone_frame_0x{data[0]:02x}"] += 1
        return None
    return decoder(data, tally)


def _uid(data: bytes, tally: Counter[str]) -> EddystoneUid | None:
    # the 2 RFU bytes are often left out (android-beacon-library's layout ends at byte 19)
    if not 18 <= len(data) <= 20:
        tally["eddystone_uid_length"] += 1
        return None
    return EddystoneUid(data[2:12].hex(), data[12:18].hex(), _int8(data[1]))


def _eid(data: bytes, tally: Counter[str]) -> EddystoneEid | None:
    if len(data) != 10:
        tally["eddystone_eid_length"] += 1
        return None
    return EddystoneEid(data[2:10].hex(), _int8(data[1]))


def _tlm(data: bytes, tally: Counter[str]) -> EddystoneTlm | None:
    if len(data) < 2 or data[1] != 0:
        # version 0x01 is encrypted TLM: readable only with the tag's identity key
        tally["eddystone_tlm_encrypted" if data[1:2] == b"\x01" else "eddystone_tlm_version"] += 1
        return None
    if len(data) != 14:
        tally["eddystone_tlm_length"] += 1
        return None
    temp = int.from_bytes(data[4:6], "big", signed=True)
    return EddystoneTlm(
        version=0,
        battery_mv=int.from_bytes(data[2:4], "big"),
        temperature_c=None if temp == TLM_NO_TEMPERATURE else temp / 256,
        adv_count=int.from_bytes(data[6:10], "big"),
        uptime_s=int.from_bytes(data[10:14], "big") / 10,
    )


def _url(data: bytes, tally: Counter[str]) -> EddystoneUrl | None:
    if len(data) < 3:
        tally["eddystone_url_length"] += 1
        return None
    try:
        url = decode_url(data[2:])
    except ValueError:
        tally["eddystone_url_encoding"] += 1
        return None
    return EddystoneUrl(url, _int8(data[1]))


_EDDYSTONE_DECODERS: dict[int, Callable[[bytes, Counter[str]], EddystoneFrame | None]] = {
    FRAME_UID: _uid,
    FRAME_URL: _url,
    FRAME_TLM: _tlm,
    FRAME_EID: _eid,
}


def _int8(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def encode_ibeacon(b: IBeacon) -> AdFields:
    """The manufacturer data of an iBeacon advertisement, for simulators.

    Raises:
        ValueError: bad UUID, or major/minor/power out of range.
    """
    body = _u16(b.major, "major") + _u16(b.minor, "minor") + _i8(b.tx_power_dbm)
    payload = IBEACON_PREFIX + uuid.UUID(b.uuid).bytes + body
    return AdFields(manufacturer_data={APPLE_COMPANY_ID: payload})


def encode_altbeacon(b: AltBeacon) -> AdFields:
    """The manufacturer data of an AltBeacon advertisement, for simulators.

    Raises:
        ValueError: ``id1`` not 32 hex digits, or a number out of range.
    """
    id1 = _hex(b.id1, 16, "id1")
    body = id1 + _u16(b.id2, "id2") + _u16(b.id3, "id3") + _i8(b.ref_rssi_dbm)
    payload = ALTBEACON_CODE + body + _u8(b.mfg_reserved, "mfg_reserved")
    if not 0 <= b.company_id <= 0xFFFF:
        raise ValueError(f"company id {b.company_id} out of 0..0xffff")
    return AdFields(manufacturer_data={b.company_id: payload})


def encode_eddystone(frame: EddystoneFrame) -> AdFields:
    """The service data (and 0xFEAA service UUID list) of an Eddystone frame.

    Raises:
        ValueError: a field out of range, an id of the wrong length, or a URL that cannot
            be encoded.
    """
    if isinstance(frame, EddystoneUid):
        body = bytes([FRAME_UID]) + _i8(frame.tx_power_dbm)
        body += _hex(frame.namespace, 10, "namespace") + _hex(frame.instance, 6, "instance")
        body += b"\x00\x00"
    elif isinstance(frame, EddystoneEid):
        body = bytes([FRAME_EID]) + _i8(frame.tx_power_dbm) + _hex(frame.eid, 8, "eid")
    elif isinstance(frame, EddystoneUrl):
        body = bytes([FRAME_URL]) + _i8(frame.tx_power_dbm) + encode_url(frame.url)
    else:
        body = _tlm_body(frame)
    return AdFields(service_data={EDDYSTONE_UUID: body}, service_uuids=(EDDYSTONE_UUID,))


def _tlm_body(frame: EddystoneTlm) -> bytes:
    if frame.version != 0:
        raise ValueError(f"only unencrypted TLM (version 0) is encoded, not {frame.version}")
    if frame.temperature_c is None:
        temp = TLM_NO_TEMPERATURE
    else:
        temp = round(frame.temperature_c * 256)
        if not -0x7FFF <= temp <= 0x7FFF:
            raise ValueError(f"temperature {frame.temperature_c} °C out of the 8.8 range")
    tenths = round(frame.uptime_s * 10)
    if not 0 <= tenths <= 0xFFFFFFFF:
        raise ValueError(f"uptime {frame.uptime_s} s out of range")
    return (
        bytes([FRAME_TLM, 0])
        + _u16(frame.battery_mv, "battery_mv")
        + temp.to_bytes(2, "big", signed=True)
        + _u32(frame.adv_count, "adv_count")
        + tenths.to_bytes(4, "big")
    )


def _hex(text: str, size: int, name: str) -> bytes:
    raw = bytes.fromhex(text)
    if len(raw) != size:
        raise ValueError(f"{name} must be {size} bytes ({2 * size} hex digits), got {len(raw)}")
    return raw


def _unsigned(value: int, size: int, name: str) -> bytes:
    if not 0 <= value < 1 << (8 * size):
        raise ValueError(f"{name} {value} out of 0..{(1 << (8 * size)) - 1}")
    return value.to_bytes(size, "big")


def _u8(value: int, name: str) -> bytes:
    return _unsigned(value, 1, name)


def _u16(value: int, name: str) -> bytes:
    return _unsigned(value, 2, name)


def _u32(value: int, name: str) -> bytes:
    return _unsigned(value, 4, name)


def _i8(value: int) -> bytes:
    if not -128 <= value <= 127:
        raise ValueError(f"power {value} dBm out of -128..127")
    return value.to_bytes(1, "big", signed=True)
