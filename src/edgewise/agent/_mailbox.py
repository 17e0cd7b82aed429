"""Where inputs leave messages for the worker: many producers, one consumer taking batches.

``queue.Queue`` takes a lock and signals a condition for every message on both sides; at ten
thousand messages a second on one core that was a fifth of the worker's time, most of it spent
handing the interpreter lock back and forth. Here a producer appends to a deque (atomic) and sets
an event only when the consumer may be asleep, and the consumer takes everything waiting at once.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Generic, TypeVar

__all__ = ["Mailbox"]

T = TypeVar("T")


class Mailbox(Generic[T]):
    """A bounded first-in-first-out box: ``put`` waits while ``capacity`` items are in it.

    >>> box: Mailbox[int] = Mailbox(capacity=10)
    >>> for i in range(3):
    ...     box.put(i)
    >>> box.take(most=2, wait_s=0.1, gather_s=0.0)
    [0, 1]
    >>> box.take(most=2, wait_s=0.1, gather_s=0.0), box.take(most=2, wait_s=0.01, gather_s=0.0)
    ([2], [])
    """

    def __init__(self, *, capacity: int) -> None:
        self.capacity = capacity
        self._items: collections.deque[T] = collections.deque()
        self._arrived = threading.Event()
        self._room = threading.Event()

    def put(self, item: T) -> None:
        """Add ``item``; blocks while the box is full (the consumer is far behind)."""
        while len(self._items) >= self.capacity:
            self._room.clear()
            if len(self._items) >= self.capacity:
                self._room.wait(0.01)
        self._items.append(item)
        if not self._arrived.is_set():
            self._arrived.set()

    def take(self, *, most: int, wait_s: float, gather_s: float) -> list[T]:
        """Up to ``most`` items, oldest first: waits up to ``wait_s`` for the first, then up to
        ``gather_s`` more for company (less once ``most`` are in); empty if none came."""
        if not self._items:
            self._arrived.clear()
            if not self._items and not self._arrived.wait(wait_s):
                return []
        deadline = time.monotonic() + gather_s
        while len(self._items) < most and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.001))
        items = self._items
        taken = [items.popleft() for _ in range(min(most, len(items)))]
        self._room.set()
        return taken

    def __len__(self) -> int:
        return len(self._items)
