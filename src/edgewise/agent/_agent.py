"""The agent: inputs in, every stream through its pipeline, events and actions, the outbox out.

One worker thread owns the pipelines. It takes what the inputs delivered in small batches
(a few milliseconds' worth), decodes and checks them, runs each reading through its stream's
pipeline, and hands the batch to the writer thread, which stores in one outbox transaction the
readings (with their detection records), the events, and the journal of what the pipelines took;
only then are the messages acknowledged to their senders and the events handed to the actions.
The writer stores batches in the order the worker made them, while the worker goes on with the
next one: the disk's flush overlaps the pipelines' work instead of adding to it.

Checkpoints are per stream and incremental: every ``checkpoint_every_s`` a round begins that
saves each stream changed since its last save (its lane and its summary in progress), a few
milliseconds' worth between two batches, each riding in a batch's transaction with the journal
position it includes; once the round has saved them all, the journal is truncated to where the
round began. A restart loads every stream's saved state and replays, for each stream, the
journal entries after its own position, which ends in the same state with the same sequence
numbers, so replayed records carry the keys they had (the outbox and the hub keep one of each)
and actions already fired do not fire again. Serialising all 1,000 streams at once held the
worker, and every reading behind it, for a quarter of a second.
Inference never waits for the network: the uplink is another thread, reading the outbox.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from edgewise.stream import Pipeline, Reading, StateError, load_state
from edgewise.stream._persist import lane_document, restore_lane
from edgewise.stream._spec import build

from ._config import AgentConfig
from ._decode import Decoded, PayloadError
from ._event import Event, events_of
from ._gate import Gate, StreamRule
from ._inbound import Inbound, Input
from ._mailbox import Mailbox
from ._outbox import DIGEST_SIZE, LaneState, Outbox, OutboxFull, Record
from ._skew import ClockSkew

__all__ = ["Agent", "AgentStats"]

log = logging.getLogger("edgewise.agent")

_BATCH_MESSAGES = 2000  # most messages one outbox transaction takes
_BATCH_WAIT_S = 0.005  # how long a batch waits for company once its first message is in
_QUEUE_SIZE = 20_000  # messages waiting for the worker; a full queue holds back the inputs
_WRITES_AHEAD = 2  # batches made but not yet stored; beyond that the worker waits for the disk
# Digests of the latest messages stored, kept to know one a sender delivers again: a broker
# re-delivers those it had no acknowledgement for (at most its window in flight, 1,000 by
# default) right after a restart, so the latest 50,000 are plenty (about 4 MB in memory).
_DELIVERED_KEEP = 50_000
_CHECKPOINT_SLICE_S = 0.002  # the worker's time for a checkpoint between two batches
_SUMMARIES = "summaries"  # a checkpoint entry of outboxes before per-stream checkpoints
_PUSHED = "pushed"  # the checkpoint entry of the pipelines the hub assigned


@dataclass
class _Window:
    """One stream's summary in progress: per input min, sum, max, count; top score; abnormal."""

    start: float
    inputs: dict[str, list[float]] = field(default_factory=dict)
    max_score: float = 0.0
    abnormal: int = 0

    def add(self, reading: Reading) -> None:
        for name, value in reading.values.items():
            if math.isnan(value):
                continue
            acc = self.inputs.get(name)
            if acc is None:
                self.inputs[name] = [value, value, value, 1.0]
            else:
                acc[0] = min(acc[0], value)
                acc[1] += value
                acc[2] = max(acc[2], value)
                acc[3] += 1.0
        for d in reading.detections:
            self.max_score = max(self.max_score, d.score)
            self.abnormal += d.is_anomaly

    def saved(self) -> str:
        """The window as a checkpoint holds it (:meth:`restored` reads it back)."""
        return json.dumps(
            {
                "start": self.start,
                "inputs": self.inputs,
                "max_score": self.max_score,
                "abnormal": self.abnormal,
            }
        )

    @classmethod
    def restored(cls, saved: Mapping[str, Any]) -> _Window:
        return cls(saved["start"], saved["inputs"], saved["max_score"], saved["abnormal"])

    def body(self, window_s: float) -> dict[str, Any]:
        return {
            "window_s": window_s,
            "inputs": {
                k: {"min": a[0], "mean": a[1] / a[3], "max": a[2], "count": int(a[3])}
                for k, a in self.inputs.items()
            },
            "max_score": self.max_score,
            "abnormal": self.abnormal,
        }


class _Route(NamedTuple):
    """Where a stream's readings go: its pipeline (and that pipeline's name), whether its
    readings go to the hub, the device its records name."""

    name: str
    pipeline: Pipeline
    send_readings: bool
    device: str


@dataclass
class AgentStats:
    """What the agent counted since it started (the metrics read these)."""

    messages: int = 0
    readings: int = 0
    detections: int = 0
    events: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    replayed: int = 0  # readings and commands replayed from the journal after a restart
    held_back: int = 0  # batches kept in memory while the outbox was full
    checkpoints: int = 0
    lanes_saved: int = 0  # streams' states serialised for checkpoints

    def reject(self, kind: str, n: int = 1) -> None:
        self.rejected[kind] = self.rejected.get(kind, 0) + n


@dataclass
class _Batch:
    """Everything one outbox transaction holds, and what to do once it is durable."""

    records: list[Record] = field(default_factory=list)
    journal: list[str] = field(default_factory=list)
    taken: list[tuple[str, float, float | None, Mapping[str, float]]] = field(default_factory=list)
    acks: list[Callable[[], None]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    digests: list[bytes] = field(default_factory=list)
    applied: dict[int, str | None] = field(default_factory=dict)  # command: None or why refused
    upstream: bool = False
    # A checkpoint's share: streams' states as of this batch's end; whether a round begins here
    # (the journal's end before this batch is where it will truncate); whether it ends here,
    # with what is saved beside the streams.
    lanes: list[LaneState] = field(default_factory=list)
    begins_round: bool = False
    ends_round: dict[str, bytes] | None = None


class Agent:
    """Run a configuration: ``start()``, then ``stop()`` (flush, checkpoint); ``reload(config)``.

    ``decode(inbound) -> Decoded`` turns payloads into readings (raising
    :class:`~edgewise.agent.PayloadError` for a payload with nothing readable); ``on_event``
    receives every new event after it is durable (the local actions); ``inputs`` overrides the
    inputs the configuration names (tests, benchmarks).
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        decode: Callable[[Inbound], Decoded] | None = None,
        on_event: Callable[[Event], None] | None = None,
        inputs: list[Input] | None = None,
    ) -> None:
        self.config = config
        self.device = config.device.id
        self.decode = decode
        self.on_event = on_event
        self.stats = AgentStats()
        self.outbox = Outbox(
            Path(config.storage.dir) / "outbox.db",
            max_bytes=int(config.storage.max_outbox_mb * 2**20),
        )
        self.inputs: list[Input] = inputs if inputs is not None else []
        self._inbox: Mailbox[Inbound] = Mailbox(capacity=_QUEUE_SIZE)
        self._commands: queue.Queue[Mapping[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writes: queue.Queue[_Batch | None] = queue.Queue(_WRITES_AHEAD)
        self._writer: threading.Thread | None = None
        self._unstored: list[_Batch] = []  # batches the outbox had no room for when work stopped
        self._applying: set[int] = set()  # commands applied whose batch is not yet stored
        self._pipelines: dict[str, Pipeline] = {}
        # Pipelines the hub assigned (``pipeline`` commands), oldest first: name -> (glob, spec).
        # They take the streams their glob matches from the configuration's pipelines.
        self._pushed: dict[str, tuple[str, dict[str, Any]]] = {}
        self._route: dict[str, _Route | None] = {}
        self._windows: dict[str, _Window] = {}
        self._delivered: set[bytes] = set()
        self._delivered_order: collections.deque[bytes] = collections.deque()
        self._last_checkpoint = time.monotonic()
        self._dirty: set[str] = set()  # streams changed since their last save (the worker's)
        self._round: list[str] | None = None  # streams the checkpoint in progress has yet to save
        self._round_start = 0  # where that checkpoint will truncate the journal (the writer's)
        self._round_specs: dict[str, dict[str, Any]] = {}  # the pipelines' specs, for its lanes
        self.gate = _gate(config)
        self.clocks = ClockSkew(config.device_of)
        self.ready = threading.Event()

    def rejected(self) -> dict[str, int]:
        """Input turned away so far, by kind (decoding, the gate, redeliveries)."""
        counts = dict(self.gate.counts)
        for kind, n in self.stats.rejected.items():
            counts[kind] = counts.get(kind, 0) + n
        return counts

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Restore the last checkpoint, replay the journal, start the worker and the inputs."""
        self._restore()
        self._start_threads()
        self.ready.set()

    def _start_threads(self) -> None:
        self._writer = threading.Thread(target=self._write, name="agent-writer", daemon=True)
        self._writer.start()
        self._thread = threading.Thread(target=self._work, name="agent-worker", daemon=True)
        self._thread.start()
        for source in self.inputs:
            source.start(self.deliver)

    def deliver(self, inbound: Inbound) -> None:
        """Where inputs put their messages (blocks while the worker is far behind)."""
        self._inbox.put(inbound)

    def command(self, command: Mapping[str, Any]) -> bool:
        """Take a command from the hub (any thread); it is applied by the worker, exactly once."""
        self._commands.put(command)
        return True

    def stop(self) -> None:
        """Stop the inputs, process what they delivered, checkpoint (the outbox stays open)."""
        for source in self.inputs:
            source.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._writer is not None:
            self._writes.put(None)
            self._writer.join()
            self._writer = None
        if not self._unstored:  # else the pipelines are ahead of the outbox: keep the checkpoint
            self._checkpoint_now()

    def close(self) -> None:
        """Close the outbox (after :meth:`stop`, and after the uplink's last use of it)."""
        self.outbox.close()

    def reload(self, config: AgentConfig, inputs: list[Input]) -> None:
        """Take a new configuration and its ``inputs`` without losing state: streams keep their
        lanes when their pipeline's spec is unchanged; a changed spec starts its streams afresh."""
        self.stop()
        self.inputs = inputs
        self.config = config
        specs = self._specs()
        kept = {
            name: pipeline
            for name, pipeline in self._pipelines.items()
            if name in specs and pipeline.to_spec() == Pipeline.from_spec(specs[name]).to_spec()
        }
        moving = self._next_seqs(self._pipelines.values())  # streams may change pipeline
        self.gate = _gate(config)
        self.clocks.remap(config.device_of, {entry.clock for entry in config.streams})
        self._pipelines = kept
        self._route.clear()
        self._continue(moving)
        if not self._unstored:  # the streams' new lanes, saved before any reading reaches them
            self._checkpoint_now()
        self._stop.clear()
        self._start_threads()

    # -- restore ------------------------------------------------------------------------------

    def _restore(self) -> None:
        states = self.outbox.last_checkpoint()
        if _PUSHED in states:
            self._pushed = {
                p["name"]: (p["streams"], p["spec"]) for p in json.loads(states[_PUSHED])
            }
        whole = self._restore_whole_pipelines(states)
        positions = self._restore_lanes()
        for digest in self.outbox.delivered():
            self._remember_delivery(digest)
        for position, entry in self.outbox.journal():
            batch = _Batch()
            self.stats.replayed += self._replay(
                json.loads(entry), batch, position=position, saved=positions
            )
            self._store(batch, journal=False)
        if self.stats.replayed:
            log.info("replayed %d readings and commands onto the checkpoint", self.stats.replayed)
        if whole:  # saved again stream by stream, so the old rows can go
            self._dirty.update(stream for p in self._pipelines.values() for stream in p.streams)
            self._dirty.update(self._windows)
            self._checkpoint_now()

    def _restore_whole_pipelines(self, states: Mapping[str, bytes]) -> bool:
        """Pipelines and summaries saved whole, by an agent before per-stream checkpoints;
        whether there were any."""
        whole = False
        for name, spec in self._specs().items():
            state = states.get(name)
            if state is None:
                continue
            whole = True
            try:
                step, _meta = load_state(state)
            except StateError as error:
                log.warning("pipeline %s: its checkpoint is not used: %s", name, error)
                continue
            fresh = build(spec)
            if isinstance(step, Pipeline) and step.to_spec() == fresh.to_spec():
                self._pipelines[name] = step
            else:
                log.warning(
                    "pipeline %s changed since the checkpoint: its streams start afresh", name
                )
        windows = states.get(_SUMMARIES)
        if windows is not None:
            whole = True
            for stream, saved in json.loads(windows).items():
                self._windows[stream] = _Window.restored(saved)
        return whole

    def _restore_lanes(self) -> dict[str, int]:
        """Every stream's saved state; the journal position each includes."""
        positions: dict[str, int] = {}
        specs: dict[str, dict[str, Any]] = {}
        for saved in self.outbox.saved_lanes():
            lane = saved.lane
            pipeline = self._pipeline_named(lane.pipeline)
            if pipeline is None:
                log.warning(
                    "stream %s: its pipeline %s is no longer configured: it starts afresh",
                    lane.stream,
                    lane.pipeline,
                )
                continue
            spec = specs.get(lane.pipeline)
            if spec is None:
                spec = specs[lane.pipeline] = pipeline.to_spec()
            try:
                restored = restore_lane(pipeline, lane.stream, lane.state, spec=spec)
            except StateError as error:
                log.warning("stream %s: its checkpoint is not used: %s", lane.stream, error)
                continue
            pipeline._lanes().active[lane.stream] = restored
            if lane.summary is not None:
                self._windows[lane.stream] = _Window.restored(json.loads(lane.summary))
            positions[lane.stream] = saved.journal_id
        return positions

    def _replay(self, entry: Any, batch: _Batch, *, position: int, saved: Mapping[str, int]) -> int:
        """Apply journal entry ``position`` again to the streams whose saved state (as of
        ``saved``, by stream) does not hold it; how many readings and commands it applied."""

        def due(stream: str) -> bool:
            return position > saved.get(stream, 0)

        if isinstance(entry, list):  # the readings one batch took: [stream, time, received, values]
            n = 0
            for stream, timestamp, received, values in entry:
                if due(stream):
                    self._process(Reading(stream, timestamp, values, received=received), batch)
                    n += 1
            return n
        if "relearn" in entry:
            if not due(entry["relearn"]):
                return 0
            self._relearn(entry["relearn"], entry["command"], batch)
        elif "pipeline" in entry:  # journals before per-stream checkpoints hold assignments
            self._assign(entry["pipeline"], entry["streams"], entry["spec"])
        elif due(entry["s"]):  # one reading, as journals written before 2026-11-27 hold them
            self._process(Reading(entry["s"], entry["t"], entry["v"], received=entry["r"]), batch)
        else:
            return 0
        return 1

    # -- the worker ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            self._apply_commands()
            messages = self._take()
            batch = _Batch()
            for message in messages:
                self._accept(message, batch)
            if not messages and self._stop.is_set():
                return
            if (
                self._round is None
                and time.monotonic() - self._last_checkpoint
                >= self.config.storage.checkpoint_every_s
            ):
                self._round = list(self._dirty)
                self._round_specs.clear()
                batch.begins_round = True
                self._last_checkpoint = time.monotonic()
            if self._round is not None:
                self._checkpoint_slice(batch, self._round)
            if messages or batch.lanes or batch.begins_round or batch.ends_round is not None:
                self._writes.put(batch)

    def _write(self) -> None:
        """Store the worker's batches in order; with the outbox full, retry until there is room
        (nothing is acknowledged meanwhile, and the worker soon waits) or the agent stops."""
        pending = self._unstored
        self._unstored = []
        while True:
            batch = pending.pop(0) if pending else self._writes.get()
            if batch is None:
                return
            if self._unstored:  # an earlier batch is not stored: later ones wait behind it
                self._unstored.append(batch)
                continue
            held = False
            while not self._store(batch, journal=True):
                if not held:
                    held = True
                    self.stats.held_back += 1
                if self._stop.wait(0.2):  # kept for a reload; a restart gets it from the sender
                    self._unstored.append(batch)
                    break

    def _take(self) -> list[Inbound]:
        return self._inbox.take(most=_BATCH_MESSAGES, wait_s=0.05, gather_s=_BATCH_WAIT_S)

    def _accept(self, message: Inbound, batch: _Batch) -> None:
        self.stats.messages += 1
        if message.ack is not None:
            batch.acks.append(message.ack)
        batch.upstream |= message.upstream_copy
        if isinstance(message.payload, list):
            readings = self.gate.admit(message.payload)
        else:
            digest = hashlib.blake2b(
                message.topic.encode() + b"\0" + message.payload, digest_size=DIGEST_SIZE
            ).digest()
            if digest in self._delivered:  # delivered again after a crash: stored already
                self.stats.reject("redelivered")
                return
            self._remember_delivery(digest)
            batch.digests.append(digest)
            if self.decode is None:
                self.stats.reject("no_decoder")
                return
            try:
                decoded = self.decode(message)
            except PayloadError as error:
                self.gate.reject(error)
                return
            for bad in decoded.errors:
                self.gate.reject(bad)
            readings = self.gate.admit(decoded.readings, decoded.units)
        for reading in readings:
            self._process(reading, batch)

    def _remember_delivery(self, digest: bytes) -> None:
        self._delivered.add(digest)
        self._delivered_order.append(digest)
        if len(self._delivered_order) > _DELIVERED_KEEP:
            self._delivered.discard(self._delivered_order.popleft())

    def _pipeline_of(self, stream: str) -> _Route | None:
        """The stream's pipeline, whether its readings go to the hub, the device records name."""
        if stream in self._route:
            return self._route[stream]
        entry = self.config.stream_config(stream)
        route: _Route | None = None
        if entry is not None:
            name = next(
                (n for n, (glob, _) in reversed(self._pushed.items()) if fnmatchcase(stream, glob)),
                entry.pipeline,
            )
            pipeline = self._pipeline_named(name)
            assert pipeline is not None  # the configuration checks the names its streams use
            # An agent fronting several devices: each stream's records name the one it is of.
            route = _Route(name, pipeline, entry.send_readings, entry.device or self.device)
        self._route[stream] = route
        return route

    def _pipeline_named(self, name: str) -> Pipeline | None:
        """The pipeline ``name`` (built on first use), or ``None`` if no spec has that name."""
        pipeline = self._pipelines.get(name)
        if pipeline is None:
            spec = self._specs().get(name)
            if spec is None:
                return None
            pipeline = self._pipelines[name] = Pipeline.from_spec(spec)
        return pipeline

    def _process(self, reading: Reading, batch: _Batch) -> None:
        route = self._pipeline_of(reading.stream)
        if route is None:
            self.stats.reject("unknown_stream")
            return
        _, pipeline, send_readings, device = route
        self._dirty.add(reading.stream)
        batch.taken.append((reading.stream, reading.timestamp, reading.received, reading.values))
        if reading.received is not None:
            self.clocks.add(reading.stream, reading.received, reading.timestamp)
        self.stats.readings += 1
        for out in pipeline.update(reading):
            self._emit(out, batch, send_readings, device)

    def _emit(self, out: Reading, batch: _Batch, send_readings: bool, device: str) -> None:
        assert out.seq is not None  # a pipeline numbers every reading it emits
        self.stats.detections += len(out.detections)
        if send_readings:
            batch.records.append(
                Record(
                    device,
                    out.stream,
                    "reading",
                    out.seq,
                    "",
                    out.timestamp,
                    out.received,
                    {
                        "values": {
                            k: (None if math.isnan(v) else v) for k, v in out.values.items()
                        },
                        "flags": out.flags,
                        "detections": [_detection_body(d) for d in out.detections],
                    },
                )
            )
        for detection in out.detections:
            for event in events_of(device, detection):
                batch.events.append(event)
                batch.records.append(
                    Record(
                        device,
                        event.stream,
                        "event",
                        event.seq,
                        event.name,
                        event.timestamp,
                        out.received,
                        {
                            "score": event.score,
                            "explanation": event.explanation,
                            "detector": event.detector,
                            "model_version": event.model_version,
                        },
                    )
                )
        self._summarise(out, batch, device)

    def _summarise(self, out: Reading, batch: _Batch, device: str) -> None:
        window_s = self.config.summaries.window_s
        start = math.floor(out.timestamp / window_s) * window_s
        window = self._windows.get(out.stream)
        if window is not None and window.start != start:
            batch.records.append(
                Record(
                    device,
                    out.stream,
                    "summary",
                    round(window.start * 1000),
                    "",
                    window.start,
                    None,
                    window.body(window_s),
                )
            )
            window = None
        if window is None:
            window = self._windows[out.stream] = _Window(start)
        window.add(out)

    def _store(self, batch: _Batch, *, journal: bool) -> bool:
        if batch.begins_round:  # every stream changed since this point is saved by its end
            self._round_start = self.outbox.journal_end()
        entries: list[str] = []
        if journal:  # a replay stores what the journal holds already
            entries = batch.journal
            if batch.taken:  # one entry for all the readings: a row each cost as much again
                entries = [*entries, orjson.dumps(batch.taken).decode()]
        try:
            self.outbox.put(
                batch.records,
                journal=entries,
                upstream=batch.upstream,
                applied=batch.applied,
                delivered=batch.digests,
                lanes=batch.lanes,
                checkpoint=batch.ends_round,
                truncate=None if batch.ends_round is None else self._round_start,
            )
        except OutboxFull as error:
            if self.stats.held_back in (0, 1) or self.stats.held_back % 100 == 0:
                log.warning("outbox full, holding %d messages back: %s", len(batch.acks), error)
            return False
        self._applying.difference_update(batch.applied)
        if batch.ends_round is not None:
            self.stats.checkpoints += 1
            try:
                self.outbox.forget_delivered(keep=_DELIVERED_KEEP)
            except OutboxFull:
                # The disk filled since the checkpoint: the digests are forgotten at the next one.
                # Raised here it would end the writer, and with it every acknowledgement.
                log.warning("old message digests kept until the next checkpoint: the disk is full")
        for ack in batch.acks:
            ack()
        self.stats.events += len(batch.events)
        if self.on_event is not None:
            for event in batch.events:
                self.on_event(event)
        return True

    # -- commands from the hub -----------------------------------------------------------------

    def _apply_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            ident = command.get("id")
            if not isinstance(ident, int) or ident in self._applying or self.outbox.applied(ident):
                continue
            self._applying.add(ident)
            kind = command.get("kind")
            batch = _Batch(applied={ident: None})
            if kind == "relearn" and isinstance(command.get("stream"), str):
                self._relearn(command["stream"], ident, batch)
                batch.journal.append(json.dumps({"relearn": command["stream"], "command": ident}))
            elif kind == "pipeline":
                batch.applied[ident] = self._pipeline_command(ident, command.get("body"), batch)
            else:
                log.warning("command %s of kind %r is not known to this agent", ident, kind)
                batch.applied[ident] = f"this agent does not know commands of kind {kind!r}"
            self._writes.put(batch)

    def _pipeline_command(self, command: int, body: Any, batch: _Batch) -> str | None:
        """Check and apply the hub's pipeline assignment; why it was refused, or None."""
        if not (
            isinstance(body, dict)
            and isinstance(body.get("streams"), str)
            and isinstance(body.get("spec"), dict)
        ):
            return 'a pipeline command has the body {"spec": {...}, "streams": "<glob>"}'
        try:
            build(body["spec"])
        except Exception as error:  # any failure to build is the spec's fault, reported back
            log.warning("pipeline order %d refused: %s", command, error)
            return f"the pipeline spec does not build: {error}"
        name = f"hub-command-{command}"
        self._assign(name, body["streams"], body["spec"])
        # Streams changed pipeline: the whole checkpoint goes with the command's transaction (a
        # rare stall), so no stream's saved state predates the assignment it follows.
        self._checkpoint_all(batch)
        log.info("streams %s now run pipeline %s (command %d)", body["streams"], name, command)
        return None

    def _assign(self, name: str, streams: str, spec: dict[str, Any]) -> None:
        """Let pipeline ``name`` (``spec``) take the streams matching ``streams``; they start
        afresh in it. An earlier assignment of the same glob is dropped with its pipeline."""
        moving = {
            stream: seq
            for stream, seq in self._next_seqs(self._pipelines.values()).items()
            if fnmatchcase(stream, streams)
        }
        for old in [n for n, (glob, _) in self._pushed.items() if glob == streams]:
            del self._pushed[old]
            self._pipelines.pop(old, None)
        self._pushed[name] = (streams, spec)
        self._route.clear()
        self._continue(moving)

    @staticmethod
    def _next_seqs(pipelines: Iterable[Pipeline]) -> dict[str, int]:
        """The next sequence number of every stream these pipelines hold."""
        seqs: dict[str, int] = {}
        for pipeline in pipelines:
            for stream in pipeline.streams:
                seqs[stream] = max(seqs.get(stream, 0), pipeline.lane(stream).next_seq_)
        return seqs

    def _continue(self, seqs: Mapping[str, int]) -> None:
        """Streams that change pipeline keep counting where they were: a stream that started
        again at 0 would reuse the keys of records stored already (and be dropped as their
        duplicates). Their lanes are made now, so a checkpoint before their next reading
        holds the numbers too."""
        for stream, seq in seqs.items():
            route = self._pipeline_of(stream)
            if route is not None:
                lane = route.pipeline.lane(stream)
                lane.next_seq_ = max(lane.next_seq_, seq)
                self._dirty.add(stream)

    def _specs(self) -> dict[str, dict[str, Any]]:
        """Every pipeline's spec by name: the configuration's, then the hub's assignments."""
        specs = {name: spec.model_dump() for name, spec in self.config.pipelines.items()}
        specs.update((name, spec) for name, (_, spec) in self._pushed.items())
        return specs

    def _relearn(self, stream: str, command: int, batch: _Batch) -> None:
        route = self._pipeline_of(stream)
        if route is None:
            log.warning(
                "relearn order %d names stream %r, which no pipeline serves", command, stream
            )
            return
        lane = route.pipeline.lane(stream)
        self._dirty.add(stream)
        for step in lane.steps:
            relearn = getattr(step, "relearn", None)
            if relearn is not None:
                relearn()
        log.info("stream %s relearns its normal (command %d)", stream, command)

    # -- checkpoints --------------------------------------------------------------------------

    def _checkpoint_slice(self, batch: _Batch, streams: list[str]) -> None:
        """Save streams of the round in progress into ``batch`` for a couple of milliseconds
        (at least one, so that a round always ends); end the round with the last of them."""
        deadline = time.perf_counter() + _CHECKPOINT_SLICE_S
        while streams:
            self._save_lane(streams.pop(), batch)
            if time.perf_counter() >= deadline:
                break
        if not streams:
            batch.ends_round = self._beside_lanes()
            self._round = None

    def _checkpoint_all(self, batch: _Batch) -> None:
        """Save every stream changed since its last save into ``batch``, as a whole round."""
        self._round_specs.clear()
        for stream in list(self._dirty):
            self._save_lane(stream, batch)
        batch.begins_round = True
        batch.ends_round = self._beside_lanes()
        self._round = None  # a round in progress is complete now
        self._last_checkpoint = time.monotonic()

    def _checkpoint_now(self) -> None:
        """A whole checkpoint, stored at once (the worker and the writer are not running)."""
        batch = _Batch()
        self._checkpoint_all(batch)
        if not self._store(batch, journal=True):
            log.warning("checkpoint postponed (the journal keeps growing until one fits)")

    def _save_lane(self, stream: str, batch: _Batch) -> None:
        """Put ``stream``'s state (lane and summary) in ``batch``, if it changed since saved."""
        if stream not in self._dirty:
            return  # saved since the round began
        self._dirty.discard(stream)
        route = self._route.get(stream) or self._pipeline_of(stream)
        lane = None if route is None else route.pipeline._lanes().active.get(stream)
        if route is None or lane is None:
            return
        spec = self._round_specs.get(route.name)
        if spec is None:  # costs more than a lane: once a round
            spec = self._round_specs[route.name] = route.pipeline.to_spec()
        window = self._windows.get(stream)
        batch.lanes.append(
            LaneState(
                stream,
                route.name,
                # JSON: half the time of npz for a lane's few small arrays.
                lane_document(route.pipeline, lane, spec=spec, kind="json"),
                None if window is None else window.saved(),
            )
        )
        self.stats.lanes_saved += 1

    def _beside_lanes(self) -> dict[str, bytes]:
        """What a checkpoint saves beside the streams: the pipelines the hub assigned."""
        return {
            _PUSHED: json.dumps(
                [
                    {"name": n, "streams": glob, "spec": spec}
                    for n, (glob, spec) in self._pushed.items()
                ]
            ).encode()
        }


def _gate(config: AgentConfig) -> Gate:
    return Gate([StreamRule(entry.match, entry.units) for entry in config.streams])


def _detection_body(d: Any) -> dict[str, Any]:
    return {
        "stream": d.stream,
        "seq": d.seq,
        "timestamp": d.timestamp,
        "score": d.score,
        "is_anomaly": d.is_anomaly,
        "alarm": d.alarm,
        "explanation": None if d.explanation is None else str(d.explanation),
        "detector": d.detector,
        "model_version": d.model_version,
        "events": list(d.events),
    }
