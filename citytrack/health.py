"""Liveness and readiness, as the hub and the agents report them.

Alive: the process answers. Ready: it can do its work now: its broker connection is up,
its database answers (hub), its worker runs. A ``Readiness`` names each check with why it
fails, how many messages wait (the hub's inbox, an agent's outbox), and the age of the
newest message, so an operator sees at once what is wrong. Stdlib and pydantic only: it
runs on devices.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Check(BaseModel):
    ok: bool
    detail: str = Field(default="", description="why not, when not ok")


class Readiness(BaseModel):
    role: str = Field(description="hub, vehicle or station")
    ready: bool = Field(description="every check is ok")
    checks: dict[str, Check]
    queue_depth: int = Field(description="messages waiting: the hub's inbox, an agent's outbox")
    newest_message_age_s: float | None = Field(
        default=None, description="since the newest message was received (hub) or made (agent)"
    )

    @classmethod
    def of(
        cls,
        role: str,
        checks: dict[str, Check],
        queue_depth: int,
        newest_message_age_s: float | None = None,
    ) -> Readiness:
        ready = all(c.ok for c in checks.values())
        return cls(
            role=role,
            ready=ready,
            checks=checks,
            queue_depth=queue_depth,
            newest_message_age_s=newest_message_age_s,
        )

    def summary(self) -> str:
        """One line: 'ready' or what is not."""
        if self.ready:
            return "ready"
        return "; ".join(f"{n}: {c.detail or 'not ok'}" for n, c in self.checks.items() if not c.ok)
