"""The demo's terminal view (rich): trucks, alerts as they fire, and the final summary."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from analytics.watch.events import WatchEvent
from citytrack import wire
from citytrack.alerts import Alert, SpeedingDetails
from citytrack.config import CitytrackConfig
from citytrack.config.watch import Tag

if TYPE_CHECKING:
    from app.demo.fleet import TruckRig
    from app.demo.sinks import NotificationSinks
    from app.demo.watch import WatchRig
    from hub.pipeline.batch import Batch

ALERT_STYLE = {
    "harsh_braking": "red",
    "harsh_acceleration": "yellow",
    "harsh_cornering": "cyan",
    "speeding": "magenta",
}


class LiveState:
    """What the hub has committed so far, fed by its after-commit listener."""

    def __init__(self, cfg: CitytrackConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self.last_fix: dict[str, wire.Fix] = {}
        self.alerts: list[Alert] = []
        self.passages: list[tuple[wire.Passage, Tag | None]] = []
        self.events: list[WatchEvent] = []

    def on_batch(self, batch: Batch) -> None:
        with self._lock:
            for fix in batch.new_fixes:
                prev = self.last_fix.get(fix.device_id)
                if prev is None or fix.fix_time >= prev.fix_time:
                    self.last_fix[fix.device_id] = fix
            self.alerts.extend(batch.stored_alerts)
            self.passages.extend(batch.resolved_passages)
            self.events.extend(batch.watch_events)

    def snapshot(self) -> tuple[dict[str, wire.Fix], list[Alert]]:
        with self._lock:
            return dict(self.last_fix), list(self.alerts)

    def on_timer_events(self, events: list[WatchEvent]) -> None:
        with self._lock:
            self.events.extend(events)

    def watch_snapshot(self) -> list[WatchEvent]:
        with self._lock:
            return list(self.events)


def describe_event(event: WatchEvent, names: dict[str, str], tz: ZoneInfo) -> str:
    """One line a supervisor can read: "07:42 Hana passed Naniwa ward office gate"."""
    local = event.time.astimezone(tz).strftime("%H:%M")
    child = names.get(event.child_id, event.child_id)
    where = names.get(event.station_id or "", "") or names.get(event.school_id or "", "")
    what = event.kind.value.replace("_", " ")
    return f"{local} {child} {what} {where}".rstrip()


def describe_alert(alert: Alert, tz: ZoneInfo) -> str:
    d = alert.details
    local = alert.start_time.astimezone(tz).strftime("%H:%M:%S")
    if isinstance(d, SpeedingDetails):
        what = f"{d.max_speed_kmh or 0:.0f} km/h, limit {d.limit_kmh or 0:.0f}"
    else:
        what = f"{abs(d.peak_mps2 or 0):.1f} m/s²"
    return f"{local} {alert.device_id} {alert.kind} ({alert.severity}) {what}"


class DemoView:
    def __init__(self, cfg: CitytrackConfig, *, live: bool, console: Console | None = None):
        self.cfg = cfg
        self.console = console or Console()
        self.live = live and self.console.is_terminal
        self.tz = ZoneInfo(cfg.city.timezone)
        self.drivers = {d.id: d.name for d in cfg.city.drivers}
        w = cfg.watch
        self.names = {c.id: c.name for c in w.children}
        self.names.update({s.id: s.name for s in w.stations})
        self.names.update({s.id: s.name for s in w.schools})

    def note(self, text: str) -> None:
        self.console.print(f"[dim]{text}[/dim]")

    def run(
        self,
        state: LiveState,
        rigs: Sequence[TruckRig],
        stop: threading.Event,
        duration_s: float | None,
        *,
        watch: WatchRig | None = None,
        sinks: NotificationSinks | None = None,
    ) -> None:
        deadline = time.monotonic() + duration_s if duration_s else None
        printed = events_printed = 0

        def done() -> bool:
            return stop.is_set() or (deadline is not None and time.monotonic() >= deadline)

        def render() -> Group:
            return self._render(state, rigs, watch, sinks)

        if self.live:
            with Live(render(), console=self.console, refresh_per_second=2) as lv:
                while not done():
                    stop.wait(0.5)
                    lv.update(render())
            return
        while not done():
            stop.wait(0.5)
            _, alerts = state.snapshot()
            for alert in alerts[printed:]:
                self.console.print(f"ALERT {describe_alert(alert, self.tz)}")
            printed = len(alerts)
            events = [e for e in state.watch_snapshot() if e.kind.value != "passed"]
            for event in events[events_printed:]:
                self.console.print(f"WATCH {describe_event(event, self.names, self.tz)}")
            events_printed = len(events)

    def _watch_panel(
        self, state: LiveState, watch: WatchRig, sinks: NotificationSinks | None
    ) -> Panel:
        events = state.watch_snapshot()
        lines = [describe_event(e, self.names, self.tz) for e in events[-8:]]
        sim_now = watch.feed.now().astimezone(self.tz).strftime("%H:%M")
        delivered = len(sinks.received()) if sinks is not None else 0
        title = f"child watch: {watch.day} {sim_now} · notices delivered {delivered}"
        return Panel("\n".join(lines) or "[dim]no passages yet[/dim]", title=title)

    def _render(
        self,
        state: LiveState,
        rigs: Sequence[TruckRig],
        watch: WatchRig | None = None,
        sinks: NotificationSinks | None = None,
    ) -> Group:
        fixes, alerts = state.snapshot()
        now = datetime.now(UTC)
        table = Table(title=f"citytrack: {self.cfg.city.name} garbage trucks", expand=True)
        for col in ("truck", "driver", "lat", "lon", "km/h", "fix age", "sent", "outbox"):
            table.add_column(col, justify="right" if col not in ("truck", "driver") else "left")
        for rig in rigs:
            fix = fixes.get(rig.truck.device_id)
            pub = rig.agent.publisher
            cells = ["-", "-", "-", "-"]
            if fix is not None:
                speed = f"{fix.speed_mps * 3.6:.0f}" if fix.speed_mps is not None else "-"
                age = f"{(now - fix.fix_time).total_seconds():.0f} s"
                cells = [f"{fix.lat_deg:.5f}", f"{fix.lon_deg:.5f}", speed, age]
            table.add_row(
                rig.truck.device_id,
                self.drivers.get(rig.truck.driver_id, "?"),
                *cells,
                str(pub.published),
                str(rig.agent.outbox.depth()),
            )
        lines = [
            f"[{ALERT_STYLE.get(a.kind, 'white')}]{describe_alert(a, self.tz)}[/]"
            for a in alerts[-8:]
        ]
        panel = Panel("\n".join(lines) or "[dim]no alerts yet[/dim]", title="alerts")
        if watch is None:
            return Group(table, panel)
        return Group(table, panel, self._watch_panel(state, watch, sinks))

    def _named(self, items: list[dict[str, str]]) -> list[str]:
        """ "(truck-03 harsh_cornering 06:39:02)" for each alert or episode of the summary."""
        return [
            f"({i['device_id']} {i['kind']} "
            f"{datetime.fromisoformat(i['start']).astimezone(self.tz):%H:%M:%S})"
            for i in items
        ]

    def print_summary(self, summary: dict[str, Any]) -> None:
        table = Table(title="demo summary", show_header=False)
        table.add_column("what")
        table.add_column("value", justify="right")
        for key in (
            "duration_s",
            "trucks",
            "fixes_sent",
            "fixes_stored",
            "duplicates_dropped",
            "dead_letters",
            "fixes_left_in_outbox",
        ):
            table.add_row(key.replace("_", " "), str(summary[key]))
        if "trips_built" in summary:
            built = summary["trips_built"]
            table.add_row("trips built", "failed (see the log)" if built is None else str(built))
        for kind, count in summary["alerts"].items():
            table.add_row(f"alerts: {kind}", str(count))
        which = {"false": "false_alerts", "missed": "missed_episodes"}
        for key, count in summary["episodes"].items():
            items = summary.get(which.get(key, ""), [])
            table.add_row(f"episodes {key}", " ".join([str(count), *self._named(items)]))
        for key, value in summary.get("watch", {}).items():
            table.add_row(f"watch: {key.replace('_', ' ')}", json.dumps(value))
        self.console.print(table)
