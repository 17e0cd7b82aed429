"""How long an input waits before it tries to reach its device again."""

from __future__ import annotations

__all__ = ["Backoff"]


class Backoff:
    """Delays that double from ``first`` to ``most`` while failures go on; ``reset`` on success.

    >>> backoff = Backoff(first=0.5, most=2.0)
    >>> [backoff.next() for _ in range(4)]
    [0.5, 1.0, 2.0, 2.0]
    >>> backoff.reset(); backoff.next()
    0.5
    """

    def __init__(self, first: float = 0.5, most: float = 30.0) -> None:
        self.first = first
        self.most = most
        self._delay = first

    def next(self) -> float:
        """The delay before the next attempt."""
        delay = self._delay
        self._delay = min(2 * delay, self.most)
        return delay

    def reset(self) -> None:
        """Start again from ``first`` (after a success)."""
        self._delay = self.first
