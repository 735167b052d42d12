"""The one exception tree of citytrack: callers decide by class, never by parsing a message.

    CitytrackError                  root; str(error) is one line that says what went wrong
    ├── FinalError                  retrying the same thing fails again: fix the input or setup
    │   └── InvalidInputError       bad data or settings (also a ValueError)
    │       ├── citytrack.config.ConfigError          a config file, naming file and key
    │       ├── citytrack.wire.ContractError          a topic or payload off the contract
    │       ├── citytrack.ble.adstructs.AdError       malformed advertising data
    │       ├── citytrack.ble.hci.HciError            malformed HCI report
    │       ├── analytics.driving.roads.RoadsError    a road file
    │       ├── analytics.routing.model.RoutingError  a routing problem (Instance-, Infeasible-,
    │       │                                         RouteDataError)
    │       ├── edge_agent.nmea_sentences.FieldError  an NMEA field
    │       ├── edge_agent.pctim.ImuLineError         an accelerometer line
    │       ├── firmware_sim.scripts.ScenarioError    a driving script
    │       ├── firmware_sim.run.SimRequestError      a simulator run that cannot be done
    │       └── app.cli.common.UsageError             command-line options that do not fit
    │   ├── hub.storage.db.StoreRejectedError      the database refused a statement
    │   ├── hub.storage.db.MigrationError          a schema step failed
    │   ├── app.services.ServiceError                 a private broker or database did not start
    │   └── app.cli.common.CommandError               a command could not do its job (exit 1)
    └── RetryableError              the peer or resource may come back: retry with backoff
        ├── edge_agent.sources.SourceError            a GNSS source (SourceOpen-, SourceReadError;
        │                                             also an OSError)
        └── hub.storage.db.StoreUnavailableError   the database is unreachable

``hub.storage.db.StoreError`` is the base of the store's two, kept for callers that
handle either. Some lower functions raise ``InvalidInputError`` itself (a broker URL, a
time range, a date or time zone as typed (``citytrack.times``), a broadcast's scope).
The CLI turns an unreachable database or a failed migration into a ``CommandError`` that
names the database and what to do. The CLI (``app.cli.CitytrackGroup``) turns any
``CitytrackError`` that reaches it into one line ``citytrack: <message>`` on stderr and the
error's ``exit_code``: 2 for what the user must fix, 1 for the rest.
"""

from __future__ import annotations


class CitytrackError(Exception):
    """Root of citytrack's errors."""

    exit_code = 1


class FinalError(CitytrackError):
    """Retrying the same operation with the same input will fail again."""


class InvalidInputError(FinalError, ValueError):
    """Bad data or settings, from a file, a message or the command line."""

    exit_code = 2


class RetryableError(CitytrackError):
    """A peer or resource failed in a way that may pass: retry with backoff."""
