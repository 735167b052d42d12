"""The labelled fleet dataset: determinism, label counts, valid NMEA, and each impairment."""

from __future__ import annotations

import operator
import re
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from functools import reduce
from itertools import islice, pairwise
from typing import Any

import numpy as np
import pytest

from citytrack.config import DEFAULT_CONFIG_NAME, REPO_CONFIG_DIR, CitytrackConfig, load_config
from citytrack.geo import distance_between_m
from edge_agent.nmea import Epoch, NmeaFixDecoder
from firmware_sim.gps import TruthEpoch
from firmware_sim.impairments import GPS_JUMP, SPEED_GLITCH, TUNNEL, ImpairmentConfig
from firmware_sim.scenarios import (
    BENCHMARK_SIZE,
    CLEAN,
    EPISODE_KINDS,
    SMALL_SIZE,
    TruckLog,
    TruckPlan,
    TruckScenario,
    plan_fleet,
    planned_counts,
)
from firmware_sim.work_scripts import COLLECTION_WORK, PARKED

SENTENCE = re.compile(r"\$([A-Z]{5}),[^*$]*\*([0-9A-F]{2})")


@pytest.fixture(scope="module")
def cfg() -> CitytrackConfig:
    return load_config(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME)


@pytest.fixture(scope="module")
def small_logs(cfg: CitytrackConfig) -> list[TruckLog]:
    """The small fleet (one 1 Hz truck, one 10 Hz truck), played in full."""
    return [TruckScenario(p, cfg).run() for p in plan_fleet(cfg, SMALL_SIZE, seed=3)]


def quiet(plan: TruckPlan, **changes: Any) -> TruckPlan:
    """``plan`` with no impairment but those given."""
    return replace(plan, impairments=replace(ImpairmentConfig(), **changes))


def play(cfg: CitytrackConfig, plan: TruckPlan, epochs: int) -> list[tuple[TruthEpoch, bytes]]:
    return list(islice(TruckScenario(plan, cfg).epochs(), epochs))


def decode(data: bytes) -> list[Epoch]:
    decoder = NmeaFixDecoder()
    return decoder.feed(data) + decoder.flush()


def offset_m(truth: TruthEpoch, fix: Epoch) -> float:
    return distance_between_m(truth, fix)


def test_the_same_seed_gives_the_same_bytes_and_labels(cfg: CitytrackConfig) -> None:
    plans = plan_fleet(cfg, SMALL_SIZE, seed=11)
    assert plans == plan_fleet(cfg, SMALL_SIZE, seed=11)
    assert plans != plan_fleet(cfg, SMALL_SIZE, seed=12)
    runs = []
    for _ in range(2):
        scenario = TruckScenario(plans[0], cfg)
        runs.append((b"".join(d for _, d in islice(scenario.epochs(), 300)), scenario.labels))
    assert runs[0] == runs[1]
    assert runs[0][1], "the first 5 minutes play at least one episode"


def test_the_benchmark_fleet_plans_at_least_200_episodes_of_each_kind(
    cfg: CitytrackConfig,
) -> None:
    plans = plan_fleet(cfg, BENCHMARK_SIZE, seed=1)
    counts = planned_counts(plans)
    assert all(counts[kind] >= 200 for kind in EPISODE_KINDS), counts
    assert {p.rate_hz for p in plans} == {1.0, 10.0}
    assert {p.vehicle_class for p in plans} == set(cfg.city.vehicle_classes)
    assert counts[CLEAN] and counts[COLLECTION_WORK] and counts[PARKED]
    assert all(1.0 <= p.position_noise_m <= 5.0 for p in plans)


def test_every_planned_block_is_played_and_labelled(small_logs: list[TruckLog]) -> None:
    for log in small_logs:
        planned = Counter(log.plan.blocks)
        labels = Counter(lb.kind for lb in log.labels)
        stretches = Counter(st.kind for st in log.stretches)
        assert not log.unplayed
        assert labels == Counter({k: n for k, n in planned.items() if k in EPISODE_KINDS})
        assert stretches == Counter({k: n for k, n in planned.items() if k not in EPISODE_KINDS})
        for lb in log.labels:
            assert lb.device_id == log.plan.device_id
            assert log.plan.start_time < lb.start < lb.end


def test_every_sentence_is_valid_nmea(small_logs: list[TruckLog]) -> None:
    for log in small_logs:
        lines = log.nmea.split(b"\r\n")
        assert lines[-1] == b""
        for line in lines[:-1]:
            match = SENTENCE.fullmatch(line.decode("ascii"))
            assert match, line
            body = line[1 : line.index(b"*")]
            assert reduce(operator.xor, body, 0) == int(match.group(2), 16), line
        decoder = NmeaFixDecoder()
        decoder.feed(log.nmea)
        decoder.flush()
        counts = decoder.counters
        assert counts.sentences_ok + counts.unsupported == len(lines) - 1
        assert counts.bad_checksum == counts.garbage == counts.bad_field == 0


def test_harsh_episodes_go_beyond_the_class_threshold(
    cfg: CitytrackConfig, small_logs: list[TruckLog]
) -> None:
    for log in small_logs:
        vclass = cfg.city.vehicle_classes[log.plan.vehicle_class]
        peaks = {lb.kind: lb.peak_value for lb in log.labels}
        assert peaks["harsh_braking"] > vclass.harsh_braking_mps2
        assert peaks["harsh_acceleration"] > vclass.harsh_acceleration_mps2
        assert peaks["harsh_cornering"] > vclass.harsh_cornering_mps2


def test_gps_jumps_displace_one_to_three_epochs_by_30_to_300_m(cfg: CitytrackConfig) -> None:
    plan = quiet(plan_fleet(cfg, SMALL_SIZE, seed=5)[0], jumps_per_hour=400.0)
    scenario = TruckScenario(plan, cfg)
    played = list(islice(scenario.epochs(), 900))
    jumps = [r for r in scenario.impairments.records if r.kind in (GPS_JUMP, SPEED_GLITCH)]
    assert len(jumps) >= 20
    truth = {t.time: t for t, _ in played}
    fixes = {f.fix_time: f for f in decode(b"".join(d for _, d in played))}
    for jump in jumps:
        assert 0 <= (jump.end - jump.start).total_seconds() <= 2.0
        times = [t for t in truth if jump.start <= t <= jump.end and t in fixes]
        assert all(25.0 < offset_m(truth[t], fixes[t]) < 310.0 for t in times)
        after = jump.end + timedelta(seconds=1)
        if after in fixes and not any(j.start <= after <= j.end for j in jumps):
            assert offset_m(truth[after], fixes[after]) < 25.0


def test_a_tunnel_loses_the_fix_for_5_to_30_s(cfg: CitytrackConfig) -> None:
    plan = quiet(plan_fleet(cfg, SMALL_SIZE, seed=5)[0], tunnels_per_hour=120.0)
    scenario = TruckScenario(plan, cfg)
    played = list(islice(scenario.epochs(), 600))
    tunnels = [r for r in scenario.impairments.records if r.kind == TUNNEL]
    assert tunnels
    fix_times = sorted(f.fix_time for f in decode(b"".join(d for _, d in played)))
    gaps = [(b - a).total_seconds() for a, b in pairwise(fix_times)]
    longest = sorted(gaps)[-len(tunnels) :]
    assert all(5.0 <= g <= 31.0 for g in longest), longest


def test_a_parked_truck_drifts_slowly_and_stays_put(cfg: CitytrackConfig) -> None:
    base = plan_fleet(cfg, SMALL_SIZE, seed=5)[0]
    plan = replace(
        quiet(base, drift_speed_mps=0.5, drift_sigma_m=4.0), blocks=(PARKED,), position_noise_m=1.0
    )
    scenario = TruckScenario(plan, cfg)
    played = list(islice(scenario.epochs(), 700))
    (parked,) = scenario.stretches
    truth = {t.time: t for t, _ in played}
    at_rest = [f for f in decode(b"".join(d for _, d in played)) if f.fix_time in truth]
    fixes = [f for f in at_rest if truth[f.fix_time].speed_mps == 0.0 and f.fix_time > parked.start]
    speeds = np.array([f.speed_mps for f in fixes])
    assert len(fixes) > 100 and parked.distance_m < 100.0
    assert speeds.max() <= 0.5 and speeds.mean() > 0.1
    wander = [offset_m(truth[f.fix_time], f) for f in fixes]
    assert 1.0 < float(np.median(wander)) < 20.0


def test_collection_work_halts_every_20_to_60_m_for_10_to_40_s(cfg: CitytrackConfig) -> None:
    plan = replace(quiet(plan_fleet(cfg, SMALL_SIZE, seed=5)[1]), blocks=(COLLECTION_WORK,))
    assert plan.rate_hz == 10.0
    scenario = TruckScenario(plan, cfg)
    truth = [t for t, _ in scenario.epochs()]
    (work,) = scenario.stretches
    inside = [t for t in truth if work.start <= t.time <= work.end]
    v = np.array([t.speed_mps for t in inside])
    halted = v == 0.0
    edges = np.flatnonzero(np.diff(halted.astype(int)))
    runs = np.split(v, edges + 1)
    halts = [len(r) / 10.0 for r in runs if r[0] == 0.0]
    # between halts: not the braking from cruise before the first, nor the drive off after
    moves = [float(np.sum(r)) / 10.0 for r in runs if r[0] > 0.0][1:-1]
    assert len(halts) >= 7
    assert all(10.0 <= h <= 40.2 for h in halts), halts
    assert all(19.0 <= m <= 61.0 for m in moves), moves
    working = np.concatenate(runs[:-1])
    assert np.max(np.abs(np.diff(working))) * 10.0 < 1.0  # gentle: under 1 m/s^2
