"""One metrics registry: every counter set exported in the Prometheus format, read when scraped."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.services import free_port
from citytrack import wire
from citytrack.config import load_config
from citytrack.counters import Counters
from citytrack.metrics import MetricsRegistry
from citytrack.mqtt import BrokerAddress
from edge_agent.agent import VehicleAgent
from edge_agent.outbox import Outbox
from edge_agent.sources import ReplaySource
from hub.api.app import create_app
from hub.ingest.service import HubService
from hub.pipeline.batch import Inbound

CFG = load_config()
T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def samples(text: bytes | str) -> dict[str, float]:
    """Sample name (with labels) -> value."""
    text = text.decode() if isinstance(text, bytes) else text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


@dataclass
class _Made(Counters):
    made: int = 0
    ready: int = 0

    GAUGES = frozenset({"ready"})


def test_counters_are_read_when_scraped_gauges_without_total() -> None:
    registry = MetricsRegistry(service="unit")
    made = _Made()
    registry.track("maker", lambda: made)
    registry.track("queue", lambda: {"depth": 4, "sent": 9}, gauges=frozenset({"depth"}))
    registry.track("absent", lambda: None)
    made.made, made.ready = 3, 1
    got = samples(registry.exposition())
    assert got["citytrack_maker_made_total{service=unit}"] == 3
    assert got["citytrack_maker_ready{service=unit}"] == 1
    assert got["citytrack_queue_depth{service=unit}"] == 4
    assert got["citytrack_queue_sent_total{service=unit}"] == 9
    assert not any("absent" in name for name in got)
    made.made += 2
    assert samples(registry.exposition())["citytrack_maker_made_total{service=unit}"] == 5


def _fix(seq: int) -> Inbound:
    t = T0 + timedelta(seconds=seq)
    fix = wire.Fix(
        device_id="truck-01", seq=seq, fix_time=t, recv_time=t, lat_deg=34.67, lon_deg=135.496,
        speed_mps=8.0, quality=1, sats_used=9, hdop=0.8,
    )  # fmt: skip
    return Inbound(
        wire.topic_for(wire.Role.VEHICLE, "truck-01", wire.Kind.FIX), wire.encode(fix), t
    )


def test_the_hub_exports_its_pipeline_counters_at_metrics(pg_url: str) -> None:
    hub = HubService(CFG, BrokerAddress.parse("mqtt://127.0.0.1:1"), pg_url)
    hub.prepare_database()
    bad = Inbound("citytrack/v1/vehicle/truck-01/fix", b"{not json", T0)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        hub.pipeline.process(conn, [_fix(1), _fix(2), _fix(2), bad])
    with TestClient(create_app(pg_url, metrics=hub.metrics)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)
    assert got["citytrack_pipeline_fixes_stored_total{service=hub}"] == 2
    assert got["citytrack_pipeline_duplicates_dropped_total{service=hub}"] == 1
    assert got["citytrack_pipeline_dead_letters_total{service=hub}"] == 1
    assert got["citytrack_pipeline_received_total{service=hub}"] == 4
    assert "citytrack_rollups_runs_total{service=hub}" in got


def test_no_metrics_route_without_a_registry(pg_url: str) -> None:
    with TestClient(create_app(pg_url)) as client:
        assert client.get("/metrics").status_code == 404


def test_an_agent_serves_its_counters_with_its_identity(tmp_path: Path) -> None:
    nmea = tmp_path / "drive.nmea"
    nmea.write_bytes(b"$GPGGA,garbage*00\r\n")
    agent = VehicleAgent(
        "truck-02",
        ReplaySource(nmea),
        Outbox(tmp_path / "outbox.db"),
        BrokerAddress.parse("mqtt://127.0.0.1:1"),
    )
    for _ in range(3):
        agent.outbox.append("citytrack/v1/vehicle/truck-02/fix", lambda seq: b"{}")
    agent.decoder.feed(nmea.read_bytes())
    port = free_port()
    agent.metrics.serve(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        got = samples(response.read())
    who = "{device_id=truck-02,role=vehicle}"
    assert got[f"citytrack_agent_outbox_depth{who}"] == 3
    assert got[f"citytrack_agent_published_total{who}"] == 0
    assert got[f"citytrack_agent_bad_checksum_total{who}"] == 1
    agent.outbox.close()
    agent.source.close()
