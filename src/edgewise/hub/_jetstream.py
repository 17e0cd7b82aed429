"""What the MQTT bridge and the hub's workers share in NATS JetStream: streams, subjects, ids.

Records travel as the JSON of a :class:`WireRecord` on ``edgewise.records``, in a work-queue
stream (a message is gone once a worker acknowledges it). Each carries a ``Nats-Msg-Id``
derived from the record's idempotency key, so JetStream drops a republished record inside its
duplicate window, and the database's unique key absorbs what comes after the window.
Messages the hub will never store go to ``edgewise.dead`` (see ``docs/scaling.md``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, PubAck, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from edgewise.agent._uplink import _worth_logging
from edgewise.agent.inputs._backoff import Backoff

from ._store import RecordKey

__all__ = [
    "CONSUMER",
    "DEAD_STREAM",
    "DEAD_SUBJECT",
    "RECORDS_STREAM",
    "RECORDS_SUBJECT",
    "Outgoing",
    "dead_letter",
    "ensure_streams",
    "msg_id",
    "publish_all",
    "publish_until_stored",
    "read_dead_letters",
]

RECORDS_STREAM, RECORDS_SUBJECT = "EDGEWISE_RECORDS", "edgewise.records"
DEAD_STREAM, DEAD_SUBJECT = "EDGEWISE_DEAD", "edgewise.dead"
CONSUMER = "edgewise-hub"
"""The one durable pull consumer every hub worker fetches from."""

DUPLICATE_WINDOW_S = 120.0  # JetStream's default, stated so both sides agree on it
DEAD_KEPT = 100_000  # the newest dead letters kept; older ones are forgotten
_PUBLISH_TIMEOUT_S = 5.0

Outgoing = tuple[str, bytes, str]
"""A message to publish: subject, payload, ``Nats-Msg-Id``."""

log = logging.getLogger("edgewise.hub.jetstream")


def msg_id(key: RecordKey) -> str:
    """The ``Nats-Msg-Id`` of the record with ``key``: the same for every copy of it.

    >>> key = RecordKey("press-7", "pump-1", "reading", 41, "")
    >>> msg_id(key)[:16], len(msg_id(key))
    ('03972db705bf8171', 64)
    """
    return hashlib.sha256(json.dumps(list(key)).encode()).hexdigest()


async def ensure_streams(js: JetStreamContext) -> None:
    """Create the two streams where they are missing; existing ones are left as they are, so
    an operator may make them first with other settings (replicas in a cluster, limits)."""
    # DiscardPolicy.NEW: a full records stream refuses new messages, so the bridge holds its
    # MQTT acknowledgements (backpressure) rather than JetStream dropping stored records.
    wanted = [
        StreamConfig(
            name=RECORDS_STREAM,
            subjects=[RECORDS_SUBJECT],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,
            duplicate_window=DUPLICATE_WINDOW_S,
        ),
        StreamConfig(
            name=DEAD_STREAM,
            subjects=[DEAD_SUBJECT],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_msgs=DEAD_KEPT,
            duplicate_window=DUPLICATE_WINDOW_S,
        ),
    ]
    for config in wanted:
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            # Two processes may both get here: the same configuration twice is no error.
            await js.add_stream(config)


async def publish_until_stored(
    js: JetStreamContext, subject: str, payload: bytes, ident: str
) -> bool:
    """Publish until JetStream acknowledges it; whether it was new (not a duplicate).

    A failure (no stream, stream full, a timeout) is retried with backoff for as long as it
    lasts: the sender holds its own acknowledgement meanwhile, so nothing is lost.
    """
    backoff = Backoff(first=0.1, most=5.0)
    failures = 0
    while True:
        try:
            ack = await js.publish(subject, payload, headers={"Nats-Msg-Id": ident})
        except NatsError as error:  # JetStream's errors are NATS errors too
            failures += 1
            if _worth_logging(failures):
                log.warning("publish to %s failed %d time(s): %r", subject, failures, error)
            await asyncio.sleep(backoff.next())
            continue
        return not ack.duplicate


def _acknowledged(answer: asyncio.Future[PubAck] | None) -> PubAck | None:
    """JetStream's acknowledgement, or None (cancelling the wait) if there is none yet."""
    if answer is None:
        return None
    if answer.done() and not answer.cancelled() and answer.exception() is None:
        return answer.result()
    answer.cancel()  # a late answer is ignored: the message goes again
    return None


async def publish_all(js: JetStreamContext, messages: Sequence[Outgoing]) -> list[bool]:
    """Publish every message, pipelined; whether each was new (not a duplicate).

    All go out before any acknowledgement is awaited (about half the time of one request at a
    time); a message whose first try fails, or is unanswered in 5 s, is retried alone until
    stored.
    """
    pending: list[asyncio.Future[PubAck] | None] = []
    for subject, payload, ident in messages:
        try:
            sent = await js.publish_async(subject, payload, headers={"Nats-Msg-Id": ident})
        except NatsError:
            pending.append(None)
        else:
            pending.append(sent)
    futures = [f for f in pending if f is not None]
    if futures:
        await asyncio.wait(futures, timeout=_PUBLISH_TIMEOUT_S)
    fresh = []
    for (subject, payload, ident), answer in zip(messages, pending, strict=True):
        ack = _acknowledged(answer)
        if ack is None:
            fresh.append(await publish_until_stored(js, subject, payload, ident))
        else:
            fresh.append(not ack.duplicate)
    return fresh


async def dead_letter(js: JetStreamContext, letter: dict[str, Any], ident: str) -> None:
    """Keep ``letter`` (what was refused and its ``reason``) in the dead-letter stream."""
    body = json.dumps({**letter, "at": time.time()}).encode()
    await publish_until_stored(js, DEAD_SUBJECT, body, f"dead:{ident}")


async def read_dead_letters(js: JetStreamContext, *, last: int) -> list[dict[str, Any]]:
    """The newest ``last`` dead letters, oldest first."""
    state = (await js.stream_info(DEAD_STREAM)).state
    letters: list[dict[str, Any]] = []
    if not state.messages:
        return letters
    for seq in range(max(state.first_seq, state.last_seq - last + 1), state.last_seq + 1):
        try:
            stored = await js.get_msg(DEAD_STREAM, seq)
        except NotFoundError:  # forgotten since (the stream keeps the newest only)
            continue
        letters.append(json.loads(stored.data or b"null"))
    return letters
