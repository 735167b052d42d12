"""Resolving beacons to tags: fixed iBeacon ids, rotating Eddystone-EIDs, strangers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.watch.tags import TagDirectory
from citytrack.ble.eid import EidResolver
from citytrack.config import load_config
from citytrack.wire import BeaconKind

WATCH = load_config().watch
AT = datetime(2024, 5, 14, 7, 42, 5, tzinfo=UTC)
IBEACON = next(t for t in WATCH.tags if t.kind == "ibeacon")
EID_TAG = next(t for t in WATCH.tags if t.kind == "eddystone_eid")


@pytest.fixture(scope="module")
def tags() -> TagDirectory:
    return TagDirectory(WATCH)


def eid_of(tag_id: str, at: datetime) -> str:
    tag = next(t for t in WATCH.tags if t.id == tag_id)
    assert tag.eid_identity_key is not None
    key = bytes.fromhex(tag.eid_identity_key)
    return EidResolver([(tag.id, key, tag.eid_rotation_exponent)]).eid_at(tag.id, at)


def test_ibeacon_by_its_fixed_id(tags: TagDirectory) -> None:
    assert tags.resolve(BeaconKind.IBEACON, IBEACON.ibeacon_id(), AT) == IBEACON
    assert tags.resolve(BeaconKind.IBEACON, IBEACON.ibeacon_id().upper(), AT) == IBEACON
    # the same numbers in another advertisement format are someone else's beacon
    assert tags.resolve(BeaconKind.ALTBEACON, IBEACON.ibeacon_id(), AT) is None


def test_eid_through_the_identity_key(tags: TagDirectory) -> None:
    eid = eid_of(EID_TAG.id, AT)
    assert tags.resolve(BeaconKind.EDDYSTONE_EID, eid, AT) == EID_TAG
    assert tags.resolve(BeaconKind.EDDYSTONE_EID, eid.upper(), AT) == EID_TAG
    # a tag clock a rotation period off still resolves; a day off does not
    period = timedelta(seconds=2**EID_TAG.eid_rotation_exponent)
    assert tags.resolve(BeaconKind.EDDYSTONE_EID, eid, AT + period) == EID_TAG
    assert tags.resolve(BeaconKind.EDDYSTONE_EID, eid, AT + timedelta(days=1)) is None


@pytest.mark.parametrize(
    ("kind", "beacon_id"),
    [
        (BeaconKind.IBEACON, "e2c56db5-dffb-48d2-b060-d0f5a71096e0/100/9999"),
        (BeaconKind.EDDYSTONE_EID, "0123456789abcdef"),
        (BeaconKind.EDDYSTONE_EID, "not-hex-at-all!!"),
        (BeaconKind.EDDYSTONE_EID, "0123"),
        (BeaconKind.EDDYSTONE_UID, "00112233445566778899/aabbccddeeff"),
    ],
)
def test_strangers_resolve_to_none(tags: TagDirectory, kind: BeaconKind, beacon_id: str) -> None:
    assert tags.resolve(kind, beacon_id, AT) is None


def test_eid_heard_outside_the_counter_range_is_unresolved(tags: TagDirectory) -> None:
    eid = eid_of(EID_TAG.id, AT)
    assert tags.resolve(BeaconKind.EDDYSTONE_EID, eid, datetime(1969, 1, 1, tzinfo=UTC)) is None


def test_naive_time_is_refused(tags: TagDirectory) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        tags.resolve(BeaconKind.IBEACON, IBEACON.ibeacon_id(), datetime(2024, 5, 14))


def test_fixed_id_tags_are_flagged_trackable(tags: TagDirectory) -> None:
    assert tags.trackable(IBEACON) and not tags.trackable(EID_TAG)
    assert tags.trackable_tags() == sorted(
        (t for t in WATCH.tags if t.kind == "ibeacon"), key=lambda t: t.id
    )


def test_no_eid_tags_needs_no_resolver() -> None:
    only_ibeacons = WATCH.model_copy(update={"tags": [IBEACON]})
    tags = TagDirectory(only_ibeacons)
    assert tags.resolve(BeaconKind.EDDYSTONE_EID, eid_of(EID_TAG.id, AT), AT) is None
