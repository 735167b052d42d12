"""Serve the hub's HTTP API (uvicorn) from a background thread."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from analytics.driving.scorecard import DEFAULT_WEIGHTS, ScoreWeights
from citytrack.errors import FinalError
from citytrack.metrics import MetricsRegistry
from hub.api.app import ReadinessSource, create_app


class ApiBindError(FinalError):
    """The API's address cannot be bound (in use, or not this machine's)."""


class ApiServer:
    """uvicorn running ``hub.api.app`` on ``host:port`` (port 0 picks a free one), reading
    and showing local times in ``timezone`` (the city's, ``city.timezone``)."""

    def __init__(
        self,
        db_url: str,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        timezone: str,
        metrics: MetricsRegistry | None = None,
        readiness: ReadinessSource | None = None,
        weights: ScoreWeights = DEFAULT_WEIGHTS,
    ) -> None:
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise ApiBindError(
                f"cannot serve the API on {host}:{port}: {exc.strerror or exc} (another hub? "
                "choose another port with --api-port or hub.api_port)"
            ) from exc
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(
            create_app(
                db_url, timezone=timezone, metrics=metrics, readiness=readiness, weights=weights
            ),
            log_level="warning",
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="hub-api", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(5)
        self._sock.close()

    def close(self) -> None:
        """Stop if started; release the address either way."""
        self.stop()
