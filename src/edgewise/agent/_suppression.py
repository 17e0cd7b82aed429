"""Transmission suppression by dual prediction: send a reading only when the hub would miss it.

The agent (:class:`Suppressor`) and the hub (:class:`Reconstructor`) run the same
:class:`DualPredictor` on the same input: the *reconstructed* series, the one the hub can build
from the messages it gets. The agent sends a reading when the prediction of any of its values
misses by more than that value's bound, and a heartbeat when it has been quiet for a while. The
hub's reconstruction of every reading is then the true value (sent) or a prediction within the
bound of it (suppressed), by construction, and equals the agent's own view exactly.

Readings are regularly sampled and numbered by consecutive ``seq`` per stream: the predictor
counts steps in ``seq``, and the hub dates a suppressed reading by interpolating between the
timestamps of the messages around it (every message carries the timestamp of its ``seq``), so
no sampling period needs to be configured.

Messages (JSON-able dicts, delivered in order; a repeated or older one is ignored)::

    {"kind": "reading", "seq": 41, "timestamp": 1.7e9, "values": {"temp": 21.5}}
    {"kind": "heartbeat", "seq": 52, "timestamp": 1.70002e9}

A reading message carries only the values that missed; the hub predicts the others. Its
``seq``, like a heartbeat's, is a watermark: every reading up to it is accounted for. A
:class:`Suppressor` with ``shift=True`` may add one number, ``"shift"``, to a reading: the hub
adds it to the prediction of every value of that reading (a move the values share, such as a
building's heating seen by all its motes), so one number stands in for several.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping
from typing import Any, Self

from edgewise.stream._state import (
    STATE_FORMAT,
    STATE_FORMAT_VERSION,
    StateError,
    decode,
    encode,
    state_type,
)

__all__ = ["DualPredictor", "Message", "Reconstructor", "Suppressor"]

Message = dict[str, Any]
"""A message from agent to hub: ``kind``, ``seq``, ``timestamp`` and, for readings, ``values``."""

_STATE_VERSION = 2  # 2: Suppressor.shift


@state_type
class DualPredictor:
    """The predictor both sides run: hold, blended with a damped line through sent readings.

    The prediction of a value is ``(1 - trend) * last + trend * line``, where ``last`` is its
    last reconstructed value and ``line`` extrapolates the line through its last two *sent*
    (true) values, its slope damped by ``damping`` per step. Then ``shared`` times the mean
    surprise (reconstructed minus own prediction) of the values already decided in the same
    reading (in name order) is added: sensors that move together tell each other.
    Everything it learns comes from reconstructed values and which of them were sent, which the
    hub knows too.

    Parameters
    ----------
    trend
        Weight of the line through the last two sent values, in [0, 1]; 0 holds the last value.
    damping
        Damping of that line's slope per step ahead, in (0, 1]; 1 extrapolates it undamped.
    shared
        Weight of the mean surprise of the values decided before, in the same reading.

    Examples
    --------
    >>> p = DualPredictor(trend=1.0)
    >>> p.update(0, {"t": 20.0}, sent={"t"})
    >>> p.update(1, {"t": 20.5}, sent={"t"})
    >>> p.predict(3, "t", {})
    21.5
    """

    def __init__(self, *, trend: float = 0.3, damping: float = 1.0, shared: float = 0.0) -> None:
        self.trend = trend
        self.damping = damping
        self.shared = shared

    def _check(self) -> None:
        if not 0.0 <= self.trend <= 1.0:
            raise ValueError(f"trend must be in [0, 1], got {self.trend!r}")
        if not 0.0 < self.damping <= 1.0:
            raise ValueError(f"damping must be in (0, 1], got {self.damping!r}")
        if not math.isfinite(self.shared):
            raise ValueError(f"shared must be finite, got {self.shared!r}")

    def to_state_dict(self) -> dict[str, Any]:
        """Parameters and learned state as plain JSON-able data (the hub can log or ship it)."""
        return {
            "trend": self.trend,
            "damping": self.damping,
            "shared": self.shared,
            "last": dict(getattr(self, "last_", {})),
            "anchors": {k: [list(a) for a in v] for k, v in getattr(self, "anchors_", {}).items()},
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> DualPredictor:
        """The predictor :meth:`to_state_dict` described."""
        predictor = cls(trend=state["trend"], damping=state["damping"], shared=state["shared"])
        if state["last"]:
            predictor._check()
            predictor.last_ = {str(k): float(v) for k, v in state["last"].items()}
            predictor.anchors_ = {
                str(k): [[int(s), float(x)] for s, x in v] for k, v in state["anchors"].items()
            }
        return predictor

    def _own(self, seq: int, name: str) -> float | None:
        last: dict[str, float] = getattr(self, "last_", {})
        if name not in last:
            return None
        anchors = self.anchors_[name]
        if len(anchors) < 2 or self.trend == 0.0:
            return last[name]
        (seq_b, x_b), (seq_a, x_a) = anchors
        ahead = seq - seq_a
        phi = self.damping
        reach = ahead if phi == 1.0 else phi * (1.0 - phi**ahead) / (1.0 - phi)
        line = x_a + (x_a - x_b) / (seq_a - seq_b) * reach
        return (1.0 - self.trend) * last[name] + self.trend * line

    def predict(self, seq: int, name: str, decided: Mapping[str, float]) -> float | None:
        """The prediction of value ``name`` of reading ``seq``; ``None`` if never seen.

        ``decided`` holds the reconstructed values of this reading decided before ``name``.
        """
        own = self._own(seq, name)
        if own is None or self.shared == 0.0:
            return own
        surprises = []
        for other, value in decided.items():
            expected = self._own(seq, other)
            if expected is not None:
                surprises.append(value - expected)
        if not surprises:
            return own
        return own + self.shared * sum(surprises) / len(surprises)

    def update(self, seq: int, values: Mapping[str, float], *, sent: set[str]) -> None:
        """Learn reading ``seq``'s reconstructed ``values``; ``sent`` names those transmitted."""
        if not hasattr(self, "last_"):
            self._check()
            self.last_: dict[str, float] = {}
            self.anchors_: dict[str, list[list[float]]] = {}
        for name, value in values.items():
            self.last_[name] = value
            if name in sent:
                anchors = self.anchors_.setdefault(name, [])
                anchors.append([seq, value])
                del anchors[:-2]
            else:
                self.anchors_.setdefault(name, [])


def _decide(
    predictor: DualPredictor,
    seq: int,
    names: list[str],
    truth: Mapping[str, float] | None,
    sent: Mapping[str, float],
    bounds: Mapping[str, float],
    shift: float,
) -> tuple[dict[str, float], dict[str, float]]:
    """The reconstruction of one reading, and the values to send (the agent passes ``truth``)."""
    decided: dict[str, float] = {}
    send: dict[str, float] = {}
    for name in names:
        guess = predictor.predict(seq, name, decided)
        if guess is not None:
            guess += shift
        if truth is not None:
            value = truth[name]
            if guess is None or abs(guess - value) > bounds[name]:
                send[name] = value
        elif name in sent:
            send[name] = sent[name]
        elif guess is None:
            raise ValueError(
                f"reading {seq}: value {name!r} was never sent, so it has no prediction"
            )
        if name in send:
            decided[name] = send[name]
        elif guess is not None:
            decided[name] = guess
    return decided, send


def _best_shift(
    predictor: DualPredictor, seq: int, truth: Mapping[str, float], bounds: Mapping[str, float]
) -> float:
    """The shift that brings the most values within their bounds, if worth sending; else 0.

    A value's own prediction is within its bound for shifts in an interval; the best shift is
    the middle of the stretch covered by the most intervals (a sweep over their ends). It is
    sent only if it saves at least two values: it costs one number on air itself.
    """
    spans = []
    for name, value in truth.items():
        own = predictor.predict(seq, name, {})
        if own is not None:
            spans.append((value - own - bounds[name], value - own + bounds[name]))
    # at equal positions an interval opens (-1) before another closes (+1): both hold there
    ends = sorted([(lo, -1) for lo, _ in spans] + [(hi, 1) for _, hi in spans])
    covered = best = 0
    shift = 0.0
    for (at, kind), (after, _) in itertools.pairwise(ends):
        covered -= kind
        if covered > best:
            best, shift = covered, (at + after) / 2.0
    unshifted = sum(lo <= 0.0 <= hi for lo, hi in spans)
    return shift if best - unshifted >= 2 else 0.0


def _check_heartbeat(heartbeat_s: float | None, heartbeat_every: int | None) -> None:
    if heartbeat_s is None and heartbeat_every is None:
        raise ValueError(
            "set heartbeat_s or heartbeat_every: without heartbeats a quiet stream "
            "and a dead device look the same"
        )
    if heartbeat_s is not None and not (math.isfinite(heartbeat_s) and heartbeat_s > 0):
        raise ValueError(f"heartbeat_s must be a positive number of seconds, got {heartbeat_s!r}")
    if heartbeat_every is not None and (
        isinstance(heartbeat_every, bool)
        or not isinstance(heartbeat_every, int)
        or heartbeat_every < 1
    ):
        raise ValueError(f"heartbeat_every must be a positive integer, got {heartbeat_every!r}")


class _Saved:
    """Versioned state as a JSON-able dict (edgewise's state format; never pickle)."""

    def to_state(self) -> dict[str, Any]:
        """This object, parameters and learned state, as a JSON-able state document."""
        return {
            "format": STATE_FORMAT,
            "version": STATE_FORMAT_VERSION,
            "state_version": _STATE_VERSION,
            "object": encode(self, where=type(self).__name__),
        }

    @classmethod
    def from_state(cls, document: Mapping[str, Any]) -> Self:
        """The object :meth:`to_state` saved in ``document``; :class:`StateError` if it is not."""
        if (
            document.get("format") != STATE_FORMAT
            or document.get("version") != STATE_FORMAT_VERSION
        ):
            raise StateError(f"not an edgewise state document of version {STATE_FORMAT_VERSION}")
        if document.get("state_version") != _STATE_VERSION:
            raise StateError(
                f"{cls.__name__} state version {document.get('state_version')!r}; "
                f"this edgewise reads version {_STATE_VERSION}"
            )
        obj = decode(document.get("object"))
        if not isinstance(obj, cls):
            raise StateError(f"the state document holds no {cls.__name__}")
        return obj


@state_type
class Suppressor(_Saved):
    """Agent side: decide for each reading whether to send it, and when to send a heartbeat.

    Parameters
    ----------
    bound
        The largest error the hub may make, absolute, per value: one number for all values,
        or one per value name.
    predictor
        The predictor (its parameters; a copy learns). Default: ``DualPredictor()``.
    heartbeat_s
        Send a heartbeat when this much device time passed since the last message.
    heartbeat_every
        Send a heartbeat when this many readings passed since the last message.
    shift
        Whether a reading may carry a shift, one number the hub adds to the prediction of each of
        its values, when that sends at least one number fewer. For values that move together
        and share a unit (the motes of one room, behind a gateway).

    Readings of a stream must have consecutive ``seq`` and always the same value names.

    Examples
    --------
    >>> s = Suppressor(bound=0.5, heartbeat_every=3)
    >>> for seq, temp in enumerate([20.0, 20.1, 20.2, 21.0, 21.1, 21.2, 21.3]):
    ...     print(s.update(seq, 1800.0 * seq, {"temp": temp}))
    {'kind': 'reading', 'seq': 0, 'timestamp': 0.0, 'values': {'temp': 20.0}}
    None
    None
    {'kind': 'reading', 'seq': 3, 'timestamp': 5400.0, 'values': {'temp': 21.0}}
    None
    None
    {'kind': 'heartbeat', 'seq': 6, 'timestamp': 10800.0}
    """

    def __init__(
        self,
        *,
        bound: float | Mapping[str, float],
        predictor: DualPredictor | None = None,
        heartbeat_s: float | None = None,
        heartbeat_every: int | None = None,
        shift: bool = False,
    ) -> None:
        self.bound = bound
        self.predictor = predictor
        self.heartbeat_s = heartbeat_s
        self.heartbeat_every = heartbeat_every
        self.shift = shift

    def _start(self, names: list[str]) -> None:
        _check_heartbeat(self.heartbeat_s, self.heartbeat_every)
        bounds = (
            dict.fromkeys(names, self.bound)
            if isinstance(self.bound, int | float)
            else {name: self.bound.get(name, math.nan) for name in names}
        )
        for name, bound in bounds.items():
            if not (isinstance(bound, int | float) and math.isfinite(bound) and bound >= 0):
                raise ValueError(
                    f"the bound of {name!r} must be a finite number >= 0, got {bound!r}"
                )
        self.bounds_ = {name: float(bound) for name, bound in bounds.items()}
        predictor = self.predictor if self.predictor is not None else DualPredictor()
        self.predictor_ = copy.deepcopy(predictor)
        self.names_ = names
        self.reconstructed_: dict[str, float] = {}

    def update(self, seq: int, timestamp: float, values: Mapping[str, float]) -> Message | None:
        """Take reading ``seq``; return the message to transmit, or ``None`` (suppressed).

        ``reconstructed_`` then holds the values the hub will rebuild for this reading.
        """
        names = sorted(values)
        if not names:
            raise ValueError(f"reading {seq} has no values")
        for name in names:
            value = values[name]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ValueError(
                    f"reading {seq}: value {name!r} must be a finite number, got {value!r}"
                )
        if not hasattr(self, "names_"):
            self._start(names)
        elif names != self.names_:
            raise ValueError(f"reading {seq} has values {names}, the stream has {self.names_}")
        elif seq != self.seq_ + 1:
            raise ValueError(f"reading {seq} follows {self.seq_}: seq must be consecutive")
        truth = {name: float(values[name]) for name in names}
        shift = _best_shift(self.predictor_, seq, truth, self.bounds_) if self.shift else 0.0
        decided, send = _decide(self.predictor_, seq, names, truth, {}, self.bounds_, shift)
        self.predictor_.update(seq, decided, sent=set(send))
        self.reconstructed_ = decided
        self.seq_: int = seq
        self.timestamp_: float = float(timestamp)
        first = not hasattr(self, "sent_seq_")
        if send or shift or first:
            message: Message = {
                "kind": "reading",
                "seq": seq,
                "timestamp": float(timestamp),
                "values": send,
            }
            if shift:
                message["shift"] = shift
            return self._sent(message)
        quiet_s = (
            self.heartbeat_s is not None and timestamp - self.sent_timestamp_ >= self.heartbeat_s
        )
        quiet_n = self.heartbeat_every is not None and seq - self.sent_seq_ >= self.heartbeat_every
        return self.heartbeat() if quiet_s or quiet_n else None

    def heartbeat(self) -> Message | None:
        """A heartbeat covering the last reading (say, at shutdown); ``None`` before any."""
        if not hasattr(self, "seq_"):
            return None
        return self._sent({"kind": "heartbeat", "seq": self.seq_, "timestamp": self.timestamp_})

    def _sent(self, message: Message) -> Message:
        self.sent_seq_: int = message["seq"]
        self.sent_timestamp_: float = message["timestamp"]
        return message


@state_type
class Reconstructor(_Saved):
    """Hub side: rebuild a stream from the messages of its :class:`Suppressor`, and only them.

    Parameters
    ----------
    predictor
        The same predictor parameters as the agent's. Default: ``DualPredictor()``.
    heartbeat_s, heartbeat_every
        The agent's heartbeat settings, to tell a quiet stream from a dead device.

    Examples
    --------
    >>> r = Reconstructor(heartbeat_every=3)
    >>> r.update({"kind": "reading", "seq": 0, "timestamp": 0.0, "values": {"temp": 20.0}})
    [(0, 0.0, {'temp': 20.0})]
    >>> r.update({"kind": "heartbeat", "seq": 2, "timestamp": 3600.0})
    [(1, 1800.0, {'temp': 20.0}), (2, 3600.0, {'temp': 20.0})]
    >>> r.overdue(3600.0 + 3 * 1800.0), r.overdue(3600.0 + 5 * 1800.0)
    (False, True)
    """

    def __init__(
        self,
        *,
        predictor: DualPredictor | None = None,
        heartbeat_s: float | None = None,
        heartbeat_every: int | None = None,
    ) -> None:
        self.predictor = predictor
        self.heartbeat_s = heartbeat_s
        self.heartbeat_every = heartbeat_every

    def update(self, message: Mapping[str, Any]) -> list[tuple[int, float, dict[str, float]]]:
        """Take a message; return ``(seq, timestamp, values)`` of each reading it accounts for."""
        kind, seq, timestamp = message.get("kind"), message.get("seq"), message.get("timestamp")
        if kind not in ("reading", "heartbeat"):
            raise ValueError(f"message kind must be 'reading' or 'heartbeat', got {kind!r}")
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise ValueError(f"message seq must be an integer, got {seq!r}")
        if (
            isinstance(timestamp, bool)
            or not isinstance(timestamp, int | float)
            or not math.isfinite(timestamp)
        ):
            raise ValueError(f"message timestamp must be a finite number, got {timestamp!r}")
        sent: dict[str, float] = {}
        shift: float = 0.0
        if kind == "reading":
            values = message.get("values")
            if not isinstance(values, Mapping) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in values.values()
            ):
                raise ValueError(f"reading {seq}: values must map names to finite numbers")
            sent = {str(name): float(value) for name, value in values.items()}
            moved = message.get("shift", 0.0)
            if isinstance(moved, bool) or not (
                isinstance(moved, int | float) and math.isfinite(moved)
            ):
                raise ValueError(f"reading {seq}: shift must be a finite number, got {moved!r}")
            shift = float(moved)
        if not hasattr(self, "seq_"):
            if not sent:
                raise ValueError(f"{kind} {seq} before any reading: the stream's start was lost")
            _check_heartbeat(self.heartbeat_s, self.heartbeat_every)
            predictor = self.predictor if self.predictor is not None else DualPredictor()
            self.predictor_ = copy.deepcopy(predictor)
            self.names_: list[str] = sorted(sent)
            self.seq_, self.timestamp_, self.period_ = seq - 1, float(timestamp), math.nan
        elif seq <= self.seq_:
            return []  # at-least-once delivery: already accounted for
        else:
            self.period_ = (timestamp - self.timestamp_) / (seq - self.seq_)
        unknown = sorted(set(sent) - set(self.names_))
        if unknown:
            raise ValueError(f"reading {seq} has values {unknown} the stream never had")
        out = []
        for step in range(self.seq_ + 1, seq + 1):
            now = step == seq  # the readings before it were suppressed: nothing sent, no shift
            got, moved = (sent, shift) if now else ({}, 0.0)
            decided, _ = _decide(self.predictor_, step, self.names_, None, got, {}, moved)
            self.predictor_.update(step, decided, sent=set(got))
            when = timestamp if now else self.timestamp_ + (step - self.seq_) * self.period_
            out.append((step, when, decided))
        self.seq_, self.timestamp_ = seq, float(timestamp)
        return out

    def overdue(self, now: float, *, latency_s: float = 0.0) -> bool:
        """Whether the agent missed its heartbeat at ``now`` (device clock): dead, or cut off.

        A quiet agent sends a message at least every heartbeat interval, at its first reading
        after it; ``latency_s`` allows for delivery. Unknown (``False``) until two messages
        have shown the sampling period.
        """
        if not math.isfinite(getattr(self, "period_", math.nan)):
            return False
        limits = []
        if self.heartbeat_s is not None:
            limits.append(self.heartbeat_s + self.period_)
        if self.heartbeat_every is not None:
            limits.append(self.heartbeat_every * self.period_)
        return now - self.timestamp_ > max(limits) + latency_s
