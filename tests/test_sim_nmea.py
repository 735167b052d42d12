"""NMEA output of the GPS simulator: valid sentences, right values, receiver imperfections."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pynmea2
import pytest

from citytrack.config import DEFAULT_CONFIG_NAME, REPO_CONFIG_DIR, CitytrackConfig, load_config
from firmware_sim.gps import ReceiverReport, TruckSimulator, TruthEpoch
from firmware_sim.nmea_out import format_epoch, lat_fields, lon_fields
from firmware_sim.receiver import iter_nmea

START = datetime(2025, 6, 2, 23, 59, 50, tzinfo=UTC)  # crosses midnight at 10 s
EPOCH_TYPES = ["RMC", "VTG", "GGA", "GSA"]


@pytest.fixture(scope="module")
def cfg() -> CitytrackConfig:
    return load_config(REPO_CONFIG_DIR / DEFAULT_CONFIG_NAME)


def make_sim(
    cfg: CitytrackConfig,
    *,
    seed: int = 1,
    rate_hz: float = 1.0,
    device: str = "truck-01",
    **sim_overrides: float,
) -> TruckSimulator:
    truck = cfg.city.truck(device)
    assert truck is not None
    sim_cfg = cfg.sim.model_copy(update=sim_overrides)
    return TruckSimulator(truck, cfg.city, sim_cfg, seed=seed, start_time=START, rate_hz=rate_hz)


def lines_of(data: bytes) -> list[str]:
    text = data.decode("ascii")
    assert text == "" or text.endswith("\r\n")
    return text.split("\r\n")[:-1]


def degrees(value: str, hemisphere: str) -> float:
    deg_len = value.index(".") - 2
    d = int(value[:deg_len]) + float(value[deg_len:]) / 60.0
    return -d if hemisphere in "SW" else d


@pytest.mark.parametrize("rate_hz", [1.0, 10.0])
@pytest.mark.parametrize("talker", ["GP", "GN"])
def test_every_sentence_parses_with_a_valid_checksum(
    cfg: CitytrackConfig, rate_hz: float, talker: str
) -> None:
    sim = make_sim(cfg, rate_hz=rate_hz, dropout_prob=0.1)
    emitted = 0
    for truth, data in iter_nmea(sim, 300, talker=talker):
        lines = lines_of(data)
        assert truth.emitted == bool(lines)
        if not lines:
            continue
        emitted += 1
        msgs = [pynmea2.parse(line, check=True) for line in lines]
        assert [m.sentence_type for m in msgs[:4]] == EPOCH_TYPES
        assert all(m.talker == talker for m in msgs[:4])
        gsv = msgs[4:]
        assert gsv and all(m.sentence_type == "GSV" and m.talker == "GP" for m in gsv)
        assert [int(m.msg_num) for m in gsv] == list(range(1, len(gsv) + 1))
        assert all(int(m.num_messages) == len(gsv) for m in gsv)
        in_view = int(gsv[0].num_sv_in_view)
        assert len(gsv) == math.ceil(in_view / 4)
        assert (len(gsv[-1].data) - 3) // 4 == in_view - 4 * (len(gsv) - 1)
    assert 240 <= emitted < 300


@pytest.mark.parametrize("rate_hz", [1.0, 10.0, 4.0])
def test_sentence_times_are_the_epoch_times(cfg: CitytrackConfig, rate_hz: float) -> None:
    sim = make_sim(cfg, rate_hz=rate_hz, dropout_prob=0.0)
    for k, (truth, data) in enumerate(iter_nmea(sim, int(15 * rate_hz))):
        assert truth.time == sim.epoch_time(k)
        rmc, _, gga, *_ = (pynmea2.parse(line) for line in lines_of(data))
        stamp = datetime.combine(rmc.datestamp, rmc.timestamp)
        # hundredths of a second, truncated like a receiver's clock
        assert 0 <= (truth.time - stamp).total_seconds() < 0.01
        assert gga.timestamp == rmc.timestamp
    assert truth.time.date() != START.date()  # the date rolled over at midnight


def test_reported_values_match_the_truth_within_noise(cfg: CitytrackConfig) -> None:
    sim = make_sim(cfg, rate_hz=10.0, dropout_prob=0.0)
    sigma = cfg.sim.position_noise_m
    for truth, data in iter_nmea(sim, 600):
        rmc, vtg, gga, gsa, *_ = (pynmea2.parse(line) for line in lines_of(data))
        lat, lon = degrees(rmc.lat, rmc.lat_dir), degrees(rmc.lon, rmc.lon_dir)
        north = (lat - truth.lat_deg) * 111_195.0
        east = (lon - truth.lon_deg) * 111_195.0 * math.cos(math.radians(lat))
        assert math.hypot(north, east) < 6 * sigma
        assert (gga.lat, gga.lon) == (rmc.lat, rmc.lon)
        speed_mps = float(rmc.spd_over_grnd) * 1852 / 3600
        assert speed_mps == pytest.approx(truth.speed_mps, abs=6 * cfg.sim.speed_noise_mps)
        assert float(vtg.spd_over_grnd_kmph) == pytest.approx(speed_mps * 3.6, abs=0.002)
        assert float(vtg.spd_over_grnd_kts) == pytest.approx(float(rmc.spd_over_grnd), abs=5e-4)
        if rmc.true_course is not None:
            off = (float(rmc.true_course) - truth.course_deg + 180.0) % 360.0 - 180.0
            # course from Doppler: its noise grows as the speed falls
            assert abs(off) < 6 * math.degrees(math.atan2(cfg.sim.speed_noise_mps, speed_mps))
        else:
            assert speed_mps < 0.3
        used = [p for p in gsa.data[2:14] if p]
        assert int(gga.num_sats) == len(used) >= 4
        assert float(gga.horizontal_dil) == float(gsa.hdop)


def reports(sim: TruckSimulator, n: int) -> Iterator[tuple[TruthEpoch, ReceiverReport | None]]:
    for _ in range(n):
        epoch = sim.step()
        yield epoch.truth, epoch.report


def test_same_seed_gives_identical_bytes_and_another_seed_other_noise(
    cfg: CitytrackConfig,
) -> None:
    def run(seed: int) -> list[bytes]:
        return [data for _, data in iter_nmea(make_sim(cfg, seed=seed, rate_hz=10.0), 300)]

    a, b, c = run(4), run(4), run(5)
    assert a == b
    differing = sum(x != y for x, y in zip(a, c, strict=True))
    assert differing > 250


def test_noise_has_the_configured_size(cfg: CitytrackConfig) -> None:
    sim = make_sim(
        cfg, seed=2, rate_hz=1.0, dropout_prob=0.0, position_noise_m=3.0, speed_noise_mps=0.2
    )
    north, east, dv = [], [], []
    for truth, report in reports(sim, 1500):
        assert report is not None and report.lat_deg is not None and report.lon_deg is not None
        north.append((report.lat_deg - truth.lat_deg) * 111_195.0)
        east.append((report.lon_deg - truth.lon_deg) * 111_195.0 * math.cos(0.605))
        if truth.speed_mps > 2.0:  # away from the |v + noise| fold at rest
            assert report.speed_mps is not None
            dv.append(report.speed_mps - truth.speed_mps)
    for err in (north, east):
        assert 0.7 * 3.0 < float(np.std(err)) < 1.3 * 3.0
        assert abs(float(np.mean(err))) < 1.5
    assert 0.85 * 0.2 < float(np.std(dv)) < 1.15 * 0.2
    # errors wander (Gauss-Markov) rather than jump: neighbours are strongly correlated
    assert np.corrcoef(north[:-1], north[1:])[0, 1] > 0.6


def test_dropouts_lose_epochs_or_the_fix_as_configured(cfg: CitytrackConfig) -> None:
    sim = make_sim(cfg, seed=3, rate_hz=10.0, dropout_prob=0.2)
    lost = no_fix = 0
    for truth, report in reports(sim, 3000):
        if report is None:
            lost += 1
            assert not truth.emitted and not truth.valid
            continue
        assert truth.emitted
        assert truth.valid == report.fix
        if report.fix:
            continue
        no_fix += 1
        rmc, vtg, gga, gsa, *gsv = (
            pynmea2.parse(line, check=True) for line in lines_of(format_epoch(report))
        )
        assert rmc.status == "V" and rmc.lat == "" and rmc.mode_indicator == "N"
        assert gga.gps_qual == 0 and gga.lat == ""
        assert gsa.mode_fix_type == "1"
        assert vtg.faa_mode == "N"
        assert gsv
    assert 220 < lost < 380 and 220 < no_fix < 380
    quiet = make_sim(cfg, seed=3, rate_hz=10.0, dropout_prob=0.0)
    assert all(t.valid and t.emitted for t, _ in reports(quiet, 1000))


def test_dropout_rate_leaves_the_noise_alone(cfg: CitytrackConfig) -> None:
    a = [r for _, r in reports(make_sim(cfg, seed=8, dropout_prob=0.0), 200)]
    b = [r for _, r in reports(make_sim(cfg, seed=8, dropout_prob=0.3), 200)]
    same = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None and y.fix]
    assert len(same) > 100
    assert all(x.lat_deg == y.lat_deg and x.speed_mps == y.speed_mps for x, y in same)


def test_satellites_and_hdop_vary_plausibly(cfg: CitytrackConfig) -> None:
    used, hdop, in_view = [], [], set()
    for seed in range(4):
        for _, report in reports(make_sim(cfg, seed=seed, dropout_prob=0.0), 300):
            assert report is not None
            used.append(len(report.sky.used_prns))
            hdop.append(report.sky.hdop)
            in_view.add(len(report.sky.satellites))
            assert report.sky.pdop >= report.sky.hdop
            prns = [s.prn for s in report.sky.satellites]
            assert set(report.sky.used_prns) <= set(prns) and len(set(prns)) == len(prns)
            assert all(
                1 <= s.elevation_deg <= 90 and 0 <= s.azimuth_deg < 360
                for s in report.sky.satellites
            )
    assert min(used) >= 4 and max(used) <= 12 and len(set(used)) >= 3
    assert min(hdop) > 0.5 and max(hdop) < 5.0 and float(np.median(hdop)) < 2.0
    assert len(in_view) >= 2


def test_field_layout_matches_a_real_ublox_receiver(cfg: CitytrackConfig, corpora: Path) -> None:
    """Same number of fields per sentence type as a u-blox NEO-M8N capture (gpsd's tests)."""
    real: dict[str, int] = {}
    for line in (corpora / "nmea" / "gpsd" / "neo-m8n.log").read_text().splitlines():
        if line.startswith("$") and line[3:6] in EPOCH_TYPES:
            real.setdefault(line[3:6], len(pynmea2.parse(line).data))
    sim = make_sim(cfg, dropout_prob=0.0)
    _, data = next(iter_nmea(sim, 1))
    ours = {line[3:6]: len(pynmea2.parse(line).data) for line in lines_of(data)}
    assert {k: ours[k] for k in EPOCH_TYPES} == {k: real[k] for k in EPOCH_TYPES}


@pytest.mark.parametrize(
    ("value", "lat", "lon"),
    [
        (34.6560, ("3439.36000", "N"), ("03439.36000", "E")),
        (-33.8688, ("3352.12800", "S"), ("03352.12800", "W")),
        (135.4999999999, ("13530.00000", "N"), ("13530.00000", "E")),
        (0.99999999999, ("0100.00000", "N"), ("00100.00000", "E")),
    ],
)
def test_angles_are_formatted_as_nmea_degrees_and_minutes(
    value: float, lat: tuple[str, str], lon: tuple[str, str]
) -> None:
    assert lon_fields(value) == lon
    if abs(value) <= 90:
        assert lat_fields(value) == lat


def test_unknown_talker_is_refused(cfg: CitytrackConfig) -> None:
    with pytest.raises(ValueError, match="talker"):
        next(iter_nmea(make_sim(cfg), 1, talker="XX"))
