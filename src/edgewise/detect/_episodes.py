"""Episodes: from each reading's abnormal / normal decision to alarms an operator can act on.

``is_anomaly`` is each reading's own decision; an *episode* groups the abnormal readings of one
input: it starts at an **alarm** and ends once ``end_after`` readings in a row are not abnormal
for that input. During an episode, the views (or causes) it has seen are remembered: another view
going abnormal raises a new alarm (a second, different fault is reported), the same view does not.
A different input going abnormal starts its own episode, with its own alarm.

One small ``float64`` array per input holds an episode (:data:`SIZE` words), advanced by the
numba :func:`advance`, for the calibrated detectors and the default detector's process view. The
default detector's per-input kernel keeps its episode in its own flat state instead, with what
only it needs: the acceptance of a lasting change and the normal frozen at the alarm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from edgewise._jit import njit
from edgewise.stream import state_type

__all__ = ["ALARM", "ENDED", "SIZE", "Episodes", "advance"]

# Words of an episode: views seen (bit mask), readings in a row not abnormal, readings in it.
VIEWS, QUIET, LENGTH = 0, 1, 2
SIZE = 3
# Bits of what :func:`advance` returns.
ALARM, ENDED = 1, 2


@njit("int64(float64[::1], int64, int64)", cache=True, nogil=True)
def advance(episode: NDArray[np.float64], views: int, end_after: int) -> int:
    """Take one reading whose abnormal views are the bits of ``views`` (0: not abnormal).

    Returns :data:`ALARM` when an episode starts here or a view it had not seen goes abnormal,
    :data:`ENDED` when the episode ends here (``end_after`` readings in a row not abnormal).
    """
    seen = int(episode[VIEWS])
    if episode[LENGTH] == 0.0:
        if views == 0:
            return 0
        episode[VIEWS] = views
        episode[QUIET] = 0.0
        episode[LENGTH] = 1.0
        return ALARM
    episode[LENGTH] += 1.0
    if views == 0:
        episode[QUIET] += 1.0
        if episode[QUIET] >= end_after:
            episode[VIEWS] = episode[QUIET] = episode[LENGTH] = 0.0
            return ENDED
        return 0
    episode[QUIET] = 0.0
    episode[VIEWS] = seen | views
    return ALARM if views & ~seen else 0


@state_type
class Episodes:
    """The open episodes of a detector's inputs, for the detectors written in Python.

    Each reading names the input it holds responsible when it is abnormal (``culprit``, with a
    view bit), or none, and the inputs it implicates beside it (``also``): their episodes open or
    go on too, without an alarm of their own, so that the next reading blaming one of them is the
    same event, not a new alarm. Every other input's open episode counts the reading as not
    abnormal.
    """

    def __init__(self, end_after: int) -> None:
        self.end_after = end_after
        self.open: dict[str, NDArray[np.float64]] = {}

    def advance(
        self, culprit: str | None, view: int = 1, also: Sequence[str] = ()
    ) -> tuple[bool, list[str]]:
        """Whether this reading raises an alarm, and the inputs whose episodes end here."""
        alarm = False
        ended: list[str] = []
        abnormal = set() if culprit is None else {culprit, *also}
        for name in abnormal:
            if name not in self.open:
                self.open[name] = np.zeros(SIZE)
        for name, episode in list(self.open.items()):
            happened = advance(episode, view if name in abnormal else 0, self.end_after)
            alarm |= bool(happened & ALARM) and name == culprit
            if happened & ENDED:
                ended.append(name)
                del self.open[name]
        return alarm, ended

    def length(self, name: str) -> int:
        """Readings in the open episode of input ``name`` (0: none open)."""
        episode = self.open.get(name)
        return 0 if episode is None else int(episode[LENGTH])
