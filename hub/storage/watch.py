"""Child-watch repositories: the registry, beacon passages and derived watch events.

Like ``hub.storage.fleet``, every repository receives a ``psycopg.Connection`` and never opens,
commits or closes it; times go in and come out timezone-aware UTC. ``hub.storage.schema.upgrade``
creates the tables (steps ``0008_watch_registry`` and ``0009_passages``).

* ``WatchRegistry.sync`` mirrors ``[watch]`` into ``schools``, ``stations``, ``children``,
  ``guardians``, ``guardian_children`` and ``tags`` (never a tag's identity key).
* ``PassageRepository`` stores passages, resolved or not, idempotent on (station_id, seq).
* ``WatchEventRepository`` stores derived events, idempotent on ``event_id``.
* ``GuardianRepository`` answers the guardian API's "who holds this token, is this their
  child" questions.
* ``prune`` deletes passages and events older than the retention.

Errors: ``hub.storage.db.StoreUnavailableError`` / ``StoreRejectedError`` (the database
failed); ``ValueError`` for a naive datetime or ``limit < 1``, before any SQL runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from analytics.watch.events import WatchEvent, WatchEventKind
from citytrack.config.watch import Tag, WatchConfig
from citytrack.wire import Passage
from hub.storage.db import Connection, own_transaction, require_aware, translate_errors, utc_row

# --- registry -----------------------------------------------------------------------------

_UPSERTS = {
    "schools": ("id", "name", "ward", "lat_deg", "lon_deg", "arrival_deadline", "school_days"),
    "stations": ("id", "name", "name_ja", "kind", "school_id", "ward", "lat_deg", "lon_deg"),
    "children": ("id", "name", "school_id"),
    "guardians": ("id", "name", "language", "api_token_sha256"),
    "tags": ("id", "child_id", "kind", "trackable"),
}


def _upsert(cur: psycopg.Cursor[Any], table: str, items: Sequence[Any]) -> None:
    """Insert or update ``items`` (config objects with the table's columns as attributes)."""
    cols = _UPSERTS[table]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols[1:])
    query = (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}"
    )
    rows = [tuple(getattr(item, c) for c in cols) for item in items]
    cur.executemany(query.encode(), rows)  # bytes: built from the constants above


class WatchRegistry:
    """The child-watch registry tables, mirrored from the configuration."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @translate_errors("sync watch registry")
    def sync(self, watch: WatchConfig) -> None:
        """Upsert schools, stations, children, guardians, tags and guardian links.

        Guardians, guardian links and tags mirror the configuration exactly (one removed
        there loses API access and resolution here); schools, stations and children no
        longer configured are kept, as stored passages and events name them.
        """
        links = [(g, c.id) for c in watch.children for g in c.guardian_ids]
        with own_transaction(self._conn), self._conn.cursor() as cur:
            for table in ("schools", "stations", "children", "guardians"):
                _upsert(cur, table, getattr(watch, table))
            cur.execute(
                "DELETE FROM guardians WHERE id <> ALL(%s)", ([g.id for g in watch.guardians],)
            )
            cur.execute(
                "DELETE FROM guardian_children WHERE (guardian_id, child_id) NOT IN "
                "(SELECT * FROM unnest(%s::text[], %s::text[]))",
                ([g for g, _ in links], [c for _, c in links]),
            )
            cur.executemany(
                "INSERT INTO guardian_children (guardian_id, child_id) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                links,
            )
            _upsert(cur, "tags", watch.tags)
            cur.execute("DELETE FROM tags WHERE id <> ALL(%s)", ([t.id for t in watch.tags],))


# --- passages -----------------------------------------------------------------------------

_PASSAGE_COLUMNS = (
    ("station_id", "text"),
    ("seq", "int8"),
    ("beacon_kind", "text"),
    ("beacon_id", "text"),
    ("tag_id", "text"),
    ("child_id", "text"),
    ("first_seen", "timestamptz"),
    ("last_seen", "timestamptz"),
    ("closest_time", "timestamptz"),
    ("peak_rssi_dbm", "float8"),
    ("adv_count", "int4"),
    ("tx_power_dbm", "int2"),
    ("lat_deg", "float8"),
    ("lon_deg", "float8"),
    ("battery_mv", "int4"),
    ("temperature_c", "float8"),
    ("ingest_time", "timestamptz"),
)
PASSAGE_COLUMNS = tuple(c for c, _ in _PASSAGE_COLUMNS)
_STAGE = "citytrack_passage_stage"


@dataclass(frozen=True)
class StoredPassage:
    """A stored passage with its station's registry entry (None: station not registered).

    Times are UTC; ``lat_deg``/``lon_deg`` are the mobile detector's position (None for a
    fixed station, whose position is ``station_lat_deg``/``station_lon_deg``).
    """

    station_id: str
    seq: int
    beacon_kind: str
    beacon_id: str
    tag_id: str | None
    child_id: str | None
    first_seen: datetime
    last_seen: datetime
    closest_time: datetime
    peak_rssi_dbm: float
    adv_count: int
    tx_power_dbm: int | None
    lat_deg: float | None
    lon_deg: float | None
    battery_mv: int | None
    temperature_c: float | None
    ingest_time: datetime
    station_name: str | None
    station_name_ja: str | None
    station_kind: str | None
    station_lat_deg: float | None
    station_lon_deg: float | None


def _passage_row(passage: Passage, tag: Tag | None, ingest_time: datetime) -> tuple[Any, ...]:
    return (
        passage.device_id,
        passage.seq,
        passage.beacon_kind.value,
        passage.beacon_id,
        None if tag is None else tag.id,
        None if tag is None else tag.child_id,
        passage.first_seen,
        passage.last_seen,
        passage.closest_time,
        passage.peak_rssi_dbm,
        passage.adv_count,
        passage.tx_power_dbm,
        passage.lat_deg,
        passage.lon_deg,
        passage.battery_mv,
        passage.temperature_c,
        ingest_time,
    )


_SELECT_PASSAGES = sql.SQL(
    "SELECT {cols}, s.name AS station_name, s.name_ja AS station_name_ja, "
    "s.kind AS station_kind, s.lat_deg AS station_lat_deg, s.lon_deg AS station_lon_deg "
    "FROM passages p LEFT JOIN stations s ON s.id = p.station_id "
    "WHERE p.child_id = %s AND p.closest_time >= %s AND p.closest_time < %s "
    "ORDER BY p.closest_time DESC, p.station_id, p.seq DESC LIMIT %s"
).format(cols=sql.SQL(", ".join(f"p.{c}" for c in PASSAGE_COLUMNS)))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)


class PassageRepository:
    """Beacon passages, resolved or not, deduplicated on (station_id, seq)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _ensure_stage(self, cur: psycopg.Cursor[Any]) -> None:
        # As FixRepository: one temp table per session, emptied at every commit.
        if cur.execute("SELECT to_regclass(%s)", (f"pg_temp.{_STAGE}",)).fetchone() != (None,):
            return
        cols = ", ".join(f"{c} {t}" for c, t in _PASSAGE_COLUMNS)
        cur.execute(f"CREATE TEMP TABLE {_STAGE} (ord int4, {cols}) ON COMMIT DELETE ROWS")

    @translate_errors("insert passages")
    def insert(
        self, passages: Sequence[tuple[Passage, Tag | None]], ingest_time: datetime
    ) -> list[tuple[str, int]]:
        """Store passages with the tag each resolved to (None: unresolved).

        Binary COPY into a staging table, then one ``INSERT ... ON CONFLICT DO NOTHING``;
        a passage already stored, or repeated in the batch, is stored once (the first).
        Sightings keep the detector's position in ``lat_deg``/``lon_deg``.

        Returns:
            The (station_id, seq) keys that were new, in no particular order.

        Raises:
            ValueError: ``ingest_time`` is naive.
            StoreUnavailableError, StoreRejectedError: the database failed.
        """
        require_aware(ingest_time=ingest_time)
        if not passages:
            return []
        cols = ", ".join(PASSAGE_COLUMNS)
        with own_transaction(self._conn), self._conn.cursor() as cur:
            self._ensure_stage(cur)
            with cur.copy(f"COPY {_STAGE} (ord, {cols}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int4", *(t for _, t in _PASSAGE_COLUMNS)])
                for ord_, (passage, tag) in enumerate(passages):
                    copy.write_row((ord_, *_passage_row(passage, tag, ingest_time)))
            cur.execute(
                f"WITH staged AS (DELETE FROM {_STAGE} RETURNING *) "
                f"INSERT INTO passages ({cols}) "
                f"SELECT DISTINCT ON (station_id, seq) {cols} FROM staged "
                "ORDER BY station_id, seq, ord "
                "ON CONFLICT DO NOTHING RETURNING station_id, seq"
            )
            return [(str(s), int(q)) for s, q in cur.fetchall()]

    @translate_errors("count passages")
    def count(self, *, resolved: bool | None = None) -> int:
        """Number of stored passages: all, only resolved (True) or only unresolved (False)."""
        where = {None: "", True: " WHERE child_id IS NOT NULL", False: " WHERE child_id IS NULL"}
        row = self._conn.execute(f"SELECT count(*) FROM passages{where[resolved]}").fetchone()
        return int(row[0]) if row else 0

    @translate_errors("read passages")
    def passages(
        self,
        child_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[StoredPassage]:
        """One child's passages with ``since <= closest_time < until``, newest first.

        Raises:
            ValueError: a naive ``since``/``until`` or ``limit < 1``.
        """
        require_aware(since=since)
        require_aware(until=until)
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        params = (child_id, since or _EPOCH, until or _FAR, limit)
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(_SELECT_PASSAGES, params).fetchall()
        times = ("first_seen", "last_seen", "closest_time", "ingest_time")
        return [StoredPassage(**utc_row(r, *times)) for r in rows]

    def last_seen(self, child_id: str) -> StoredPassage | None:
        """The child's newest passage (by closest_time), or None if never seen."""
        found = self.passages(child_id, limit=1)
        return found[0] if found else None

    @translate_errors("read passages for replay")
    def resolved_since(self, since: datetime) -> list[tuple[str, str, datetime]]:
        """(child_id, station_id, closest_time UTC) of resolved passages from ``since`` on,
        oldest first: what ``WatchEventEngine.replay`` takes.

        Raises:
            ValueError: a naive ``since``.
        """
        require_aware(since=since)
        rows = self._conn.execute(
            "SELECT child_id, station_id, closest_time FROM passages "
            "WHERE child_id IS NOT NULL AND closest_time >= %s "
            "ORDER BY closest_time, station_id, seq",
            (since,),
        ).fetchall()
        return [(str(c), str(s), t.astimezone(UTC)) for c, s, t in rows]


# --- watch events -------------------------------------------------------------------------

_EVENT_FIELDS = ("event_id", "kind", "child_id", "time", "station_id", "school_id")


def _event(row: tuple[Any, ...]) -> WatchEvent:
    event_id, kind, child_id, time, station_id, school_id = row
    return WatchEvent(WatchEventKind(kind), child_id, time, station_id, school_id, event_id)


class WatchEventRepository:
    """Derived child-watch events, unique on ``event_id``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @translate_errors("insert watch events")
    def insert(self, events: Sequence[WatchEvent]) -> list[WatchEvent]:
        """Store events; returns those that were new, in input order (a repeat is old)."""
        query = (
            f"INSERT INTO watch_events ({', '.join(_EVENT_FIELDS)}) VALUES (%s, %s, %s, %s, %s, "
            "%s) ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        )
        new: list[WatchEvent] = []
        with self._conn.cursor() as cur:
            for e in events:
                params = (e.event_id, e.kind.value, e.child_id, e.time, e.station_id, e.school_id)
                if cur.execute(query, params).fetchone() is not None:
                    new.append(e)
        return new

    @translate_errors("read watch events")
    def since(self, since: datetime, *, child_id: str | None = None) -> list[WatchEvent]:
        """Events with ``time >= since`` (of one child, or all), oldest first.

        Raises:
            ValueError: a naive ``since``.
        """
        require_aware(since=since)
        query = f"SELECT {', '.join(_EVENT_FIELDS)} FROM watch_events WHERE time >= %s"
        params: tuple[Any, ...] = (since,)
        if child_id is not None:
            query, params = query + " AND child_id = %s", (since, child_id)
        rows = self._conn.execute((query + " ORDER BY time, event_id").encode(), params)
        return [_event(r) for r in rows.fetchall()]

    @translate_errors("read events without notices")
    def without_notices(self, since: datetime) -> list[WatchEvent]:
        """Events with ``time >= since`` for which no notice row exists, oldest first.

        Raises:
            ValueError: a naive ``since``.
        """
        require_aware(since=since)
        cols = ", ".join(f"e.{f}" for f in _EVENT_FIELDS)
        rows = self._conn.execute(
            f"SELECT {cols} FROM watch_events e WHERE e.time >= %s AND NOT EXISTS "
            "(SELECT 1 FROM notifications n WHERE n.event_id = e.event_id) "
            "ORDER BY e.time, e.event_id",
            (since,),
        )
        return [_event(r) for r in rows.fetchall()]


# --- guardians ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildRecord:
    """A child as the registry knows it."""

    id: str
    name: str
    school_id: str


class GuardianRepository:
    """Guardian tokens and guardian-child links, for the guardian API."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @translate_errors("look up guardian token")
    def with_token_sha256(self, token_sha256: str) -> list[tuple[str, str]]:
        """(guardian_id, stored api_token_sha256) of guardians whose token hash is
        ``token_sha256`` (hex); guardians without a token never match."""
        rows = self._conn.execute(
            "SELECT id, api_token_sha256 FROM guardians "
            "WHERE api_token_sha256 = %s AND api_token_sha256 <> '' ORDER BY id",
            (token_sha256,),
        ).fetchall()
        return [(str(i), str(h)) for i, h in rows]

    @translate_errors("look up guardian's child")
    def child_of(self, guardian_ids: Sequence[str], child_id: str) -> ChildRecord | None:
        """The child if one of ``guardian_ids`` is its guardian, else None."""
        row = self._conn.execute(
            "SELECT c.id, c.name, c.school_id FROM children c "
            "JOIN guardian_children gc ON gc.child_id = c.id "
            "WHERE c.id = %s AND gc.guardian_id = ANY(%s) LIMIT 1",
            (child_id, list(guardian_ids)),
        ).fetchone()
        return None if row is None else ChildRecord(str(row[0]), str(row[1]), str(row[2]))


# --- retention ----------------------------------------------------------------------------
