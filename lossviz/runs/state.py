"""The typed status of a stored run.

A run is *live* while it is queued or running; every other state is final and
says how it ended (the engine's own statuses plus the service's: interrupted
by a server that stopped, failed by an error that is not the model's fault).
"""

from __future__ import annotations

import enum


class RunState(str, enum.Enum):
    """Where a run stands; the value is what the store writes."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    DIVERGED = "diverged"
    INTERRUPTED = "interrupted"
    FAILED = "failed"

    @property
    def live(self) -> bool:
        """True while the run may still change: queued or running."""
        return self in (RunState.QUEUED, RunState.RUNNING)

    @classmethod
    def from_engine(cls, status) -> "RunState":
        """The state for an engine status.

        Args:
            status: the engine's ``RunResult.status``, a string (``"finished"``,
                ``"stopped"``, ``"diverged"``) or an enum whose ``value`` is one.

        Returns:
            The matching final :class:`RunState`.

        Raises:
            ValueError: for anything that is not a final engine status.
        """
        value = getattr(status, "value", status)
        state = cls(str(value).lower())
        if state not in (cls.FINISHED, cls.STOPPED, cls.DIVERGED):
            raise ValueError(f"{status!r} is not an engine status (finished, stopped or diverged)")
        return state

    def __str__(self) -> str:
        return self.value
