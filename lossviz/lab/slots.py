"""Fair sharing of the server: at most N trainings at once per process, first come first served."""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager
from typing import Callable, Iterator

from lossviz import settings


class TrainingSlots:
    """At most ``capacity`` trainings at once in this process, first come first served.

    ``capacity`` defaults to ``settings.limits().max_concurrent_trainings``,
    read at every check so a deployment's setting applies without restart.
    Use :meth:`slot` as a context manager around a run; the slot is released
    in ``finally``, so a run interrupted by any exception (the visitor pressed
    Stop, closed the tab, the run diverged) frees it.
    """

    def __init__(self, capacity: int | None = None):
        self._fixed_capacity = capacity
        self._cond = threading.Condition()
        self._active = 0
        self._queue: deque[object] = deque()

    @property
    def capacity(self) -> int:
        return self._fixed_capacity or settings.limits().max_concurrent_trainings

    @property
    def active(self) -> int:
        with self._cond:
            return self._active

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)

    def _try_take(self, ticket: object) -> bool:
        """Caller holds the lock.  The head of the queue takes a free slot."""
        if self._queue and self._queue[0] is ticket and self._active < self.capacity:
            self._queue.popleft()
            self._active += 1
            return True
        return False

    @contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None,
             poll_seconds: float = 0.25) -> Iterator[None]:
        """Hold one slot for the ``with`` body, waiting in line for it first.

        While queued, ``on_wait(ahead)`` is called about every
        ``poll_seconds`` with the number of visitors ahead in line; an
        exception it raises (Streamlit interrupting the script) leaves the
        queue cleanly.
        """
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
        try:
            while True:
                with self._cond:
                    if self._try_take(ticket):
                        break
                    ahead = list(self._queue).index(ticket)
                if on_wait is not None:
                    on_wait(ahead)
                with self._cond:
                    if self._try_take(ticket):
                        break
                    self._cond.wait(poll_seconds)
        except BaseException:
            with self._cond:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                self._cond.notify_all()
            raise
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()


SLOTS = TrainingSlots()
"""The process-wide limiter every lab page shares."""
