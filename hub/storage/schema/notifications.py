"""Guardian notices: one row per (event, guardian, channel)."""

from __future__ import annotations

from hub.storage.schema.ddl import Step, sql

_NOTIFICATIONS = """
CREATE TABLE notifications (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL,
    guardian_id text NOT NULL,
    child_id text,
    channel text NOT NULL,
    recipient text NOT NULL,
    kind text NOT NULL,
    station_id text,
    school_id text,
    event_time timestamptz NOT NULL,
    subject text NOT NULL DEFAULT '',
    text text NOT NULL,
    status text NOT NULL
        CHECK (status IN ('queued', 'delivered', 'failed', 'dropped', 'deferred')),
    reason text NOT NULL DEFAULT '',
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    retry_key uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    due_at timestamptz NOT NULL,
    handed_at timestamptz,
    delivered_at timestamptz,
    CONSTRAINT notifications_event_guardian_channel_key UNIQUE (event_id, guardian_id, channel)
)
"""


def notifications_step() -> Step:
    """Guardian notices (``hub.storage.notifications``), a plain table in both modes.

    Unique on (event_id, guardian_id, channel): re-processing an event adds nothing. The
    partial index serves the delivery worker's "due now" scan.
    """
    return Step(
        "0007_notifications",
        sql(
            _NOTIFICATIONS,
            "CREATE INDEX notifications_due_idx ON notifications (due_at) "
            "WHERE status IN ('queued', 'deferred')",
            "CREATE INDEX notifications_guardian_idx ON notifications (guardian_id, created_at)",
        ),
    )
