"""The demo's terminal view (rich): trucks, alerts as they fire, and the final summary."""

from __future__ import annotations

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

from citytrack import wire
from citytrack.config import CitytrackConfig

if TYPE_CHECKING:
    from citytrack.demo import TruckRig
    from hub.pipeline import Batch

ALERT_STYLE = {"harsh_braking": "red", "harsh_acceleration": "yellow", "speeding": "magenta"}


class LiveState:
    """What the hub has committed so far, fed by its after-commit listener."""

    def __init__(self, cfg: CitytrackConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self.last_fix: dict[str, wire.Fix] = {}
        self.alerts: list[wire.Alert] = []

    def on_batch(self, batch: Batch) -> None:
        with self._lock:
            for fix in batch.new_fixes:
                prev = self.last_fix.get(fix.device_id)
                if prev is None or fix.fix_time >= prev.fix_time:
                    self.last_fix[fix.device_id] = fix
            self.alerts.extend(batch.stored_alerts)

    def snapshot(self) -> tuple[dict[str, wire.Fix], list[wire.Alert]]:
        with self._lock:
            return dict(self.last_fix), list(self.alerts)


def describe_alert(alert: wire.Alert, tz: ZoneInfo) -> str:
    d = alert.details
    local = alert.start_time.astimezone(tz).strftime("%H:%M:%S")
    if alert.kind == "speeding":
        what = f"{d.get('max_speed_kmh', 0):.0f} km/h, limit {d.get('limit_kmh', 0):.0f}"
    else:
        what = f"{abs(float(d.get('peak_mps2', 0))):.1f} m/s²"
    return f"{local} {alert.device_id} {alert.kind} ({alert.severity}) {what}"


class DemoView:
    def __init__(self, cfg: CitytrackConfig, *, live: bool, console: Console | None = None):
        self.cfg = cfg
        self.console = console or Console()
        self.live = live and self.console.is_terminal
        self.tz = ZoneInfo(cfg.city.timezone)
        self.drivers = {d.id: d.name for d in cfg.city.drivers}

    def note(self, text: str) -> None:
        self.console.print(f"[dim]{text}[/dim]")

    def run(
        self,
        state: LiveState,
        rigs: Sequence[TruckRig],
        stop: threading.Event,
        duration_s: float | None,
    ) -> None:
        deadline = time.monotonic() + duration_s if duration_s else None
        printed = 0

        def done() -> bool:
            return stop.is_set() or (deadline is not None and time.monotonic() >= deadline)

        if self.live:
            with Live(self._render(state, rigs), console=self.console, refresh_per_second=2) as lv:
                while not done():
                    stop.wait(0.5)
                    lv.update(self._render(state, rigs))
            return
        while not done():
            stop.wait(0.5)
            _, alerts = state.snapshot()
            for alert in alerts[printed:]:
                self.console.print(f"ALERT {describe_alert(alert, self.tz)}")
            printed = len(alerts)

    def _render(self, state: LiveState, rigs: Sequence[TruckRig]) -> Group:
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
        return Group(table, panel)

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
        for kind, count in summary["alerts"].items():
            table.add_row(f"alerts: {kind}", str(count))
        for key, count in summary["episodes"].items():
            table.add_row(f"episodes {key}", str(count))
        self.console.print(table)
