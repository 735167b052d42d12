"""The supervisor's HTTP API (FastAPI) over the hub's database.

Endpoints::

    GET /api/alerts    ?vehicle=&kind=&since=&until=&limit=   alerts, newest first
    GET /api/vehicles  every registered vehicle: last position, driver, online status
    GET /livez         200 while the process answers (liveness)
    GET /readyz        200 when the hub can work now, else 503 with what is not
                       (broker, database, worker; inbox depth, newest message age)
    GET /healthz       the same as /readyz
    GET /metrics       the process's counters, Prometheus text format (with ``metrics=``)

Query times are plain dates (local midnight in the city's zone), timestamps without an
offset (city time) or with one (``hub.api.times``); a bad one is a 422, as is any bad
query parameter. Responses carry UTC times and units in field names. A
``psycopg_pool.ConnectionPool`` is opened in the app's lifespan and closed on shutdown.
Store errors become 503 (database unavailable) or 500 (statement refused) with a JSON
``detail``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import psycopg
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from analytics.driving.scorecard import DEFAULT_WEIGHTS, ScoreWeights
from citytrack.health import Check, Readiness
from citytrack.metrics import CONTENT_TYPE, MetricsRegistry
from citytrack.times import zone
from hub.api.drivers import drivers_router
from hub.api.guardians import guardian_router
from hub.api.times import TIME_HELP, query_time
from hub.storage.db import Connection, StoreError, StoreUnavailableError
from hub.storage.fleet import AlertRepository, DeviceRepository, StoredAlert, VehiclePosition

log = logging.getLogger(__name__)

MAX_LIMIT = 1000


class Liveness(BaseModel):
    """What ``/livez`` reports."""

    status: Literal["alive"] = "alive"


ReadinessSource = Callable[[], Readiness]


@contextlib.contextmanager
def _connection(request: Request) -> Iterator[Connection]:
    """A pooled connection; a pool timeout or a dead server becomes StoreUnavailableError."""
    pool: ConnectionPool[Connection] = request.app.state.pool
    try:
        with pool.connection() as conn:
            yield conn
    except psycopg.OperationalError as exc:  # includes psycopg_pool.PoolTimeout
        raise StoreUnavailableError("database connection", str(exc).strip()) from exc


def _store_error(request: Request, exc: Exception) -> JSONResponse:
    unavailable = isinstance(exc, StoreUnavailableError)
    log.warning("%s %s failed: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": str(exc)}, status_code=503 if unavailable else 500)


def _database_check(request: Request) -> Check:
    try:
        with _connection(request) as conn:
            conn.execute("SELECT 1")
    except (StoreError, psycopg.Error) as exc:
        return Check(ok=False, detail=str(exc).strip())
    return Check(ok=True)


def _add_routes(app: FastAPI, tz: ZoneInfo, readiness: ReadinessSource | None) -> None:
    @app.get("/api/alerts", response_model=list[StoredAlert])
    def list_alerts(
        request: Request,
        vehicle: Annotated[str | None, Query(description="device_id of the vehicle")] = None,
        kind: Annotated[str | None, Query(description="alert kind, e.g. speeding")] = None,
        since: Annotated[str | None, Query(description=f"start_time >= since: {TIME_HELP}")] = None,
        until: Annotated[str | None, Query(description="start_time < until")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="most alerts")] = 100,
    ) -> list[StoredAlert]:
        """Alerts newest first (by start time), filtered."""
        start, end = query_time(since, tz, "since"), query_time(until, tz, "until")
        with _connection(request) as conn:
            return AlertRepository(conn).query(
                device_id=vehicle, kind=kind, since=start, until=end, limit=limit
            )

    @app.get("/api/vehicles", response_model=list[VehiclePosition])
    def list_vehicles(request: Request) -> list[VehiclePosition]:
        """Every registered vehicle with its newest fix, driver and online status."""
        with _connection(request) as conn:
            return DeviceRepository(conn).last_positions()

    @app.get("/livez", response_model=Liveness)
    def livez() -> Liveness:
        """200 while the process answers."""
        return Liveness()

    @app.get("/readyz", response_model=Readiness)
    @app.get("/healthz", response_model=Readiness)
    def readyz(request: Request) -> Readiness | JSONResponse:
        """200 when every check passes, else 503 with what fails. Without a hub in this
        process (the API alone) the check is the database."""
        if readiness is not None:
            report = readiness()
        else:
            report = Readiness.of("api", {"database": _database_check(request)}, 0)
        if report.ready:
            return report
        return JSONResponse(report.model_dump(), status_code=503)


def create_app(
    db_url: str,
    *,
    pool_max_size: int = 4,
    pool_timeout_s: float = 5.0,
    timezone: str = "Asia/Tokyo",
    metrics: MetricsRegistry | None = None,
    readiness: ReadinessSource | None = None,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
) -> FastAPI:
    """The API app over the database at ``db_url`` (schema already upgraded); driver
    scores with ``weights`` (``hub.storage.drivers.score_weights`` for the configured
    minimum driving).

    The pool opens without waiting for the server, so the app starts while the database
    is down and ``/healthz`` says so; a request waits at most ``pool_timeout_s`` seconds
    for a connection, then answers 503.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool: ConnectionPool[Connection] = ConnectionPool(
            db_url,
            min_size=1,
            max_size=pool_max_size,
            open=False,
            timeout=pool_timeout_s,
            name="citytrack-api",
        )
        pool.open(wait=False)
        app.state.pool = pool
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(title="citytrack hub", lifespan=lifespan)
    app.add_exception_handler(StoreError, _store_error)
    _add_routes(app, zone(timezone), readiness)
    # guardians: their own children only (bearer token; see hub/api/guardians.py)
    pooled = lambda: app.state.pool.connection()  # noqa: E731, PLW0108 - pool made in lifespan
    app.include_router(guardian_router(pooled, zone(timezone)))
    # supervisors: per-driver scorecards (see hub/api/drivers.py)
    app.include_router(drivers_router(pooled, zone(timezone), weights=weights))
    if metrics is not None:
        registry = metrics

        @app.get("/metrics", response_class=Response)
        def metrics_text() -> Response:
            """The process's counters in the Prometheus text format."""
            return Response(registry.exposition(), media_type=CONTENT_TYPE)

    return app
