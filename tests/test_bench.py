"""Each benchmark's quick mode, run once as a user runs it: exit code 0, the JSON keys its
doc promises, and a few values that a broken benchmark would not give. Quick runs are
smoke runs: their figures are no measurements, so the bounds here are loose."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.services import MosquittoBroker
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

HARSH = ("harsh_braking", "harsh_acceleration", "harsh_cornering")
KINDS = (*HARSH, "speeding")
ALERTS = ("harsh", "alerts")
STRETCHES = ("clean", "collection_work")
SHARES = ("0.7", "0.8", "0.9", "1.1", "1.2", "1.3")


def run_bench(name: str, tmp_path: Path, *args: str, timeout_s: float = 300) -> dict[str, Any]:
    """``python bench/<name>.py ARGS --json PATH`` from the repository: the figures."""
    out = tmp_path / f"{name}.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    figures: dict[str, Any] = json.loads(out.read_text())
    return figures


def stored_fixes(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM fixes").fetchone()
    assert row is not None
    return int(row[0])


def test_detection_quick(tmp_path: Path) -> None:
    figures = run_bench("detection", tmp_path, "--quick")
    both = ("", "baseline_")  # the receiver's speed, the position-derived one
    promised = [
        *(f"{p}{k}_{m}_1hz" for p in both for k in KINDS for m in ("f1", "precision", "recall")),
        *(f"{p}false_{a}_per_1000km_{s}_1hz" for p in both for a in ALERTS for s in STRETCHES),
        *(f"{p}false_harsh_per_1000km{s}" for p in both for s in ("", "_clean")),
        *(f"imu_{k}_{m}" for k in HARSH for m in ("f1", "precision", "recall")),
        *(f"imu_{k}_peak_ratio_p{q}" for k in HARSH for q in (10, 50, 90)),
        *(f"imu_sweep_{k}_{share}" for k in HARSH for share in SHARES),
        *(f"reconciled_{k}_f1" for k in HARSH),
        *(f"imu_false_harsh_per_1000km_{s}" for s in STRETCHES),
        *(f"episodes_with_{n}_alerts" for n in ("0", "1", "2+")),
        *("imu_calibration_s_median", "imu_causes", "alerts_per_episode"),
        "episodes_both_sources",
    ]
    assert [key for key in promised if key not in figures] == []
    # every kind was played, and the receiver's speed finds it
    assert all(figures[f"{k}_f1_1hz"] >= 0.5 for k in KINDS), figures
    # the baseline is fed the position-derived speed: its false harsh alerts show
    assert figures["baseline_harsh_braking_precision_1hz"] < figures["harsh_braking_precision_1hz"]
    assert figures["imu_sweep_per_cell"] == 1 and figures["harsh_episodes"] >= 3
    assert all(0 <= figures[f"imu_sweep_{k}_1.3"] <= 1 for k in HARSH)


def test_routing_quick(tmp_path: Path, corpora: Path) -> None:
    only = ["B-n31-k5", "C101"]  # of --quick's instances, one CVRP and one VRPTW: 7 s
    corpus = str(corpora / "cvrp")
    figures = run_bench("routing", tmp_path, "--quick", "--only", *only, "--corpus", corpus)
    for key in ("x_avg_gap_pct", "a_avg_gap_pct", "vrptw_avg_gap_pct", "instances", "budget"):
        assert key in figures
    rows = figures["instances"]
    assert [r["instance"] for r in rows] == only and figures["budget"] == "quick"
    assert [r["budget_s"] for r in rows] == [1.5, 5.0]  # 0.05 s per customer, at most 5 s
    assert all(r["feasible"] and r["best_known"] for r in rows)
    assert figures["x_avg_gap_pct"] is None  # no X instance was asked for
    assert 0 <= figures["a_avg_gap_pct"] < 5 and 0 <= figures["vrptw_avg_gap_pct"] < 10


def test_ingest_quick(tmp_path: Path, own_broker: MosquittoBroker, pg_url: str) -> None:
    figures = run_bench("ingest", tmp_path, "--quick", "--broker", own_broker.url, "--db", pg_url)
    for key in ("hub_fixes_per_s", "paho_baseline_msgs_per_s", "agent_cpu_pct_10hz"):
        assert figures[key] > 0
    assert figures["fixes"] == figures["hub_fixes_stored"] == stored_fixes(pg_url) == 2000
    assert figures["outbox_drain_fixes"] == 2000 and figures["outbox_drain_fixes_per_s"] > 0
    assert figures["agent_fixes_in_window"] > 0 and 10 < figures["agent_rss_mb"] < 1000


def test_passages_quick(tmp_path: Path, own_broker: MosquittoBroker, pg_url: str) -> None:
    figures = run_bench("passages", tmp_path, "--quick", "--broker", own_broker.url, "--db", pg_url)
    assert (figures["children"], figures["stations"]) == (20, 4)
    assert figures["true_passages"] > 0 and figures["notices_measured"] > 0
    assert figures["recall"] >= 0.8 and figures["false_passage_rate"] <= 0.1
    assert 0 < figures["latency_p50_s"] <= figures["latency_p95_s"] <= figures["latency_max_s"]
    assert 0 < figures["baseline_store_p50_s"] <= figures["latency_p50_s"]


def test_routes_week_quick(tmp_path: Path, pg_url: str) -> None:
    figures = run_bench("routes_week", tmp_path, "--quick", "--db", pg_url)
    for key in (
        "driven_distance_saving_pct",
        "driven_time_saving_pct",
        "predicted_distance_saving_pct",
        "predicted_time_saving_pct",
        "courses_time_gap_pct",
        "plan_time_gap_pct",
        "truck_days_before",
        "truck_days_after",
    ):
        assert key in figures
    assert len(figures["days"]) == 1
    assert figures["fixes_stored"] == stored_fixes(pg_url) > 50_000
    assert figures["driven_distance_saving_pct"] > 0  # the plan drives less than the courses
    assert 0 < figures["truck_days_after"] <= figures["truck_days_before"]


def test_chaos_quick(tmp_path: Path) -> None:
    """Each part killed once (SIGKILL) while 5 trucks and 2 stations send: nothing lost."""
    figures = run_bench("chaos", tmp_path, "--quick", timeout_s=400)
    assert figures["kills"].count(",") == 3 and figures["outboxes_drained"] is True
    assert figures["sent"] > 100 and figures["lost"] == 0 and figures["duplicates"] == 0
    assert figures["alerts_expected"] > 0
    assert figures["alerts_stored"] == figures["alerts_expected"]
    assert figures["events_stored"] == figures["events_expected"] > 0
    assert figures["notices_delivered"] == figures["notices_expected"] > 0
    assert 0 < figures["max_recovery_s"] < 120
