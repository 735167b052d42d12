"""BLE advertising data: the (length, type, value) AD structures, parsed and built.

Advertising and scan-response data is a run of AD structures (Core Specification
Supplement, Part A; Core Vol 3 Part C §11)::

    +--------+--------+------------------+
    | length | AD type| value            |   length counts the type byte and the value
    +--------+--------+------------------+

A zero length byte carries no structure: the spec uses it to end the significant part,
and Android scan records pad the advertising data with zeros before the scan response,
so zero bytes are skipped and parsing goes on. Parsing is strict about framing and about
the fields :class:`AdFields` interprets; unknown AD types are legal and ignored.

Errors::

    AdError(ValueError)     malformed advertising data
      .offset, .reason      byte offset of the offending structure, and why
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from citytrack.errors import InvalidInputError

BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"

AD_FLAGS = 0x01
AD_UUID16_SOME, AD_UUID16_ALL = 0x02, 0x03
AD_UUID32_SOME, AD_UUID32_ALL = 0x04, 0x05
AD_UUID128_SOME, AD_UUID128_ALL = 0x06, 0x07
AD_NAME_SHORT, AD_NAME_COMPLETE = 0x08, 0x09
AD_TX_POWER = 0x0A
AD_SERVICE_DATA16, AD_SERVICE_DATA32, AD_SERVICE_DATA128 = 0x16, 0x20, 0x21
AD_MANUFACTURER = 0xFF

_UUID_LISTS = {
    AD_UUID16_SOME: 2,
    AD_UUID16_ALL: 2,
    AD_UUID32_SOME: 4,
    AD_UUID32_ALL: 4,
    AD_UUID128_SOME: 16,
    AD_UUID128_ALL: 16,
}
_SERVICE_DATA = {AD_SERVICE_DATA16: 2, AD_SERVICE_DATA32: 4, AD_SERVICE_DATA128: 16}
_LIST_TYPE_BY_WIDTH = {2: AD_UUID16_ALL, 4: AD_UUID32_ALL, 16: AD_UUID128_ALL}
_DATA_TYPE_BY_WIDTH = {2: AD_SERVICE_DATA16, 4: AD_SERVICE_DATA32, 16: AD_SERVICE_DATA128}
MAX_VALUE_LEN = 254  # the length byte also counts the type byte


class AdError(InvalidInputError):
    """Malformed advertising data; ``offset`` is the byte where the bad structure starts."""

    def __init__(self, reason: str, *, offset: int) -> None:
        super().__init__(f"malformed AD at offset {offset}: {reason}")
        self.reason = reason
        self.offset = offset


class AdStructure(NamedTuple):
    """One AD structure: where it starts in the data, its type, and its value bytes."""

    offset: int
    ad_type: int
    value: bytes


@dataclass(frozen=True)
class AdFields:
    """The fields of one advertisement, as bleak's ``AdvertisementData`` reports them.

    A company id or service UUID that appears twice keeps its last value (one payload per
    key, as in bleak's dictionaries).
    """

    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    """company id -> payload after the 2-byte (little-endian) company id"""
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    """128-bit service UUID, lower-case with dashes -> payload after the UUID"""
    service_uuids: tuple[str, ...] = ()
    """advertised service UUIDs (128-bit, lower-case), in order of appearance"""
    local_name: str | None = None
    tx_power_dbm: int | None = None
    """Tx Power Level AD: radiated power, dBm"""


def uuid_from_le(raw: bytes) -> str:
    """A 16-, 32- or 128-bit UUID as sent over the air (little-endian) -> 128-bit string.

    Raises:
        ValueError: ``raw`` is not 2, 4 or 16 bytes long.
    """
    if len(raw) in (2, 4):
        return f"{int.from_bytes(raw, 'little'):08x}{BASE_UUID_SUFFIX}"
    if len(raw) == 16:
        return str(uuid.UUID(bytes=raw[::-1]))
    raise ValueError(f"a UUID is 2, 4 or 16 bytes, not {len(raw)}")


def uuid_to_le(text: str) -> bytes:
    """A UUID string (128-bit, or 4/8 hex digits) -> its shortest over-the-air form.

    Raises:
        ValueError: ``text`` is not a UUID.
    """
    text = text.strip().lower()
    if len(text) in (4, 8):
        text = f"{int(text, 16):08x}{BASE_UUID_SUFFIX}"
    value = uuid.UUID(text)
    as_text = str(value)
    if as_text.endswith(BASE_UUID_SUFFIX):
        short = int(as_text[:8], 16)
        return short.to_bytes(2 if short <= 0xFFFF else 4, "little")
    return value.bytes[::-1]


def split_ad(data: bytes) -> Iterator[AdStructure]:
    """The AD structures in ``data``, skipping zero length bytes (padding).

    Raises:
        AdError: a length byte runs past the end of ``data``.
    """
    offset = 0
    while offset < len(data):
        length = data[offset]
        if length == 0:
            offset += 1
            continue
        end = offset + 1 + length
        if end > len(data):
            left = len(data) - offset - 1
            raise AdError(f"length {length} runs past the end (only {left} follow)", offset=offset)
        yield AdStructure(offset, data[offset + 1], bytes(data[offset + 2 : end]))
        offset = end


def parse_ad(data: bytes) -> AdFields:
    """Parse raw advertising (or scan response) data into :class:`AdFields`.

    Raises:
        AdError: a structure runs past the end, or a field this function reads has the
            wrong size (UUID list not a multiple of the UUID width, service data shorter
            than its UUID, manufacturer data without its 2-byte company id, Tx Power
            Level not 1 byte).
    """
    manufacturer: dict[int, bytes] = {}
    service: dict[str, bytes] = {}
    uuids: list[str] = []
    name: str | None = None
    short_name: str | None = None
    tx_power: int | None = None
    for s in split_ad(data):
        if s.ad_type in _UUID_LISTS:
            uuids.extend(_uuid_list(s, _UUID_LISTS[s.ad_type]))
        elif s.ad_type in _SERVICE_DATA:
            width = _need(s, _SERVICE_DATA[s.ad_type], "service data shorter than its UUID")
            service[uuid_from_le(s.value[:width])] = s.value[width:]
        elif s.ad_type == AD_MANUFACTURER:
            _need(s, 2, "manufacturer data without its 2-byte company id")
            manufacturer[int.from_bytes(s.value[:2], "little")] = s.value[2:]
        elif s.ad_type == AD_TX_POWER:
            if len(s.value) != 1:
                raise AdError(f"Tx Power Level is {len(s.value)} bytes, not 1", offset=s.offset)
            tx_power = int.from_bytes(s.value, "little", signed=True)
        elif s.ad_type in (AD_NAME_COMPLETE, AD_NAME_SHORT):
            # a shortened name may be cut inside a UTF-8 sequence: replace, never fail
            text = s.value.rstrip(b"\x00").decode("utf-8", errors="replace")
            if s.ad_type == AD_NAME_COMPLETE:
                name = text
            else:
                short_name = text
    return AdFields(
        manufacturer_data=manufacturer,
        service_data=service,
        service_uuids=tuple(dict.fromkeys(uuids)),
        local_name=name if name is not None else short_name,
        tx_power_dbm=tx_power,
    )


def _need(s: AdStructure, size: int, reason: str) -> int:
    if len(s.value) < size:
        raise AdError(f"{reason} ({len(s.value)} bytes)", offset=s.offset)
    return size


def _uuid_list(s: AdStructure, width: int) -> list[str]:
    if len(s.value) % width:
        reason = f"UUID list of {len(s.value)} bytes is not a multiple of {width}"
        raise AdError(reason, offset=s.offset)
    return [uuid_from_le(s.value[i : i + width]) for i in range(0, len(s.value), width)]


def build_ad(fields: AdFields, *, flags: int | None = 0x06) -> bytes:
    """Encode ``fields`` as AD structures: the inverse of :func:`parse_ad`, for simulators.

    Order: flags (0x06 = LE General Discoverable, BR/EDR not supported; None omits it),
    complete service UUID lists, service data, manufacturer data, Tx Power Level, complete
    local name. UUIDs on the Bluetooth base UUID go out in their 16- or 32-bit form. No
    31-byte limit is applied (extended advertising carries more).

    Raises:
        ValueError: a value out of range (flags, company id, Tx power), a bad UUID string,
            or a structure longer than 254 bytes.
    """
    out = bytearray()
    if flags is not None:
        if not 0 <= flags <= 0xFF:
            raise ValueError(f"flags {flags} out of 0..255")
        out += _structure(AD_FLAGS, bytes([flags]))
    by_width: dict[int, bytearray] = {}
    for text in fields.service_uuids:
        raw = uuid_to_le(text)
        by_width.setdefault(len(raw), bytearray()).extend(raw)
    for width, raw_list in sorted(by_width.items()):
        out += _structure(_LIST_TYPE_BY_WIDTH[width], bytes(raw_list))
    for text, payload in fields.service_data.items():
        raw = uuid_to_le(text)
        out += _structure(_DATA_TYPE_BY_WIDTH[len(raw)], raw + payload)
    for company, payload in fields.manufacturer_data.items():
        if not 0 <= company <= 0xFFFF:
            raise ValueError(f"company id {company} out of 0..0xffff")
        out += _structure(AD_MANUFACTURER, company.to_bytes(2, "little") + payload)
    if fields.tx_power_dbm is not None:
        if not -128 <= fields.tx_power_dbm <= 127:
            raise ValueError(f"Tx power {fields.tx_power_dbm} dBm out of -128..127")
        out += _structure(AD_TX_POWER, fields.tx_power_dbm.to_bytes(1, "little", signed=True))
    if fields.local_name is not None:
        out += _structure(AD_NAME_COMPLETE, fields.local_name.encode())
    return bytes(out)


def _structure(ad_type: int, value: bytes) -> bytes:
    if len(value) > MAX_VALUE_LEN:
        raise ValueError(f"AD type 0x{ad_type:02x}: {len(value)} bytes, at most {MAX_VALUE_LEN}")
    return bytes([len(value) + 1, ad_type]) + value
