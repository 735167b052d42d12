"""A synthetic child-watch registry at benchmark scale: schools, stations, children, tags.

``synthetic_city`` lays out ``n_schools`` elementary schools on a grid ``SCHOOL_SPACING_M``
apart around ``centre``, one gate station each, and spreads the other stations around the
schools on the ways children walk: roadside stations ``ROADSIDE_M`` from a gate, one in
``BOUNDARY_EVERY`` an area-boundary station farther out (``BOUNDARY_M``). Each child has
one guardian and one tag, Eddystone-EID (random identity key) with probability
``eid_fraction``, else iBeacon. Deterministic for a seed; pure.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from citytrack.config.watch import (
    Channel,
    Child,
    Guardian,
    School,
    Station,
    Tag,
    WatchConfig,
)
from firmware_sim.walks import LocalFrame

OSAKA_CENTRE = (34.6687, 135.5013)  # Namba, degrees
SCHOOL_SPACING_M = 1600.0  # elementary school districts are about a kilometre across
GATE_OFFSET_M = 25.0  # gate from the school's position
ROADSIDE_M = (150.0, 700.0)
BOUNDARY_M = (750.0, 950.0)
BOUNDARY_EVERY = 4
IBEACON_UUID = "e2c56db5-dffb-48d2-b060-d0f5a71096e0"
WARD = "Synthetic"


def _school_positions(n: int, frame: LocalFrame) -> list[tuple[float, float]]:
    """``n`` (lat, lon) on a square grid centred on the frame's origin."""
    side = math.ceil(math.sqrt(n))
    k = np.arange(n)
    xy = np.column_stack([k % side, k // side]).astype(float) - (side - 1) / 2.0
    return frame.to_latlon(xy * SCHOOL_SPACING_M)


def _schools_and_gates(n: int, frame: LocalFrame) -> tuple[list[School], list[Station]]:
    schools, gates = [], []
    for i, (lat, lon) in enumerate(_school_positions(n, frame), start=1):
        sid = f"es-{i:02d}"
        schools.append(School(id=sid, name=f"School {i}", ward=WARD, lat_deg=lat, lon_deg=lon))
        g = frame.to_latlon(frame.to_local(lat, lon) - np.array([0.0, GATE_OFFSET_M]))[0]
        gates.append(
            Station(
                id=f"gate-{sid}",
                name=f"School {i} gate",
                kind="school_gate",
                school_id=sid,
                ward=WARD,
                lat_deg=g[0],
                lon_deg=g[1],
            )
        )
    return schools, gates


def _roadside(
    n: int, gates: list[Station], frame: LocalFrame, rng: np.random.Generator
) -> list[Station]:
    """``n`` roadside/area-boundary stations, round-robin around the schools' gates."""
    out = []
    for k in range(n):
        gate = gates[k % len(gates)]
        boundary = k % BOUNDARY_EVERY == BOUNDARY_EVERY - 1
        r = float(rng.uniform(*(BOUNDARY_M if boundary else ROADSIDE_M)))
        theta = float(rng.uniform(-math.pi, math.pi))
        g = frame.to_local(float(gate.lat_deg or 0.0), float(gate.lon_deg or 0.0))
        lat, lon = frame.to_latlon(g + r * np.array([math.sin(theta), math.cos(theta)]))[0]
        out.append(
            Station(
                id=f"st-{k + 1:03d}",
                name=f"{'Boundary' if boundary else 'Roadside'} station {k + 1}",
                kind="area_boundary" if boundary else "roadside",
                ward=WARD,
                lat_deg=lat,
                lon_deg=lon,
            )
        )
    return out


def _child(
    i: int, school_id: str, eid: bool, rng: np.random.Generator
) -> tuple[Child, Guardian, Tag]:
    cid, gid = f"c-{i:04d}", f"g-{i:04d}"
    child = Child(id=cid, name=f"Child {i}", school_id=school_id, guardian_ids=[gid])
    channel = Channel(kind="webhook", to=f"https://family-{gid}.example.jp/mimamori")
    language: Literal["ja", "en"] = "en" if rng.random() < 0.1 else "ja"
    guardian = Guardian(id=gid, name=f"Guardian {i}", language=language, channels=[channel])
    if eid:
        tag = Tag(
            id=f"tag-{i:04d}",
            child_id=cid,
            kind="eddystone_eid",
            eid_identity_key=rng.bytes(16).hex(),
        )
    else:
        tag = Tag(
            id=f"tag-{i:04d}",
            child_id=cid,
            kind="ibeacon",
            ibeacon_uuid=IBEACON_UUID,
            ibeacon_major=300,
            ibeacon_minor=i,
        )
    return child, guardian, tag


def synthetic_city(
    n_children: int = 200,
    n_stations: int = 20,
    seed: int = 0,
    *,
    n_schools: int | None = None,
    eid_fraction: float = 0.85,
    centre: tuple[float, float] = OSAKA_CENTRE,
) -> WatchConfig:
    """A watch registry of ``n_children`` children and ``n_stations`` stations in all.

    ``n_schools`` defaults to one per 50 children (at least one, at most ``n_stations``:
    every school has a gate station). Raises: ValueError: ``n_stations`` < 1, a negative
    ``n_children``, or ``eid_fraction`` outside [0, 1].
    """
    if n_stations < 1 or n_children < 0 or not 0 <= eid_fraction <= 1:
        raise ValueError("need n_stations >= 1, n_children >= 0, 0 <= eid_fraction <= 1")
    n_schools = n_schools or max(1, round(n_children / 50))
    n_schools = max(1, min(n_schools, n_stations))
    rng = np.random.default_rng(seed)
    frame = LocalFrame(*centre)
    schools, gates = _schools_and_gates(n_schools, frame)
    stations = gates + _roadside(n_stations - n_schools, gates, frame, rng)
    people = [
        _child(i, schools[int(rng.integers(n_schools))].id, rng.random() < eid_fraction, rng)
        for i in range(1, n_children + 1)
    ]
    return WatchConfig(
        schools=schools,
        stations=stations,
        children=[c for c, _, _ in people],
        guardians=[g for _, g, _ in people],
        tags=[t for _, _, t in people],
    )
