"""One small thread-safe, bounded, least-recently-used cache for results shared across sessions and workers."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """A mapping that keeps the ``maxsize`` most recently used entries; safe to share between threads.

    Args:
        maxsize: entries kept; the least recently read or written goes first.

    >>> cache = BoundedCache(2)
    >>> cache.put("a", 1); cache.put("b", 2); cache.get("a")
    1
    >>> cache.put("c", 3); cache.get("b") is None  # "b" was the least recently used
    True
    >>> cache.get_or_make("d", lambda: 4), len(cache)
    (4, 2)
    """

    def __init__(self, maxsize: int):
        self.maxsize = max(1, int(maxsize))
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value kept for ``key`` (now the most recent), or ``None``."""
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key]

    def put(self, key: Hashable, value: V) -> None:
        """Keep ``value`` for ``key``, dropping the least recently used entries beyond ``maxsize``."""
        with self._lock:
            self._put(key, value)

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value for ``key``, made by ``make()`` under the lock when absent, so concurrent callers share one."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            value = make()
            self._put(key, value)
            return value

    def _put(self, key: Hashable, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
