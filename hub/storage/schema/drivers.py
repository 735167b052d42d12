"""Driver attribution (roster, card, the rule as SQL functions and views) and the daily rollup."""

from __future__ import annotations

from citytrack.geo import EARTH_RADIUS_M
from hub.storage.schema.ddl import Step, sql

_DRIVER_SHIFTS = """
CREATE TABLE driver_shifts (
    device_id text NOT NULL,
    driver_id text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    PRIMARY KEY (device_id, start_time),
    CHECK (end_time IS NULL OR end_time > start_time)
)
"""

_DRIVER_DAILY = """
CREATE TABLE driver_daily (
    timezone text NOT NULL,
    day date NOT NULL,
    driver_id text NOT NULL,
    device_id text NOT NULL,
    km double precision NOT NULL,
    driving_s double precision NOT NULL,
    speeding_s double precision NOT NULL,
    events jsonb NOT NULL DEFAULT '{}',
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (timezone, day, driver_id, device_id)
)
"""

_GEO_DISTANCE = f"""
CREATE FUNCTION geo_distance_m(lat1 float8, lon1 float8, lat2 float8, lon2 float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 2 * {EARTH_RADIUS_M} * asin(sqrt(
        sin(radians(lat2 - lat1) / 2) ^ 2
        + cos(radians(lat1)) * cos(radians(lat2)) * sin(radians(lon2 - lon1) / 2) ^ 2))
$$
"""

_SHIFT_DRIVER_AT = """
CREATE FUNCTION shift_driver_at(p_device text, p_at timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT driver_id FROM driver_shifts
    WHERE device_id = p_device AND start_time <= p_at AND (end_time IS NULL OR p_at < end_time)
    ORDER BY start_time DESC LIMIT 1
$$
"""

_DRIVER_AT = """
CREATE FUNCTION driver_at(p_device text, p_at timestamptz, p_card text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        NULLIF(p_card, ''),
        shift_driver_at(p_device, p_at),
        (SELECT driver_id FROM vehicles WHERE device_id = p_device))
$$
"""

# The same rule as driver_at, set-based: a lateral index probe per fix is ~10x faster than
# a function call per fix.
_DRIVER_FIXES = """
CREATE VIEW driver_fixes AS
SELECT f.device_id, f.seq, f.fix_time, f.lat_deg, f.lon_deg, f.speed_mps, f.course_deg,
       f.quality, f.sats_used, f.hdop, f.driver_id AS card_driver_id,
       COALESCE(NULLIF(f.driver_id, ''), s.driver_id, v.driver_id) AS driver_id
FROM fixes f
LEFT JOIN vehicles v ON v.device_id = f.device_id
LEFT JOIN LATERAL (
    SELECT ds.driver_id FROM driver_shifts ds
    WHERE ds.device_id = f.device_id AND ds.start_time <= f.fix_time
      AND (ds.end_time IS NULL OR f.fix_time < ds.end_time)
    ORDER BY ds.start_time DESC LIMIT 1
) s ON TRUE
"""

# An alert belongs to the driver of the fix it started on (its truck's newest fix at most
# 60 s before its start), else to driver_at without a card.
_DRIVER_ALERTS = """
CREATE VIEW driver_alerts AS
SELECT a.id, a.device_id, a.kind, a.severity, a.start_time, a.end_time, a.lat_deg, a.lon_deg,
       a.details, a.driver_id AS recorded_driver_id,
       COALESCE(f.driver_id, driver_at(a.device_id, a.start_time, NULL)) AS driver_id
FROM alerts a
LEFT JOIN LATERAL (
    SELECT df.driver_id FROM driver_fixes df
    WHERE df.device_id = a.device_id AND df.fix_time <= a.start_time
      AND df.fix_time > a.start_time - interval '60 seconds'
    ORDER BY df.fix_time DESC, df.seq DESC LIMIT 1
) f ON TRUE
"""


def drivers_step() -> Step:
    """Who drove which truck when (``hub.storage.drivers`` documents the rule), in both modes.

    ``fixes.driver_id`` holds the card the unit read; ``driver_shifts`` the roster
    (``[[city.roster]]``, synced by ``hub.storage.drivers.RosterRepository``). ``driver_at``
    applies the rule to one time; the views ``driver_fixes`` and ``driver_alerts``
    attribute every fix and alert (an alert: the driver of its truck's newest fix at
    most 60 s before its start). ``driver_daily`` is the per-day rollup that
    ``hub.storage.drivers.DriverStatsRepository.refresh_daily`` fills: a plain table in both
    modes, since a TimescaleDB continuous aggregate admits neither the window functions
    that measure distance nor the roster lookup (only immutable functions).
    """
    return Step(
        "0011_drivers",
        sql(
            "ALTER TABLE fixes ADD COLUMN driver_id text",
            _DRIVER_SHIFTS,
            _DRIVER_DAILY,
            "CREATE INDEX driver_daily_driver_idx ON driver_daily (driver_id, day)",
            _GEO_DISTANCE,
            _SHIFT_DRIVER_AT,
            _DRIVER_AT,
            _DRIVER_FIXES,
            _DRIVER_ALERTS,
        ),
    )
