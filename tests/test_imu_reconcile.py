"""Reconciliation of edge events with the hub's GNSS alerts: one alert per episode,
whichever arrives first, across batches, and duplicates never create alerts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.driving.reconcile import SLACK_S, Finding, edge_alert, reconcile, sources_of
from citytrack.alerts import Alert
from citytrack.wire import DrivingEvent

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def gps(
    start_s: float, end_s: float, kind: str = "harsh_braking", device: str = "truck-01"
) -> Finding:
    alert = Alert(
        device_id=device,
        driver_id="drv-tanaka",
        kind=kind,
        severity="high",
        start_time=T0 + timedelta(seconds=start_s),
        end_time=T0 + timedelta(seconds=end_s),
        lat_deg=34.67,
        lon_deg=135.49,
        details={"peak_mps2": 5.0, "threshold_mps2": 3.0},
    )
    return Finding(alert, "gps")


def imu(
    seq: int, start_s: float, end_s: float, kind: str = "harsh_braking", device: str = "truck-01"
) -> Finding:
    event = DrivingEvent(
        device_id=device,
        seq=seq,
        event_kind=kind,  # type: ignore[arg-type]
        start_time=T0 + timedelta(seconds=start_s),
        end_time=T0 + timedelta(seconds=end_s),
        peak_mps2=5.4,
        threshold_mps2=3.0,
        direction="left" if kind == "harsh_cornering" else None,
    )
    return Finding(edge_alert(event, "drv-tanaka", 34.6701, 135.4901), "imu")


class Store:
    """The alerts table, as the hub's shell writes it."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.published: list[Alert] = []

    def batch(self, findings: Sequence[Finding]) -> None:
        plan = reconcile(self.alerts, findings)
        for i, alert in plan.updated.items():
            self.alerts[i] = alert
        self.alerts += plan.created
        self.published += plan.created


def test_gps_first_then_imu_in_a_later_batch() -> None:
    store = Store()
    store.batch([gps(10.0, 12.0)])
    store.batch([imu(7, 10.6, 12.4)])
    (alert,) = store.alerts
    assert sources_of(alert) == ["gps", "imu"]
    assert alert.details.imu_peak_mps2 == 5.4 and alert.details.imu_seq == 7
    assert alert.details.peak_mps2 == 5.0  # the first finding's own figures stay
    assert alert.start_time == T0 + timedelta(seconds=10)
    assert store.published == [gps(10.0, 12.0).alert]  # published once, as first seen


def test_imu_first_then_gps() -> None:
    store = Store()
    store.batch([imu(7, 10.6, 12.4)])
    store.batch([gps(10.0, 12.0)])
    (alert,) = store.alerts
    assert sources_of(alert) == ["gps", "imu"]
    assert alert.details.gps_peak_mps2 == 5.0
    assert alert.details.gps_start_time == T0 + timedelta(seconds=10)
    assert alert.details.peak_mps2 == 5.4 and alert.lat_deg == 34.6701
    assert len(store.published) == 1


def test_both_in_one_batch_make_one_alert() -> None:
    plan = reconcile([], [gps(10.0, 12.0), imu(7, 10.6, 12.4)])
    assert len(plan.created) == 1 and plan.merged == 1
    assert sources_of(plan.created[0]) == ["gps", "imu"]


def test_redeliveries_never_create_or_change_alerts() -> None:
    store = Store()
    store.batch([gps(10.0, 12.0), imu(7, 10.6, 12.4)])
    before = list(store.alerts)
    plan = reconcile(store.alerts, [imu(7, 10.6, 12.4), gps(10.0, 12.0)])
    assert (plan.created, plan.updated, plan.duplicates) == ([], {}, 2)
    store.batch([imu(7, 10.6, 12.4)])
    assert store.alerts == before and len(store.published) == 1


def test_a_replayed_gps_alert_after_a_merge_into_an_imu_alert_is_a_duplicate() -> None:
    store = Store()
    store.batch([imu(7, 10.6, 12.4)])
    store.batch([gps(10.0, 12.0)])
    assert reconcile(store.alerts, [gps(10.0, 12.0)]).duplicates == 1


def test_episodes_apart_kinds_apart_devices_apart_stay_apart() -> None:
    gap = SLACK_S + 0.5
    store = Store()
    store.batch([gps(10.0, 12.0)])
    store.batch([imu(1, 12.0 + gap, 14.0 + gap)])  # too far after
    store.batch([imu(2, 10.5, 12.0, kind="harsh_acceleration")])
    store.batch([imu(3, 10.5, 12.0, device="truck-02")])
    assert len(store.alerts) == 4
    assert [sources_of(a) for a in store.alerts] == [["gps"], ["imu"], ["imu"], ["imu"]]


def test_within_the_slack_they_merge() -> None:
    store = Store()
    store.batch([gps(10.0, 12.0)])
    store.batch([imu(1, 12.0 + SLACK_S - 0.1, 14.0 + SLACK_S)])
    assert len(store.alerts) == 1


def test_an_imu_only_cornering_is_its_own_alert() -> None:
    plan = reconcile([], [imu(4, 30.0, 32.5, kind="harsh_cornering")])
    (alert,) = plan.created
    assert (alert.kind, sources_of(alert), alert.severity) == ("harsh_cornering", ["imu"], "high")
    assert alert.details.direction == "left" and alert.details.duration_s == 2.5


def test_two_gps_alerts_never_merge_and_the_imu_joins_the_closest() -> None:
    store = Store()
    store.batch([gps(10.0, 11.0), gps(12.5, 14.0)])  # one stop split in two by the GNSS
    assert len(store.alerts) == 2
    store.batch([imu(1, 12.4, 14.2)])
    assert [sources_of(a) for a in store.alerts] == [["gps"], ["gps", "imu"]]


@settings(max_examples=60, deadline=None)
@given(
    order=st.permutations(range(4)),
    cuts=st.sets(st.integers(1, 7)),
)
def test_any_arrival_order_and_batching_gives_one_alert_per_episode(
    order: list[int], cuts: set[int]
) -> None:
    # two episodes, each seen by both sides; every message arrives twice (QoS 1)
    findings = [gps(10.0, 12.0), imu(1, 10.5, 12.3), gps(40.0, 41.5), imu(2, 39.8, 41.6)]
    arrivals = [findings[i] for i in order] * 2
    bounds = [0, *sorted(cuts), len(arrivals)]
    store = Store()
    for a, b in pairwise(bounds):
        store.batch(arrivals[a:b])
    assert len(store.alerts) == 2 == len(store.published)
    assert all(sources_of(a) == ["gps", "imu"] for a in store.alerts)
