"""Connecting to NATS, and stopping a long-running command cleanly on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client

from edgewise.agent._uplink import _worth_logging

from ._errors import HubError

__all__ = ["CONNECT_TIMEOUT_S", "check_nats_url", "connect", "stop_on_signals", "unless_stopped"]

CONNECT_TIMEOUT_S = 10.0
"""How long a command waits for its first NATS connection before it gives up."""

log = logging.getLogger("edgewise.hub.nats")


def check_nats_url(url: str) -> None:
    """Refuse a URL that is not ``nats://`` or ``tls://``, or that holds credentials.

    >>> check_nats_url("nats://127.0.0.1:4222")
    >>> check_nats_url("nats://hub:secret@127.0.0.1:4222")
    Traceback (most recent call last):
    ...
    edgewise.hub._errors.HubError: the NATS URL holds credentials, ... give --nats-creds FILE
    """
    parts = urlsplit(url)
    if parts.scheme not in ("nats", "tls") or not parts.hostname:
        raise HubError(f"the NATS URL {url!r} is not nats://HOST:PORT or tls://HOST:PORT")
    if parts.username or parts.password:
        raise HubError(
            "the NATS URL holds credentials, which the process list shows: give --nats-creds FILE"
        )


async def connect(url: str, *, creds: str | None, name: str) -> Client:
    """A connection that reconnects for ever once made; :class:`HubError` if none is made in
    :data:`CONNECT_TIMEOUT_S`."""
    check_nats_url(url)
    if creds is not None and not Path(creds).is_file():
        raise HubError(f"{creds}: no such credentials file")
    errors = 0

    async def error_cb(error: Exception) -> None:
        nonlocal errors
        errors += 1
        if _worth_logging(errors):  # nats-py would log each with a traceback
            log.warning("NATS at %s: %r (%d errors so far)", url, error, errors)

    async def reconnected_cb() -> None:
        log.info("NATS at %s: reconnected", url)

    try:
        return await asyncio.wait_for(
            nats.connect(
                url,
                name=name,
                user_credentials=creds,
                max_reconnect_attempts=-1,
                error_cb=error_cb,
                reconnected_cb=reconnected_cb,
            ),
            CONNECT_TIMEOUT_S,
        )
    except TimeoutError:
        raise HubError(
            f"cannot connect to NATS at {url} in {CONNECT_TIMEOUT_S:g} s: is nats-server "
            "running there, with JetStream (-js)?"
        ) from None
    except (OSError, nats.errors.Error) as error:
        raise HubError(f"cannot connect to NATS at {url}: {error!r}") from None


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, for the running loop's main task to watch."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for each in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(each, stop.set)
    return stop


async def unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run ``work`` to its end (True), or cancel it once ``stop`` is set (False).

    Work cancelled is work unacknowledged, which is sent again: safe, and it keeps a stop from
    waiting for ever on a retry loop (NATS or the database away).
    """
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if task.done():
        task.result()  # its exception, if any, is the caller's
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False
