"""AD structures, beacon frames and HCI reports: encode/decode round trips and junk."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citytrack.ble.adstructs import AdError, AdFields, build_ad, parse_ad, split_ad
from citytrack.ble.frames import (
    EDDYSTONE_UUID,
    AltBeacon,
    EddystoneEid,
    EddystoneTlm,
    EddystoneUid,
    EddystoneUrl,
    IBeacon,
    decode_ad,
    decode_fields,
    encode_altbeacon,
    encode_eddystone,
    encode_ibeacon,
)
from citytrack.ble.hci import HciError, parse_hci_event
from citytrack.ble.urls import decode_url, encode_url
from citytrack.wire import BeaconKind

power = st.integers(-128, 127)
u16 = st.integers(0, 0xFFFF)


def hexes(size: int) -> st.SearchStrategy[str]:
    return st.binary(min_size=size, max_size=size).map(bytes.hex)


ibeacons = st.builds(IBeacon, uuid=st.uuids().map(str), major=u16, minor=u16, tx_power_dbm=power)
altbeacons = st.builds(
    AltBeacon,
    id1=hexes(16),
    id2=u16,
    id3=u16,
    ref_rssi_dbm=power,
    mfg_reserved=st.integers(0, 255),
    company_id=u16,
)
uids = st.builds(EddystoneUid, namespace=hexes(10), instance=hexes(6), tx_power_dbm=power)
eids = st.builds(EddystoneEid, eid=hexes(8), tx_power_dbm=power)
tlms = st.builds(
    EddystoneTlm,
    version=st.just(0),
    battery_mv=u16,
    temperature_c=st.none() | st.integers(-0x7FFF, 0x7FFF).map(lambda t: t / 256),
    adv_count=st.integers(0, 2**32 - 1),
    uptime_s=st.integers(0, 2**32 - 1).map(lambda t: t / 10),
)
url_text = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-"), min_size=1)
urls = st.builds(
    lambda scheme, host, tld, path: f"{scheme}{host}{tld}{path}",
    st.sampled_from(["http://www.", "https://www.", "http://", "https://"]),
    url_text,
    st.sampled_from(["", ".com", ".org", ".info", ".gov", ".jp", ".co.jp"]),
    st.sampled_from(["", "/"]) | url_text.map(lambda p: f"/{p}?q={p}"),
)
eddystone_urls = st.builds(EddystoneUrl, url=urls, tx_power_dbm=power)


@given(ibeacons)
def test_ibeacon_round_trip(frame: IBeacon) -> None:
    assert decode_ad(build_ad(encode_ibeacon(frame))) == [frame]
    assert frame.beacon_kind is BeaconKind.IBEACON
    assert frame.beacon_id == f"{frame.uuid}/{frame.major}/{frame.minor}"


@given(altbeacons)
def test_altbeacon_round_trip(frame: AltBeacon) -> None:
    assert decode_ad(build_ad(encode_altbeacon(frame), flags=0x1A)) == [frame]


@given(uids | eids | tlms | eddystone_urls)
def test_eddystone_round_trip(frame: EddystoneUid | EddystoneEid | EddystoneTlm) -> None:
    fields = encode_eddystone(frame)
    assert fields.service_uuids == (EDDYSTONE_UUID,)
    assert decode_ad(build_ad(fields)) == [frame]


@given(urls)
def test_url_round_trip(url: str) -> None:
    assert decode_url(encode_url(url)) == url
    host_end = min(i for i in (url.find("/", 8), url.find("?", 8), len(url)) if i >= 0)
    # scheme and host are lower-cased, the path keeps its case
    assert decode_url(encode_url(url.upper())) == url[:host_end] + url[host_end:].upper()


def test_url_case_rules() -> None:
    assert decode_url(encode_url("HTTPS://WWW.Example.COM/Path?X=1")) == (
        "https://www.example.com/Path?X=1"
    )


@pytest.mark.parametrize("url", ["ftp://example.com", "http://exa mple.com", "http://例え.jp"])
def test_url_that_cannot_be_encoded(url: str) -> None:
    with pytest.raises(ValueError):
        encode_url(url)


@pytest.mark.parametrize("raw", ["", "04", "0261ff", "02610e"])
def test_bad_url_bytes(raw: str) -> None:
    with pytest.raises(ValueError):
        decode_url(bytes.fromhex(raw))


def test_tlm_without_temperature_and_skipped_frames_are_counted() -> None:
    tlm = EddystoneTlm(0, 0, None, 1, 0.5)
    assert decode_fields(encode_eddystone(tlm)) == [tlm]
    junk = {
        "": "eddystone_empty",
        "40aa": "eddystone_frame_0x40",
        "00e3": "eddystone_uid_length",
        "30e3aa": "eddystone_eid_length",
        "2001aa": "eddystone_tlm_encrypted",
        "2002aa": "eddystone_tlm_version",
        "2000aa": "eddystone_tlm_length",
        "10e3": "eddystone_url_length",
        "10e304": "eddystone_url_encoding",
    }
    for payload, reason in junk.items():
        skipped: Counter[str] = Counter()
        fields = AdFields(service_data={EDDYSTONE_UUID: bytes.fromhex(payload)})
        assert decode_fields(fields, skipped=skipped) == []
        assert skipped == {reason: 1}, payload
    skipped = Counter()
    fields = AdFields(manufacturer_data={0x004C: bytes.fromhex("0215aa"), 7: b"\xbe\xac\x01"})
    assert decode_fields(fields, skipped=skipped) == []
    assert skipped == {"ibeacon_length": 1, "altbeacon_length": 1}


def test_several_frames_in_one_advertisement() -> None:
    ib = IBeacon(str(uuid.UUID(int=1)), 1, 2, -59)
    eid = EddystoneEid("0011223344556677", -20)
    fields = AdFields(
        manufacturer_data=encode_ibeacon(ib).manufacturer_data,
        service_data=encode_eddystone(eid).service_data,
    )
    assert decode_fields(fields) == [ib, eid]


# ---- AD structures --------------------------------------------------------------------

ad_fields = st.builds(
    AdFields,
    manufacturer_data=st.dictionaries(u16, st.binary(max_size=20), max_size=3),
    service_data=st.dictionaries(
        st.uuids().map(str) | st.sampled_from([EDDYSTONE_UUID]), st.binary(max_size=20)
    ),
    service_uuids=st.lists(
        st.uuids().map(str)
        | st.integers(1, 0xFFFFFFFF).map(lambda n: f"{n:08x}-0000-1000-8000-00805f9b34fb"),
        unique=True,
        max_size=3,
    ).map(tuple),
    local_name=st.none() | st.text(max_size=20).filter(lambda s: not s.endswith("\x00")),
    tx_power_dbm=st.none() | power,
)


@given(ad_fields)
def test_ad_round_trip(fields: AdFields) -> None:
    parsed = parse_ad(build_ad(fields))
    assert parsed.manufacturer_data == fields.manufacturer_data
    assert parsed.service_data == fields.service_data
    assert sorted(parsed.service_uuids) == sorted(fields.service_uuids)
    assert (parsed.local_name, parsed.tx_power_dbm) == (fields.local_name, fields.tx_power_dbm)


@given(st.binary(max_size=80))
def test_parse_raises_only_ad_error_and_decode_never_raises(data: bytes) -> None:
    try:
        fields = parse_ad(data)
    except AdError as exc:
        assert 0 <= exc.offset < len(data)
        return
    assert isinstance(decode_fields(fields), list)


@given(st.binary(max_size=40), st.binary(max_size=40), u16)
def test_decode_fields_never_raises_on_junk_payloads(
    service: bytes, manufacturer: bytes, company: int
) -> None:
    for company_id in (company, 0x004C):
        fields = AdFields(
            manufacturer_data={
                company_id: b"\xbe\xac" + manufacturer,
                0x004C: b"\x02\x15" + manufacturer,
            },
            service_data={EDDYSTONE_UUID: service},
        )
        assert isinstance(decode_fields(fields), list)


@pytest.mark.parametrize(
    ("hex_data", "offset"),
    [
        ("0201060303", 3),
        ("0303aafe0216aa", 4),
        ("0201060202aa", 3),
        ("02010602ff4c", 3),
        ("0201060aff", 3),
        ("03ff4c", 0),
        ("030a0102", 0),
    ],
)
def test_malformed_ad_names_the_offset(hex_data: str, offset: int) -> None:
    data = bytes.fromhex(hex_data)
    with pytest.raises(AdError) as caught:
        parse_ad(data)
    assert caught.value.offset == offset
    assert str(caught.value).startswith(f"malformed AD at offset {offset}: ")


def test_zero_padding_between_advertisement_and_scan_response() -> None:
    data = bytes.fromhex("020106" + "00" * 28 + "0609" + "6162636465" + "00" * 24)
    assert [s.ad_type for s in split_ad(data)] == [0x01, 0x09]
    assert parse_ad(data).local_name == "abcde"


def test_uuid_forms() -> None:
    fields = parse_ad(bytes.fromhex("0303aafe" + "050578563412" + "1107" + "00" * 15 + "01"))
    assert fields.service_uuids == (
        EDDYSTONE_UUID,
        "12345678-0000-1000-8000-00805f9b34fb",
        "01000000-0000-0000-0000-000000000000",
    )


@pytest.mark.parametrize(
    "fields",
    [
        AdFields(manufacturer_data={0x10000: b""}),
        AdFields(tx_power_dbm=128),
        AdFields(service_uuids=("not-a-uuid",)),
        AdFields(manufacturer_data={1: bytes(253)}),
    ],
)
def test_build_rejects_out_of_range(fields: AdFields) -> None:
    with pytest.raises(ValueError):
        build_ad(fields)


@pytest.mark.parametrize(
    "frame",
    [
        IBeacon("not-a-uuid", 1, 2, -59),
        IBeacon(str(uuid.UUID(int=1)), 65536, 2, -59),
        IBeacon(str(uuid.UUID(int=1)), 1, 2, 128),
        AltBeacon("00", 1, 2, -59, 0, 0x118),
    ],
)
def test_encoders_reject_out_of_range(frame: IBeacon | AltBeacon) -> None:
    with pytest.raises(ValueError):
        if isinstance(frame, IBeacon):
            encode_ibeacon(frame)
        else:
            encode_altbeacon(frame)


@pytest.mark.parametrize(
    "frame",
    [
        EddystoneUid("00", "000000000001", -20),
        EddystoneEid("0011", -20),
        EddystoneTlm(1, 3000, 20.0, 1, 1.0),
        EddystoneTlm(0, 3000, 200.0, 1, 1.0),
        EddystoneUrl("ftp://example.com", -20),
    ],
)
def test_eddystone_encoder_rejects_bad_frames(
    frame: EddystoneUid | EddystoneEid | EddystoneTlm | EddystoneUrl,
) -> None:
    with pytest.raises(ValueError):
        encode_eddystone(frame)


# ---- HCI ------------------------------------------------------------------------------

ADDRESS = bytes.fromhex("3594efcdd61c")


def _legacy_event(*reports: tuple[bytes, int]) -> bytes:
    body = bytes([0x02, len(reports)])
    for data, rssi in reports:
        body += (
            bytes([0x03, 0x01])
            + ADDRESS
            + bytes([len(data)])
            + data
            + rssi.to_bytes(1, "little", signed=True)
        )
    return bytes([0x04, 0x3E, len(body)]) + body


def test_hci_legacy_reports() -> None:
    tlm = build_ad(encode_eddystone(EddystoneTlm(0, 2840, 19.0, 5223, 1094.8)))
    ib = build_ad(encode_ibeacon(IBeacon(str(uuid.UUID(int=7)), 1, 2, -59)))
    first, second = parse_hci_event(_legacy_event((tlm, -28), (ib, 127)))
    assert (first.address, first.rssi_dbm, first.data) == ("1c:d6:cd:ef:94:35", -28, tlm)
    assert second.rssi_dbm is None  # 127: the controller has no RSSI
    assert parse_hci_event(_legacy_event((tlm, -28))[1:]) == [first]  # without the H4 byte


def test_hci_extended_report() -> None:
    data = build_ad(encode_eddystone(EddystoneEid("0011223344556677", -20)))
    report = (
        (0x0013).to_bytes(2, "little")
        + bytes([0x01])
        + ADDRESS
        + bytes([0x01, 0x00, 0xFF, 0xF6, 0xC4])  # PHYs, SID, Tx power -10, RSSI -60
        + bytes(2 + 1 + 6)
        + bytes([len(data)])
        + data
    )
    body = bytes([0x0D, 1]) + report
    (parsed,) = parse_hci_event(bytes([0x04, 0x3E, len(body)]) + body)
    assert (parsed.event_type, parsed.tx_power_dbm, parsed.rssi_dbm) == (0x13, -10, -60)
    assert decode_ad(parsed.data) == [EddystoneEid("0011223344556677", -20)]


@pytest.mark.parametrize(
    "packet",
    [
        "",
        "41",
        "043e",
        "040e04010000",
        "043e03030100",
        "043e0302010003",
        "043e0402000000",
    ],
)
def test_hci_rejects_malformed(packet: str) -> None:
    with pytest.raises(HciError):
        parse_hci_event(bytes.fromhex(packet))


def test_hci_rejects_lengths_that_disagree() -> None:
    good = _legacy_event((bytes.fromhex("020106"), -40))
    with pytest.raises(HciError, match="parameter length"):
        parse_hci_event(good + b"\x00")
    bad_data_len = good[:13] + bytes([good[13] + 1]) + good[14:]
    with pytest.raises(HciError):
        parse_hci_event(bad_data_len)
