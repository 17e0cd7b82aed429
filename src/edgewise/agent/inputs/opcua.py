"""OPC-UA: subscribe to a server's variables and deliver each data change as a reading.

The configuration needs nothing beyond pydantic; asyncua is imported by
:meth:`OpcuaInput.start`, so an agent without an OPC-UA input never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgewise.agent._inbound import Deliver, Inbound
from edgewise.agent._secret import Secret
from edgewise.stream import Reading

from ._backoff import Backoff

if TYPE_CHECKING:
    from asyncua.client.client import Client
    from asyncua.common.node import Node
    from asyncua.common.subscription import DataChangeNotif
    from asyncua.ua import StatusChangeNotification

__all__ = ["OpcuaInput", "OpcuaInputConfig", "OpcuaNode", "device_time"]

_log = logging.getLogger(__name__)


class OpcuaNode(BaseModel):
    """A variable to subscribe to, by its node id, and the value name it gets in readings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node_id: str
    name: str
    unit: str | None = None


class OpcuaInputConfig(BaseModel):
    """An OPC-UA server whose variables' data changes become readings of ``stream``.

    ``password`` is a secret reference (``{env: NAME}`` or ``{file: PATH}``), read when the
    input connects.

    >>> config = OpcuaInputConfig(
    ...     type="opcua", name="line", endpoint="opc.tcp://10.0.0.9:4840", stream="line-1",
    ...     nodes=[{"node_id": "ns=1;s=Temperature", "name": "temp", "unit": "degC"}],
    ... )
    >>> config.publishing_interval_ms, config.username
    (1000.0, None)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["opcua"]
    name: str
    endpoint: str = Field(pattern=r"^opc\.tcp://")
    stream: str
    nodes: list[OpcuaNode] = Field(min_length=1)
    publishing_interval_ms: float = Field(default=1000.0, gt=0)
    timeout_s: float = Field(default=4.0, gt=0)
    username: str | None = None
    password: Secret | None = None

    @model_validator(mode="after")
    def _password_needs_user(self) -> OpcuaInputConfig:
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        return self


def device_time(source: datetime | None, server: datetime | None, now: float) -> float:
    """When a value was measured: its source timestamp, else the server's, else ``now``.

    OPC-UA timestamps are UTC; a naive one is read as UTC.

    >>> device_time(datetime(2020, 1, 1), datetime(2024, 1, 1), 5.0)
    1577836800.0
    >>> device_time(None, datetime(2024, 1, 1, tzinfo=UTC), 5.0), device_time(None, None, 5.0)
    (1704067200.0, 5.0)
    """
    stamp = source or server
    if stamp is None:
        return now
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


class OpcuaInput:
    """Subscribes to an OPC-UA server from its own thread and event loop (asyncua's client).

    Every data change delivers ``Inbound(format="readings")`` with one reading of the
    configured stream carrying the changed variable's value, stamped with the value's device
    time (:func:`device_time`). A value with a bad status, or one that is not a number, is
    ``nan``. When the session is lost (the server says so, or a probe of its state every second
    fails) the input reconnects and subscribes again, with a backoff from 0.5 s doubling to
    30 s. Failures are counted in ``errors``, sessions opened in ``connects``; nothing raises
    out of the thread.
    """

    def __init__(self, config: OpcuaInputConfig) -> None:
        self.config = config
        self.name = config.name
        self.errors = 0
        self.connects = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self, deliver: Deliver) -> None:
        """Import asyncua and start the subscription in a daemon thread with its own loop."""
        from asyncua.client.client import Client

        loop = asyncio.new_event_loop()
        self._loop, self._stopping = loop, asyncio.Event()
        self._thread = threading.Thread(
            target=loop.run_until_complete,
            args=(self._run(Client, deliver),),
            name=f"opcua:{self.name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the session and stop; returns once no more data changes will be delivered."""
        if self._thread is None or self._loop is None or self._stopping is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join()
        self._loop.close()
        self._thread = self._loop = self._stopping = None

    async def _run(self, client_type: type[Client], deliver: Deliver) -> None:
        assert self._stopping is not None
        backoff = Backoff()
        while not self._stopping.is_set():
            client = client_type(self.config.endpoint, timeout=self.config.timeout_s)
            lost = asyncio.Event()
            try:
                await self._subscribe(client, _Changes(self, deliver, lost))
                backoff.reset()
                await self._watch(client, lost)
            except Exception as error:  # asyncua's, the socket's, a secret's: never crash
                self.errors += 1
                _log.warning("%s: %s: %r", self.name, self.config.endpoint, error)
            finally:
                await self._close(client)
            if not self._stopping.is_set():
                delay = backoff.next()
                _log.info("%s: reconnecting in %.1f s", self.name, delay)
                await _wait(self._stopping, delay)

    async def _subscribe(self, client: Client, changes: _Changes) -> None:
        config = self.config
        if config.username is not None:
            client.set_user(config.username)
            if config.password is not None:
                client.set_password(config.password.reveal())
        await client.connect()
        self.connects += 1
        subscription = await client.create_subscription(config.publishing_interval_ms, changes)
        nodes = [client.get_node(n.node_id) for n in config.nodes]
        changes.names = {node.nodeid: n.name for node, n in zip(nodes, config.nodes, strict=True)}
        results = await subscription.subscribe_data_change(nodes)
        for node, result in zip(config.nodes, results, strict=True):
            if not isinstance(result, int):
                self.errors += 1
                _log.warning("%s: cannot subscribe to %s: %s", self.name, node.node_id, result)

    async def _watch(self, client: Client, lost: asyncio.Event) -> None:
        """Return when stopping; raise when the session is lost."""
        assert self._stopping is not None
        while not await _wait(self._stopping, 1.0):
            if lost.is_set():
                raise ConnectionError("the server ended the subscription")
            await asyncio.wait_for(client.nodes.server_state.read_value(), self.config.timeout_s)

    async def _close(self, client: Client) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), self.config.timeout_s)
        except Exception as error:  # the session is gone either way
            _log.debug("%s: disconnect: %r", self.name, error)


class _Changes:
    """asyncua's subscription handler: data changes become readings; a status change means loss."""

    def __init__(self, source: OpcuaInput, deliver: Deliver, lost: asyncio.Event) -> None:
        self.source = source
        self.deliver = deliver
        self.lost = lost
        self.names: dict[Any, str] = {}

    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        source = self.source
        value = data.monitored_item.Value
        status = value.StatusCode
        good = status is None or status.is_good()
        number = isinstance(val, int | float) and good
        if not number:
            source.errors += 1
        timestamp = device_time(value.SourceTimestamp, value.ServerTimestamp, time.time())
        name = self.names[node.nodeid]
        reading = Reading(
            source.config.stream, timestamp, {name: float(val) if number else math.nan}
        )
        self.deliver(
            Inbound(
                source.name, node.nodeid.to_string(), [reading], "readings", received=time.time()
            )
        )

    def status_change_notification(self, status: StatusChangeNotification) -> None:
        _log.warning("%s: subscription status %s", self.source.name, status.Status)
        self.lost.set()


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()
