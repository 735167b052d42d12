"""The SQL behind ``hub.storage.drivers.DriverStatsRepository`` (named psycopg parameters).

Reads the views of schema step ``0011_drivers`` (``driver_fixes``, ``driver_alerts``) and
its ``geo_distance_m`` (haversine on the sphere of ``citytrack.geo.EARTH_RADIUS_M``).
``hub.storage.drivers`` documents what a step, driving and attribution mean.
"""

# Steps between consecutive accepted fixes of one device, in [start, end), of one driver
# (or all when %(driver)s is NULL).
STEPS = """
WITH attributed AS (
    SELECT device_id, seq, fix_time, lat_deg, lon_deg, speed_mps, driver_id
    FROM driver_fixes
    WHERE fix_time >= %(start)s - make_interval(secs => %(max_gap_s)s)
      AND fix_time < %(end)s
      AND (quality IS NULL OR quality > 0)
      AND (hdop IS NULL OR hdop <= %(max_hdop)s)
      AND (sats_used IS NULL OR sats_used >= %(min_sats)s)
),
paired AS (
    SELECT driver_id, device_id, fix_time, speed_mps,
           lag(speed_mps) OVER w AS prev_speed_mps,
           extract(epoch FROM fix_time - lag(fix_time) OVER w)::float8 AS dt_s,
           geo_distance_m(lag(lat_deg) OVER w, lag(lon_deg) OVER w, lat_deg, lon_deg) AS dist_m
    FROM attributed
    WINDOW w AS (PARTITION BY device_id ORDER BY fix_time, seq)
),
steps AS (
    SELECT driver_id, device_id, fix_time, dt_s, dist_m,
           COALESCE((speed_mps + prev_speed_mps) / 2, speed_mps, prev_speed_mps, dist_m / dt_s)
               AS speed_mps
    FROM paired
    WHERE fix_time >= %(start)s AND dt_s > 0 AND dt_s <= %(max_gap_s)s
      AND dist_m <= %(max_implied_speed_mps)s * dt_s
      AND (%(driver)s::text IS NULL OR driver_id = %(driver)s::text)
),
driving AS (SELECT * FROM steps WHERE speed_mps > %(moving_mps)s)
"""

DAYS = (
    STEPS
    + """,
motion AS (
    SELECT driver_id, device_id, (fix_time AT TIME ZONE %(tz)s)::date AS day,
           sum(dist_m) / 1000 AS km, sum(dt_s) AS driving_s
    FROM driving GROUP BY 1, 2, 3
),
per_kind AS (
    SELECT driver_id, device_id, (start_time AT TIME ZONE %(tz)s)::date AS day, kind,
           count(*) AS n, sum(extract(epoch FROM end_time - start_time))::float8 AS dur_s
    FROM driver_alerts
    WHERE start_time >= %(start)s AND start_time < %(end)s
      AND (%(driver)s::text IS NULL OR driver_id = %(driver)s::text)
    GROUP BY 1, 2, 3, 4
),
events AS (
    SELECT driver_id, device_id, day, jsonb_object_agg(kind, n) AS events,
           COALESCE(sum(dur_s) FILTER (WHERE kind = %(speeding)s), 0) AS speeding_s
    FROM per_kind GROUP BY 1, 2, 3
)
SELECT driver_id, device_id, day, COALESCE(km, 0) AS km, COALESCE(driving_s, 0) AS driving_s,
       COALESCE(events, '{}'::jsonb) AS events, COALESCE(speeding_s, 0) AS speeding_s
FROM motion FULL JOIN events USING (driver_id, device_id, day)
ORDER BY driver_id, day, device_id
"""
)

SPEED_PROFILE = (
    STEPS
    + """
SELECT driver_id, floor(speed_mps * 3.6 / %(bin_kmh)s) * %(bin_kmh)s AS bin_kmh,
       sum(dt_s) AS seconds
FROM driving GROUP BY 1, 2 ORDER BY 1, 2
"""
)

ROUTE = """
WITH own AS (
    SELECT device_id, seq, fix_time, lat_deg, lon_deg,
           row_number() OVER (ORDER BY device_id, fix_time, seq) AS rn, count(*) OVER () AS n
    FROM driver_fixes
    WHERE fix_time >= %(start)s AND fix_time < %(end)s AND driver_id = %(driver)s
      AND (%(devices)s::text[] IS NULL OR device_id = ANY(%(devices)s::text[]))
      AND (quality IS NULL OR quality > 0)
      AND (hdop IS NULL OR hdop <= %(max_hdop)s)
      AND (sats_used IS NULL OR sats_used >= %(min_sats)s)
)
SELECT device_id, fix_time, lat_deg, lon_deg FROM own
WHERE mod(rn - 1, greatest(1, ceil(n / %(max_points)s::float8))::bigint) = 0
ORDER BY device_id, fix_time, seq
"""

EVENTS = """
SELECT device_id, kind, severity, start_time, end_time, lat_deg, lon_deg FROM driver_alerts
WHERE driver_id = %(driver)s AND start_time >= %(start)s AND start_time < %(end)s
ORDER BY start_time, id
"""
