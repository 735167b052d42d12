"""HCI LE advertising report events: reach the AD bytes of a raw HCI capture.

What ``btmon``/``hcidump --raw`` or a raw HCI socket shows (Core Vol 4 Part E §7.7.65.2
and §7.7.65.13)::

    [04] 3E plen | 02 n | per report: evt 1 | addr type 1 | addr 6 (LE) | len 1 | data | rssi 1
    [04] 3E plen | 0D n | per report: evt 2 | addr type 1 | addr 6 | phy 1 | phy 1 | sid 1
                                      | tx power 1 | rssi 1 | interval 2 | direct type 1
                                      | direct addr 6 | len 1 | data

The leading 0x04 (H4 "event packet" indicator) is optional. Several reports in one event
are read one after the other, as BlueZ does. Every length must agree: the parameter length
with the bytes that follow, each data length with its report.

Errors::

    HciError(ValueError)    not a well-formed LE advertising report event
      .offset, .reason      byte offset where it went wrong, and why
"""

from __future__ import annotations

from dataclasses import dataclass

from citytrack.errors import InvalidInputError

H4_EVENT = 0x04
EVT_LE_META = 0x3E
SUB_ADV_REPORT = 0x02
SUB_EXT_ADV_REPORT = 0x0D
RSSI_UNAVAILABLE = 127
_LEGACY_FIXED = 9  # event type, address type, address, data length
_EXT_FIXED = 24


class HciError(InvalidInputError):
    """A packet that is not a well-formed LE advertising report event."""

    def __init__(self, reason: str, *, offset: int) -> None:
        super().__init__(f"bad HCI packet at offset {offset}: {reason}")
        self.reason = reason
        self.offset = offset


@dataclass(frozen=True)
class AdvReport:
    """One advertising report: who sent which AD bytes, heard how loud."""

    event_type: int
    address_type: int
    address: str
    """``aa:bb:cc:dd:ee:ff``, most significant byte first"""
    data: bytes
    """the AD structures (see :func:`citytrack.ble.adstructs.parse_ad`)"""
    rssi_dbm: int | None
    """received signal strength, dBm; None when the controller does not report it"""
    tx_power_dbm: int | None = None
    """extended reports only: the advertiser's Tx power, dBm"""


def parse_hci_event(packet: bytes) -> list[AdvReport]:
    """The advertising reports in one HCI LE Meta event.

    Raises:
        HciError: not an LE Meta event, not an (extended) advertising report, or lengths
            that do not agree.
    """
    if not packet or packet[0] not in (H4_EVENT, EVT_LE_META):
        first = f"0x{packet[0]:02x}" if packet else "nothing"
        reason = f"starts with {first}, neither the H4 event indicator 0x04 nor LE Meta 0x3e"
        raise HciError(reason, offset=0)
    start = 1 if packet[0] == H4_EVENT else 0
    if len(packet) < start + 4 or packet[start] != EVT_LE_META:
        raise HciError("not an LE Meta event (0x3e, length, subevent, count)", offset=start)
    plen = packet[start + 1]
    if plen != len(packet) - start - 2:
        reason = f"parameter length {plen} but {len(packet) - start - 2} bytes follow"
        raise HciError(reason, offset=start + 1)
    subevent, count = packet[start + 2], packet[start + 3]
    if subevent not in (SUB_ADV_REPORT, SUB_EXT_ADV_REPORT):
        raise HciError(f"subevent 0x{subevent:02x} is not an advertising report", offset=start + 2)
    read = _legacy_report if subevent == SUB_ADV_REPORT else _extended_report
    offset, reports = start + 4, []
    for _ in range(count):
        report, offset = read(packet, offset)
        reports.append(report)
    if offset != len(packet):
        raise HciError(f"{len(packet) - offset} bytes after the last report", offset=offset)
    return reports


def _legacy_report(packet: bytes, offset: int) -> tuple[AdvReport, int]:
    _need(packet, offset, _LEGACY_FIXED)
    data_len = packet[offset + 8]
    data_at = offset + _LEGACY_FIXED
    _need(packet, data_at, data_len + 1)
    report = AdvReport(
        event_type=packet[offset],
        address_type=packet[offset + 1],
        address=_address(packet[offset + 2 : offset + 8]),
        data=bytes(packet[data_at : data_at + data_len]),
        rssi_dbm=_power(packet[data_at + data_len]),
    )
    return report, data_at + data_len + 1


def _extended_report(packet: bytes, offset: int) -> tuple[AdvReport, int]:
    _need(packet, offset, _EXT_FIXED)
    data_len = packet[offset + _EXT_FIXED - 1]
    data_at = offset + _EXT_FIXED
    _need(packet, data_at, data_len)
    report = AdvReport(
        event_type=int.from_bytes(packet[offset : offset + 2], "little"),
        address_type=packet[offset + 2],
        address=_address(packet[offset + 3 : offset + 9]),
        data=bytes(packet[data_at : data_at + data_len]),
        rssi_dbm=_power(packet[offset + 13]),
        tx_power_dbm=_power(packet[offset + 12]),
    )
    return report, data_at + data_len


def _need(packet: bytes, offset: int, size: int) -> None:
    if offset + size > len(packet):
        left = len(packet) - offset
        raise HciError(f"report needs {size} more bytes, {left} left", offset=offset)


def _address(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in reversed(raw))


def _power(byte: int) -> int | None:
    value = byte - 256 if byte > 127 else byte
    return None if value == RSSI_UNAVAILABLE else value
