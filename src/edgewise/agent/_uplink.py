"""The uplink: batches from the outbox to the hub over HTTPS, at least once, in order.

Each batch is the outbox's next records (events, then summaries, then readings; oldest first
within each), gzip-compressed, sent with the agent's bearer token. The hub stores a batch in one
transaction and answers only after it commits; the records are deleted from the outbox only then.
A lost answer makes the agent send the batch again, and the hub's idempotency keys store each
record once. Failures back off exponentially with full jitter on the monotonic clock; 413 halves
the batch; 429 and 503 are retried after their ``Retry-After``. The hub's answer carries its
commands for the agent (``docs/protocol.md``).

A record the hub refuses for good must not hold back every record after it: the ones a 422
names, and a single record too large for a 413, move to the outbox's dead letters, kept and
counted, and the rest is sent at once. 401 and 403 drop nothing: the agent is not (or no longer)
allowed in, which an operator mends; it keeps trying, logs errors, and says so in ``/healthz``.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ._config import UplinkConfig
from ._outbox import Outbox, OutboxFull, Stored

__all__ = ["PROTOCOL_VERSION", "Uplink"]

PROTOCOL_VERSION = 1
log = logging.getLogger("edgewise.agent.uplink")

Command = Mapping[str, Any]


class Uplink:
    """Send the outbox to the hub until stopped; hand the hub's commands to ``on_command``.

    ``on_command(command) -> bool`` applies a command durably and returns whether it was
    applied (or had been already); applied commands are acknowledged in the next request.
    ``transport`` is httpx's seam: tests pass one instead of patching anything.
    """

    def __init__(
        self,
        config: UplinkConfig,
        *,
        agent: str,
        outbox: Outbox,
        on_command: Callable[[Command], bool],
        transport: httpx.BaseTransport | None = None,
        seed: int = 0,
    ) -> None:
        self.config = config
        self.agent = agent
        self.outbox = outbox
        self.on_command = on_command
        self._token = config.token.reveal()
        self._client = httpx.Client(
            base_url=config.url,
            timeout=config.timeout_s,
            transport=transport,
            # An SSL context, not a path: httpx deprecates ``verify=<path>``.
            verify=config.trust() or True,
        )
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.batch_records = config.batch_records
        self.failures = 0
        self.counts: dict[str, int] = {
            "sent": 0,
            "batches": 0,
            "errors": 0,
            "throttled": 0,
            "unauthorised": 0,
            "dead_letters": 0,
        }
        self.last_success: float | None = None  # monotonic
        self.unauthorised = False  # the hub's last answer was 401 or 403
        self._refusals = 0  # answers that set records aside, for rate-limited logs

    # -- one exchange -------------------------------------------------------------------------

    def send_once(self) -> float:
        """Send one batch (or poll); the seconds to wait before the next exchange."""
        batch = self.outbox.peek(limit=self.batch_records, max_bytes=self.config.batch_bytes)
        acked = self.outbox.unacked_commands()
        body = (
            f'{{"version":{PROTOCOL_VERSION},"agent":{json.dumps(self.agent)},'
            f'"acked_commands":{json.dumps(acked)},'
            f'"records":[{",".join(s.wire for s in batch)}]}}'
        ).encode()
        try:
            response = self._client.post(
                "/api/v1/ingest",
                content=gzip.compress(body, compresslevel=5),
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                },
            )
        except httpx.HTTPError as error:
            return self._failed(f"{type(error).__name__}: {error}")
        status = response.status_code
        if status == 200:
            try:
                self.outbox.delete([s.id for s in batch])
                if acked:
                    self.outbox.commands_acked(
                        [a if isinstance(a, int) else a["id"] for a in acked]
                    )
            except OutboxFull as error:  # the hub has them; they will be sent again, kept once
                return self._failed(f"stored by the hub, not yet forgotten here: {error}")
            self._applied(response)
            self.failures = 0
            self.unauthorised = False
            self.last_success = time.monotonic()
            self.counts["sent"] += len(batch)
            self.counts["batches"] += 1
            self.batch_records = min(self.config.batch_records, self.batch_records * 2)
            full = len(batch) >= self.batch_records // 2
            return 0.0 if full else self.config.interval_s
        if status == 413 and len(batch) > 1:
            self.batch_records = max(1, len(batch) // 2)
            return 0.0
        if status == 413:  # one record alone is too large: it can never be sent
            return self._set_aside(batch, {0: "larger than the hub accepts in a batch (413)"})
        if status == 422 and (refused := _refused(response, len(batch))):
            return self._set_aside(batch, refused)
        if status in (429, 503):
            self.counts["throttled"] += 1
            return self._retry_after(response) or self._failed(f"hub busy ({status})")
        if status in (401, 403):
            self.unauthorised = True
            self.counts["unauthorised"] += 1
            return self._failed(
                f"the hub refuses this agent ({status}: {response.text[:200]}); nothing is "
                "dropped: check its token and the devices the token covers",
                level=logging.ERROR,
            )
        return self._failed(f"hub answered {status}: {response.text[:200]}")

    def _set_aside(self, batch: list[Stored], refused: Mapping[int, str]) -> float:
        moved = self.outbox.dead_letter(
            {batch[i].id: reason for i, reason in refused.items()}, now=time.time()
        )
        self.counts["dead_letters"] += moved
        self._refusals += 1
        if _worth_logging(self._refusals):
            first = min(refused)
            log.warning(
                "uplink: the hub refused %d record(s) for good; kept as dead letters (see "
                "`edgewise agent dead-letters`), the rest goes on. First: %s: %s",
                len(refused),
                batch[first].wire[:200],
                refused[first],
            )
        return 0.0

    def _applied(self, response: httpx.Response) -> None:
        try:
            commands = response.json().get("commands", [])
        except ValueError:
            log.warning("uplink: the hub's answer is not JSON; its commands are ignored")
            return
        for command in commands:
            try:
                self.on_command(command)
            except Exception:  # a bad command must not stop the uplink
                log.exception("uplink: command %s could not be applied", command.get("id"))

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After", "")
        try:
            return min(max(float(value), 0.0), self.config.backoff_max_s)
        except ValueError:
            return None

    def _failed(self, why: str, *, level: int = logging.WARNING) -> float:
        self.failures += 1
        self.counts["errors"] += 1
        delay = self._random.uniform(0.0, min(self.config.backoff_max_s, 0.5 * 2**self.failures))
        if _worth_logging(self.failures):
            log.log(level, "uplink: %s (failure %d; next try in %.1f s)", why, self.failures, delay)
        return delay

    def state(self) -> str:
        """``ok``, ``failing`` (the last exchange failed) or ``unauthorised`` (401 or 403)."""
        if self.unauthorised:
            return "unauthorised"
        return "failing" if self.failures else "ok"

    # -- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """New records are waiting: send without waiting for the interval."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = self.send_once()
            if delay > 0.0:
                self._wake.clear()
                deadline = time.monotonic() + delay
                while not self._stop.is_set() and time.monotonic() < deadline:
                    # A wake-up cuts the interval short, never a backoff.
                    if self._wake.wait(deadline - time.monotonic()) and self.failures == 0:
                        break

    def stop(self, *, drain_s: float = 0.0) -> None:
        """Stop sending; with ``drain_s``, then try that long to empty the outbox."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        deadline = time.monotonic() + drain_s
        while self.outbox.pending() and time.monotonic() < deadline:
            if self.send_once() > 0.0 and self.failures:
                break
        self._client.close()


def _worth_logging(n: int) -> bool:
    """Rate-limited logs: the 1st, the 10th, then every 100th time."""
    return n in (1, 10) or n % 100 == 0


def _refused(response: httpx.Response, size: int) -> dict[int, str]:
    """A 422's refused records, index → reason; empty unless every entry names one of ``size``.

    Records are set aside only on the hub's exact word: an answer that cannot be read is a
    failure like any other, retried.
    """
    try:
        rejected = response.json().get("rejected")
    except (ValueError, AttributeError):
        return {}
    if not isinstance(rejected, list):
        return {}
    refused: dict[int, str] = {}
    for entry in rejected:
        index = entry.get("index") if isinstance(entry, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < size:
            return {}
        refused[index] = str(entry.get("reason", ""))[:500]
    return refused
