"""Counters: plain dataclasses of monotonic ``int`` fields that a component keeps as it works.

Every counter set in citytrack (the NMEA decoder's, the fix filter's, the hub pipeline's...)
derives from ``Counters``, so each is read the same way: ``as_dict()`` for a summary or a
device status, and ``citytrack.metrics.MetricsRegistry`` to export them all in the
Prometheus format. Stdlib only: pure cores and device code count with it.

Fields are monotonic counts unless the class lists them in ``GAUGES`` (a value that goes
down as well as up, e.g. "calibrated: 1 once converged").
"""

from __future__ import annotations

from dataclasses import fields
from typing import ClassVar


class Counters:
    """Base of every counter dataclass (subclasses are ``@dataclass``, frozen or not)."""

    GAUGES: ClassVar[frozenset[str]] = frozenset()

    def as_dict(self) -> dict[str, int]:
        """Every field by name, in declaration order."""
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]
