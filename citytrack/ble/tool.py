"""What a station makes of raw advertisement bytes (``citytrack ble decode HEX [HEX...]``
prints :func:`decode_one` of each input as one JSON line).

Each input is hex (spaces, colons and a leading ``0x`` allowed): either advertising data
(AD structures, as ``btmon`` prints them) or a whole HCI LE advertising report event
starting ``04 3e`` (as ``hcidump --raw`` prints it). Its JSON object::

    {"input": "0201...", "frames": [{"type": "ibeacon", "uuid": ..., "beacon_kind": ...,
                                     "beacon_id": ...}]}
    {"input": "04 3e ...", "reports": [{"address": ..., "rssi_dbm": ...}], "frames": [...]}
    {"input": "zz", "error": "not hex: ..."}
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from citytrack.ble.adstructs import AdError
from citytrack.ble.frames import Frame, decode_ad
from citytrack.ble.hci import EVT_LE_META, H4_EVENT, HciError, parse_hci_event


class _ReportError(ValueError):
    """Malformed AD inside one report of an HCI event."""


def decode_one(text: str) -> dict[str, Any]:
    """The JSON object (as a dict) for one hex input; see the module docstring. Bad input
    is reported in its ``"error"``, never raised."""
    result: dict[str, Any] = {"input": text}
    cleaned = "".join(text.split()).replace(":", "").lower().removeprefix("0x")
    try:
        data = bytes.fromhex(cleaned)
    except ValueError as exc:
        result["error"] = f"not hex: {exc}"
        return result
    skipped: Counter[str] = Counter()
    try:
        if data[:2] == bytes([H4_EVENT, EVT_LE_META]):
            result.update(_decode_hci(data, skipped))
        else:
            result["frames"] = [frame_json(f) for f in decode_ad(data, skipped=skipped)]
    except (AdError, HciError, _ReportError) as exc:
        result.pop("frames", None)
        result["error"] = str(exc)
        return result
    if not result["frames"]:
        del result["frames"]
        why = f" (skipped: {', '.join(sorted(skipped))})" if skipped else ""
        result["error"] = f"no beacon frame{why}"
    return result


def _decode_hci(data: bytes, skipped: Counter[str]) -> dict[str, Any]:
    reports, frames = [], []
    for number, report in enumerate(parse_hci_event(data), start=1):
        reports.append(
            {
                "address": report.address,
                "address_type": report.address_type,
                "event_type": report.event_type,
                "rssi_dbm": report.rssi_dbm,
                "tx_power_dbm": report.tx_power_dbm,
            }
        )
        try:
            frames += [frame_json(f) for f in decode_ad(report.data, skipped=skipped)]
        except AdError as exc:
            raise _ReportError(f"report {number}: {exc}") from exc
    return {"reports": reports, "frames": frames}


def frame_json(frame: Frame) -> dict[str, Any]:
    """A frame as a JSON-ready dict: ``type``, its fields, ``beacon_kind``, ``beacon_id``."""
    return {
        "type": frame.frame_type,
        **asdict(frame),
        "beacon_kind": frame.beacon_kind,
        "beacon_id": frame.beacon_id,
    }
