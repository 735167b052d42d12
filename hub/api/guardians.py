"""Guardians' HTTP API: where their own children were last seen, and their passages.

Endpoints (a router the hub's app mounts)::

    GET /api/children/{child_id}/passages   ?since=&until=&limit=   newest first
    GET /api/children/{child_id}/last-seen  the newest passage, or null

Authentication: ``Authorization: Bearer <token>``. The hub keeps only the SHA-256 of each
guardian's token (``guardians.api_token_sha256``, from the configuration); the presented
token is hashed and looked up by its hash. Looking up a hash is safe against timing: an
attacker chooses the token, not the hash bits the comparison would leak. The match is
confirmed with ``hmac.compare_digest``. No token, or one no guardian holds: 401 with
``WWW-Authenticate: Bearer``.

Authorization: a guardian sees only children linked to them in ``guardian_children``. A
child who is someone else's gets the very same 404 as a child who does not exist, so ids
cannot be probed. Passages of other children, and unresolved passages, never leave.

Times are ISO 8601: UTC, and the closest approach also in the city's local time. Store
errors become 503/500 through the app's ``StoreError`` handler (``hub.api.app``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, Field

from hub.api.times import TIME_HELP, query_time
from hub.storage.db import Connection, StoreUnavailableError
from hub.storage.watch import ChildRecord, GuardianRepository, PassageRepository, StoredPassage

MAX_LIMIT = 1000
MAX_ID_LENGTH = 128
NOT_FOUND = "child not found"

GetConnection = Callable[[], AbstractContextManager[Connection]]

_bearer = HTTPBearer(auto_error=False, description="the guardian's API token")


class ChildPassage(BaseModel):
    """One passage of the guardian's child at a station."""

    station_id: str = Field(description="station that saw the child")
    station_name: str | None = Field(description="where it stands; None: not registered")
    station_name_ja: str | None = Field(description="the same in Japanese")
    station_kind: str | None = Field(description="school_gate, roadside, area_boundary, mobile")
    closest_time: AwareDatetime = Field(description="closest approach, UTC")
    closest_time_local: AwareDatetime = Field(description="closest approach, city local time")
    first_seen: AwareDatetime = Field(description="first advertisement heard, UTC")
    last_seen: AwareDatetime = Field(description="last advertisement heard, UTC")
    lat_deg: float | None = Field(description="WGS84 latitude of the station or mobile detector")
    lon_deg: float | None = Field(description="WGS84 longitude, degrees")
    battery_mv: int | None = Field(description="tag battery, mV, when the tag reports it")


class LastSeen(BaseModel):
    """A child and their newest passage (None: not seen within the retention)."""

    child_id: str = Field(description="the child")
    child_name: str = Field(description="given name")
    passage: ChildPassage | None = Field(description="newest passage, or None")


def _view(p: StoredPassage, tz: ZoneInfo) -> ChildPassage:
    mobile = p.lat_deg is not None and p.lon_deg is not None
    return ChildPassage(
        station_id=p.station_id,
        station_name=p.station_name,
        station_name_ja=p.station_name_ja,
        station_kind=p.station_kind,
        closest_time=p.closest_time,
        closest_time_local=p.closest_time.astimezone(tz),
        first_seen=p.first_seen,
        last_seen=p.last_seen,
        lat_deg=p.lat_deg if mobile else p.station_lat_deg,
        lon_deg=p.lon_deg if mobile else p.station_lon_deg,
        battery_mv=p.battery_mv,
    )


def _unauthorized(error: str | None) -> HTTPException:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="missing or invalid bearer token",
        headers={"WWW-Authenticate": challenge},
    )


def bearer_token(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The presented bearer token. Raises HTTPException 401 when there is none."""
    if creds is None or not creds.credentials:
        raise _unauthorized(None)
    return creds.credentials


def token_sha256(token: str) -> str:
    """SHA-256 of a token as stored in ``guardians.api_token_sha256`` (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def authorize(conn: Connection, token: str, child_id: str) -> ChildRecord:
    """The child, if ``token`` is a guardian's and the child is theirs.

    Raises:
        HTTPException: 401 (no guardian holds ``token``), 404 (not their child, or no
            such child: the same answer).
        StoreUnavailableError, StoreRejectedError: the database failed.
    """
    digest = token_sha256(token)
    repo = GuardianRepository(conn)
    held = repo.with_token_sha256(digest)
    guardians = [g for g, stored in held if hmac.compare_digest(stored, digest)]
    if not guardians:
        raise _unauthorized("invalid_token")
    sane = len(child_id) <= MAX_ID_LENGTH and child_id.isprintable()
    child = repo.child_of(guardians, child_id) if sane else None
    if child is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND)
    return child


def guardian_router(get_conn: GetConnection, tz: ZoneInfo) -> APIRouter:
    """The guardian endpoints over connections from ``get_conn`` (called per request).

    Args:
        get_conn: returns a context manager yielding a connection, e.g.
            ``lambda: app.state.pool.connection()``; psycopg errors it raises on entry
            (pool timeout, server down) become ``StoreUnavailableError``.
        tz: the city's time zone, for ``closest_time_local``.
    """
    router = APIRouter(tags=["guardians"])

    @contextlib.contextmanager
    def connection() -> Iterator[Connection]:
        try:
            with get_conn() as conn:
                yield conn
        except psycopg.OperationalError as exc:  # includes psycopg_pool.PoolTimeout
            raise StoreUnavailableError("database connection", str(exc).strip()) from exc

    @router.get("/api/children/{child_id}/passages", response_model=list[ChildPassage])
    def child_passages(
        child_id: str,
        token: Annotated[str, Depends(bearer_token)],
        since: Annotated[
            str | None, Query(description=f"closest_time >= since; {TIME_HELP}")
        ] = None,
        until: Annotated[str | None, Query(description="closest_time < until")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="most passages")] = 100,
    ) -> list[ChildPassage]:
        """The caller's child's passages, newest first."""
        start, end = query_time(since, tz, "since"), query_time(until, tz, "until")
        with connection() as conn:
            authorize(conn, token, child_id)
            rows = PassageRepository(conn).passages(child_id, start, end, limit)
        return [_view(r, tz) for r in rows]

    @router.get("/api/children/{child_id}/last-seen", response_model=LastSeen)
    def child_last_seen(child_id: str, token: Annotated[str, Depends(bearer_token)]) -> LastSeen:
        """Where and when the caller's child was last seen."""
        with connection() as conn:
            child = authorize(conn, token, child_id)
            last = PassageRepository(conn).last_seen(child.id)
        passage = None if last is None else _view(last, tz)
        return LastSeen(child_id=child.id, child_name=child.name, passage=passage)

    return router
