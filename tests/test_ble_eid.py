"""Eddystone-EID: the spec's reference vectors, and resolving EIDs back to tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citytrack.ble.eid import UNIX_EPOCH, EidResolver, compute_eid, eid_tags, temporary_key
from citytrack.config.watch import Tag

# MANIFEST.md: from the spec's reference tool (eddystone-eid, eid_computation)
SPEC_KEY = bytes.fromhex("0102030405060708090A111213141516")
SPEC_EID_0 = bytes.fromhex("A9B76A71C5F89290")
SPEC_EID_1024 = bytes.fromhex("4144413E45FEFA58")
KEY_B = bytes(range(16, 32))
T0 = datetime(2025, 4, 7, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize("counter", [0, 1, 512, 1023])
def test_spec_vector_first_period(counter: int) -> None:
    assert compute_eid(SPEC_KEY, counter, 10) == SPEC_EID_0


@pytest.mark.parametrize("counter", [1024, 1025, 1500, 2047])
def test_spec_vector_second_period(counter: int) -> None:
    assert compute_eid(SPEC_KEY, counter, 10) == SPEC_EID_1024


def test_next_period_differs() -> None:
    assert compute_eid(SPEC_KEY, 2048, 10) not in (SPEC_EID_0, SPEC_EID_1024)


@given(st.integers(0, 2**32 - 1))
def test_temporary_key_depends_only_on_top_16_bits(counter: int) -> None:
    assert temporary_key(SPEC_KEY, counter) == temporary_key(SPEC_KEY, counter & 0xFFFF0000)


@pytest.mark.parametrize(
    ("key", "counter", "k"),
    [(bytes(15), 0, 10), (SPEC_KEY, -1, 10), (SPEC_KEY, 2**32, 10), (SPEC_KEY, 0, 16)],
)
def test_bad_arguments_raise_value_error(key: bytes, counter: int, k: int) -> None:
    with pytest.raises(ValueError):
        compute_eid(key, counter, k)


def _resolver(window: int = 2) -> EidResolver:
    return EidResolver([("tag-a", SPEC_KEY, 10), ("tag-b", KEY_B, 8)], window=window)


def test_eid_at_uses_unix_time_as_the_counter() -> None:
    resolver = _resolver()
    assert resolver.eid_at("tag-a", UNIX_EPOCH + timedelta(seconds=1500)) == SPEC_EID_1024.hex()
    assert resolver.counter_at(T0) == int(T0.timestamp())


def test_resolves_its_own_eid() -> None:
    resolver = _resolver()
    assert resolver.resolve(resolver.eid_at("tag-a", T0), T0) == "tag-a"
    assert resolver.resolve(resolver.eid_at("tag-b", T0).upper(), T0) == "tag-b"


@pytest.mark.parametrize("periods", [-2, -1, 1, 2])
def test_tolerates_drift_within_the_window(periods: int) -> None:
    resolver = _resolver(window=2)
    tag_clock = T0 + timedelta(seconds=periods * 1024)
    assert resolver.resolve(resolver.eid_at("tag-a", tag_clock), T0) == "tag-a"


@pytest.mark.parametrize("periods", [-3, 3, 10])
def test_drift_beyond_the_window_is_unknown(periods: int) -> None:
    resolver = _resolver(window=2)
    tag_clock = T0 + timedelta(seconds=periods * 1024)
    assert resolver.resolve(resolver.eid_at("tag-a", tag_clock), T0) is None


def test_wrong_key_and_unknown_eid_give_none() -> None:
    stranger = EidResolver([("tag-a", bytes(16), 10)])
    eid = stranger.eid_at("tag-a", T0)
    assert _resolver().resolve(eid, T0) is None
    assert _resolver().resolve("0123456789abcdef", T0) is None


def test_other_beacon_epoch() -> None:
    epoch = datetime(2024, 1, 1, tzinfo=UTC)
    resolver = EidResolver([("tag-a", SPEC_KEY, 10)], beacon_epoch=epoch)
    assert resolver.eid_at("tag-a", epoch + timedelta(seconds=2000)) == SPEC_EID_1024.hex()
    assert resolver.resolve(SPEC_EID_1024.hex(), epoch + timedelta(seconds=1100)) == "tag-a"


def test_cache_is_bounded_and_answers_stay_right() -> None:
    resolver = EidResolver([("tag-a", SPEC_KEY, 0)], window=1, max_cached=5)
    for step in range(20):
        at = T0 + timedelta(seconds=step)
        assert resolver.resolve(resolver.eid_at("tag-a", at), at) == "tag-a"
    assert len(resolver._eids) <= 5 + 3


@pytest.mark.parametrize(
    "bad",
    [
        {"tags": [("a", SPEC_KEY, 10), ("a", KEY_B, 10)]},
        {"tags": [("a", bytes(8), 10)]},
        {"tags": [("a", SPEC_KEY, 16)]},
        {"tags": [], "window": -1},
        {"tags": [], "beacon_epoch": datetime(2024, 1, 1)},
    ],
)
def test_bad_configuration_raises(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        EidResolver(**bad)  # type: ignore[arg-type]


def test_bad_queries_raise() -> None:
    resolver = _resolver()
    with pytest.raises(ValueError):
        resolver.resolve("not-an-eid", T0)
    with pytest.raises(ValueError):
        resolver.resolve("0123456789abcdef", datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        resolver.eid_at("tag-a", datetime(1969, 12, 31, tzinfo=UTC))
    with pytest.raises(KeyError):
        resolver.eid_at("nobody", T0)


def test_eid_tags_from_watch_config() -> None:
    tags = [
        Tag(id="t1", child_id="c1", kind="eddystone_eid", eid_identity_key=SPEC_KEY.hex()),
        Tag(
            id="t2",
            child_id="c2",
            kind="ibeacon",
            ibeacon_uuid="41424344-4546-4748-4940-414243444546",
            ibeacon_major=1,
            ibeacon_minor=2,
        ),
    ]
    assert eid_tags(tags) == [("t1", SPEC_KEY, 10)]
    resolver = EidResolver(eid_tags(tags))
    assert resolver.resolve(SPEC_EID_1024.hex(), UNIX_EPOCH + timedelta(seconds=1024)) == "t1"
