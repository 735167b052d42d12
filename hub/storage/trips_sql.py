"""The SQL behind ``hub.storage.trips.TripRepository`` (psycopg parameters).

Reads ``fixes`` and the attribution of schema step ``0011_drivers`` (``driver_fixes``,
``driver_at``); writes the tables of ``0013_trips``. ``hub.storage.trips`` documents the
watermark, late fixes and attribution.
"""

TRIP_COLUMNS = (
    *("device_id", "start_time", "end_time", "duration_s", "distance_m", "driving_s"),
    *("max_speed_mps", "halts", "halted_s", "start_lat_deg", "start_lon_deg"),
    *("end_lat_deg", "end_lon_deg", "ended_by"),
)
STOP_COLUMNS = ("device_id", "start_time", "end_time", "duration_s", "lat_deg", "lon_deg")

# the rule of the view driver_alerts (schema 0011_drivers) for one truck and time: the
# driver of its newest fix at most 60 s before, else driver_at without a card
DRIVER_AT_START = """COALESCE(
    (SELECT df.driver_id FROM driver_fixes df
     WHERE df.device_id = %(device_id)s AND df.fix_time <= %(start_time)s
       AND df.fix_time > %(start_time)s - interval '60 seconds'
     ORDER BY df.fix_time DESC, df.seq DESC LIMIT 1),
    driver_at(%(device_id)s, %(start_time)s, NULL))"""


def insert(table: str, columns: tuple[str, ...]) -> str:
    """INSERT of one row (named parameters per column), its driver attributed."""
    values = ", ".join(f"%({c})s" for c in columns)
    return (
        f"INSERT INTO {table} (driver_id, {', '.join(columns)}) "
        f"VALUES ({DRIVER_AT_START}, {values})"
    )


def select(table: str, columns: tuple[str, ...]) -> str:
    """Rows starting in [%(start)s, %(end)s), of one device and/or driver (NULL: any)."""
    return (
        f"SELECT driver_id, {', '.join(columns)} FROM {table} "
        "WHERE start_time >= %(start)s AND start_time < %(end)s "
        "AND (%(device)s::text IS NULL OR device_id = %(device)s::text) "
        "AND (%(driver)s::text IS NULL OR driver_id = %(driver)s::text) "
        "ORDER BY start_time, device_id"
    )


# usable fixes of one device from %(since)s on, in the segmenter's order
FIXES = """
SELECT seq, fix_time, lat_deg, lon_deg, speed_mps FROM fixes
WHERE device_id = %(device)s AND fix_time >= %(since)s
  AND (quality IS NULL OR quality > 0)
  AND (hdop IS NULL OR hdop <= %(max_hdop)s)
  AND (sats_used IS NULL OR sats_used >= %(min_sats)s)
ORDER BY fix_time, seq
"""

# the watermark: the end of the last trip a stop or a gap ended (before %(before)s)
LAST_CLOSED = """
SELECT max(end_time) FROM trips
WHERE device_id = %(device)s AND ended_by <> 'silence'
  AND (%(before)s::timestamptz IS NULL OR end_time < %(before)s::timestamptz)
"""

# the oldest fix stored after the last build but older than the newest fix it read
LATE = """
SELECT min(f.fix_time) FROM fixes f JOIN trip_builds b ON b.device_id = f.device_id
WHERE f.device_id = %(device)s AND f.fix_time >= %(look_from)s AND f.fix_time < b.fix_mark
  AND f.ingest_time > b.ingest_mark
"""

RECORD = """
INSERT INTO trip_builds AS b (device_id, ingest_mark, fix_mark, built_at)
VALUES (%s, %s, %s, now())
ON CONFLICT (device_id) DO UPDATE SET ingest_mark = EXCLUDED.ingest_mark,
    fix_mark = COALESCE(EXCLUDED.fix_mark, b.fix_mark), built_at = now()
"""
