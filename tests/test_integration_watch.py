"""Child watch end to end on real parts: a simulated school morning -> station agents
(passage detection, outbox) -> Mosquitto -> hub (tag resolution, events) -> PostgreSQL ->
guardian notices over real LINE/SMTP/webhook protocols to local servers; then the
guardian API, which shows each family its own children only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from analytics.watch.events import WatchEventKind
from app.demo.sinks import NotificationSinks, route_to_sinks
from app.demo.watch import WatchRig
from citytrack.config import load_config
from citytrack.mqtt import BrokerAddress
from evaluation.passages import PassageKey, score_passages
from hub.api.app import create_app
from hub.ingest.service import HubService
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
SPEEDUP = 240.0  # 07:20-08:25 of the morning in about 16 s


def guardian_addresses(cfg, sinks: NotificationSinks) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    """child id -> the addresses its guardians' notices may go to."""
    by_guardian = {
        g.id: {sinks_to(c.kind, c.to, g.id, sinks) for c in g.channels} for g in cfg.guardians
    }
    return {
        child.id: set().union(*(by_guardian[g] for g in child.guardian_ids))
        for child in cfg.children
    }


def sinks_to(kind: str, to: str, guardian_id: str, sinks: NotificationSinks) -> str:
    return guardian_id if kind == "webhook" else to


def test_school_morning_reaches_each_family_and_only_them(
    tmp_path: Path, pg_url: str, broker_url: str
) -> None:
    base = load_config()
    sinks = NotificationSinks().start()
    cfg = base.model_copy(update={"watch": route_to_sinks(base.watch, sinks)})
    cfg = cfg.model_copy(update={"hub": cfg.hub.model_copy(update={"client_id": "hub-watch-test"})})
    address = BrokerAddress.parse(broker_url)
    rig = WatchRig(cfg, tmp_path, seed=5, address_for=lambda _sid: address, speedup=SPEEDUP)
    hub = HubService(cfg, address, pg_url, watch_clock=rig.clock.now)
    events = []
    hub.add_listener(lambda batch: events.extend(batch.watch_events))
    assert hub.watch is not None
    hub.watch.timer_listeners.append(events.extend)
    hub.start()
    try:
        assert hub.wait_subscribed(10)
        rig.start()
        # the morning is paced on the wall clock (SPEEDUP): this takes its real time
        end = rig.clock.sim_start + timedelta(minutes=65)  # 08:25 local
        paced_s = (end - rig.clock.sim_start).total_seconds() / SPEEDUP
        wait_until(lambda: rig.clock.now() >= end, paced_s + 60, "08:25 on the simulated clock")
        rig.stop(drain_timeout_s=15)
        assert hub.wait_idle(15)
        assert hub.watch.notifier.wait_idle(15)
    finally:
        hub.stop()
        sinks.stop()

    # every true passage detected once, nothing invented
    children_of_tag = {t.id: t.child_id for t in cfg.watch.tags}
    truth = [PassageKey(t.child_id, t.station_id, t.closest_time) for t in rig.morning.truth]
    counters = hub.watch.counters.as_dict()
    assert counters["passages_unresolved"] == 0
    detected = _detected(pg_url)
    score = score_passages(truth, detected)
    assert score.recall >= 0.95 and score.false == 0, score
    assert len(children_of_tag) == 20

    # arrival for every child who went, "not at school by 08:15" for the absent one(s)
    kinds = {(e.kind, e.child_id) for e in events}
    absent = set(rig.morning.absent)
    assert absent, "the scenario has an absent child"
    went = {c.id for c in cfg.watch.children} - absent
    assert {c for k, c in kinds if k == WatchEventKind.ARRIVED_SCHOOL} == went
    assert {c for k, c in kinds if k == WatchEventKind.NOT_ARRIVED} == absent

    # notices went out, each only to the family of the child it is about
    received = sinks.received()
    assert len(received) >= len(went)
    allowed = guardian_addresses(cfg.watch, sinks)
    names = {c.id: c.name for c in cfg.watch.children}
    for notice in received:
        about = [cid for cid, name in names.items() if name in notice.text]
        assert about, notice
        assert any(notice.to in allowed[cid] for cid in about), notice

    # the guardian API: own child yes, another family's child indistinguishable from none
    with TestClient(create_app(pg_url)) as api:
        own = api.get(
            "/api/children/c-01/passages", headers={"Authorization": "Bearer demo-token-g-01"}
        )
        other = api.get(
            "/api/children/c-02/passages", headers={"Authorization": "Bearer demo-token-g-01"}
        )
        missing = api.get(
            "/api/children/c-99/passages", headers={"Authorization": "Bearer demo-token-g-01"}
        )
    mine = sorted(d.time for d in detected if d.child_id == "c-01")
    assert own.status_code == 200 and mine
    assert sorted(datetime.fromisoformat(p["closest_time"]) for p in own.json()) == mine
    assert other.status_code == missing.status_code == 404
    assert other.content == missing.content


def _detected(pg_url: str) -> list[PassageKey]:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT child_id, station_id, closest_time FROM passages WHERE child_id IS NOT NULL"
        ).fetchall()
    return [PassageKey(c, s, t) for c, s, t in rows]
