"""A fuzzer over the hub's whole batch path: 100,000 mutated device messages, none escapes.

Valid messages of every kind are mutated (a field set to an extreme or wrong-typed value,
dropped, added; the topic changed; the bytes cut, flipped or padded) and fed in batches to
``HubService.ingest``, the path the worker runs, on real PostgreSQL with the child watch
on. Each message must be stored, counted as a duplicate or dead-lettered with a reason: no
exception may leave ``ingest``, and nothing out of bounds may reach the tables.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from citytrack.config import load_config
from citytrack.mqtt import BrokerAddress
from hub.ingest.service import HubService
from hub.pipeline.batch import Inbound

CFG = load_config()
MESSAGES = 100_000
BATCH = 2000

EXTREMES: list[object] = [
    None, 0, -1, 1, 2**15, 2**31, 2**31 - 1, 2**63, 2**63 - 1, 2**64, -(2**63) - 1,
    1e308, -1e308, 1e-320, 0.5, -0.0, 360.0, 91.0, -181.0, 2.5e20,
    "NaN!", "Inf!", "-Inf!", "", "7", "x" * 5000, "\u0000", "ü", [], {}, [1, 2], {"a": 1},
    True, False,
    "1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "0001-01-01T00:00:00+09:00",
    "9999-12-31T23:59:59-14:00", "2026-13-45T99:99:99Z", "2026-12-07T08:00:00",
    "not a time", "ibeacon", "eddystone_eid", "harsh_braking", "speeding", "left",
]  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _bases() -> list[tuple[str, dict[str, object]]]:
    now = _now()
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    tag = CFG.watch.tags[3]
    passage = {
        "schema": 1, "kind": "passage", "device_id": "gate-naniwa-es", "seq": 1,
        "beacon_kind": "ibeacon", "beacon_id": tag.ibeacon_id(), "first_seen": now,
        "last_seen": soon, "closest_time": now, "peak_rssi_dbm": -60.0, "adv_count": 5,
        "tx_power_dbm": -59, "battery_mv": 2900, "temperature_c": 21.5,
    }  # fmt: skip
    return [
        (
            "citytrack/v1/vehicle/truck-01/fix",
            {
                "schema": 1,
                "kind": "fix",
                "device_id": "truck-01",
                "seq": 1,
                "fix_time": now,
                "recv_time": now,
                "lat_deg": 34.67,
                "lon_deg": 135.496,
                "speed_mps": 8.0,
                "course_deg": 90.0,
                "alt_m": 12.0,
                "quality": 1,
                "mode": 3,
                "sats_used": 9,
                "hdop": 0.8,
                "pdop": 1.2,
                "vdop": 0.9,
                "driver_id": "drv-tanaka",
            },
        ),
        (
            "citytrack/v1/vehicle/truck-02/status",
            {
                "schema": 1,
                "kind": "status",
                "device_id": "truck-02",
                "online": True,
                "time": now,
                "counters": {"sent": 5, "garbage": 0},
            },
        ),
        (
            "citytrack/v1/vehicle/truck-01/event",
            {
                "schema": 1,
                "kind": "event",
                "device_id": "truck-01",
                "seq": 1,
                "event_kind": "harsh_cornering",
                "start_time": now,
                "end_time": soon,
                "peak_mps2": 4.5,
                "threshold_mps2": 3.0,
                "direction": "left",
                "lat_deg": 34.67,
                "lon_deg": 135.496,
                "speed_mps": 7.0,
            },
        ),
        ("citytrack/v1/station/gate-naniwa-es/passage", passage),
        (
            "citytrack/v1/station/gate-naniwa-es/sighting",
            {**passage, "kind": "sighting", "lat_deg": 34.66, "lon_deg": 135.49},
        ),
    ]


TOPICS = [
    "citytrack/v1/vehicle/truck-01/passage",
    "citytrack/v1/station/truck-01/fix",
    "citytrack/v1/vehicle/truck-99/fix",
    "citytrack/v1/vehicle/truck-02/fix",
    "citytrack/v2/vehicle/truck-01/fix",
    "citytrack/v1/vehicle//fix",
    "citytrack/v1/vehicle/truck-01/fix/extra",
]


def _encode(body: dict[str, object]) -> bytes:
    text = json.dumps(body)
    for token, literal in (('"NaN!"', "NaN"), ('"Inf!"', "Infinity"), ('"-Inf!"', "-Infinity")):
        text = text.replace(token, literal)
    return text.encode()


def mutated(rng: random.Random, n: int) -> Iterator[tuple[str, bytes]]:
    """``n`` (topic, payload) pairs, each a valid message with one to three mutations."""
    bases = _bases()
    for i in range(n):
        topic, base = bases[rng.randrange(len(bases))]
        body = dict(base)
        if "seq" in body:
            body["seq"] = 1 + i  # most survivors are new rows, not duplicates
        raw: bytes | None = None
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            key = rng.choice(list(body)) if body else "seq"
            if op < 0.55:
                body[key] = rng.choice(EXTREMES)
            elif op < 0.65:
                body.pop(key, None)
            elif op < 0.70:
                body[rng.choice(["extra", "Seq", "schema ", "kind"])] = rng.choice(EXTREMES)
            elif op < 0.78:
                topic = rng.choice(TOPICS)
            else:
                raw = _encode(body)
                pos = rng.randrange(len(raw))
                cut = rng.random()
                if cut < 0.3:
                    raw = raw[:pos]
                elif cut < 0.6:
                    raw = raw[:pos] + bytes([rng.randrange(256)]) + raw[pos + 1 :]
                else:
                    raw = raw[:pos] + rng.randbytes(rng.randint(1, 8)) + raw[pos:]
        yield topic, raw if raw is not None else _encode(body)


@pytest.fixture
def hub(pg_url: str) -> Iterator[HubService]:
    service = HubService(CFG, BrokerAddress.parse("mqtt://127.0.0.1:1"), pg_url)
    service.prepare_database()
    yield service
    service.stop()


def test_no_mutated_message_escapes_the_batch_path(hub: HubService) -> None:
    rng = random.Random(20261207)
    batch: list[Inbound] = []
    for topic, payload in mutated(rng, MESSAGES):
        batch.append(Inbound(topic, payload, datetime.now(UTC)))
        if len(batch) == BATCH:
            hub.ingest(batch)  # raises only if the database is unreachable
            batch = []
    if batch:
        hub.ingest(batch)
    c = hub.counters
    assert c.received == MESSAGES
    assert c.worker_errors == 0
    # every kind got through somewhere, and most mutations were refused
    assert c.fixes_stored > 0 and c.statuses > 0 and c.dead_letters > MESSAGES // 2
    with psycopg.connect(hub.db_url) as conn:
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
        assert dead == (c.dead_letters,)
        assert conn.execute("SELECT count(*) FROM dead_letters WHERE reason = ''").fetchone() == (
            0,
        )
        ahead = datetime.now(UTC) + timedelta(seconds=CFG.hub.max_clock_skew_s)
        (latest,) = conn.execute(
            "SELECT max(t) FROM (SELECT max(fix_time) AS t FROM fixes UNION ALL "
            "SELECT max(closest_time) FROM passages UNION ALL "
            "SELECT max(status_time) FROM device_status) AS m"
        ).fetchone() or (None,)
        assert latest is not None and latest <= ahead
