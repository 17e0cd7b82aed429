"""One hub worker against a real nats-server: stores once, dead-letters what it never will,
acknowledges everything, and rides out a PostgreSQL outage (the end-to-end test with the bridge
and a killed worker is test_hub_scaleout)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats
from hubtest import reading
from typer.testing import CliRunner

from edgewise.bench._proxy import TcpProxy
from edgewise.bench._services import NatsServer
from edgewise.cli import app
from edgewise.hub import add_device, stored_keys, upgrade
from edgewise.hub._consumer import WorkerSettings, _work
from edgewise.hub._jetstream import (
    CONSUMER,
    RECORDS_STREAM,
    RECORDS_SUBJECT,
    dead_letter,
    ensure_streams,
    read_dead_letters,
)


async def _scenario(db_url: str, nats_url: str) -> tuple[int, int, int, list[str], int]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        assert await read_dead_letters(js, last=10) == []
        good = json.dumps(reading(1, device="m-1")).encode()
        ghost = json.dumps(reading(2, device="ghost")).encode()
        # The same record under two message ids: JetStream keeps both, the database one.
        for ident, payload in [("a", good), ("b", good), ("c", ghost), ("d", b"{oops")]:
            await js.publish(RECORDS_SUBJECT, payload, headers={"Nats-Msg-Id": ident})
        stop = asyncio.Event()
        settings = WorkerSettings(db_url=db_url, nats_url=nats_url, ack_wait_s=5.0)
        worker = asyncio.create_task(_work(settings, stop))
        for _ in range(200):
            letters = await read_dead_letters(js, last=10)
            if len(letters) == 2 and await asyncio.to_thread(stored_keys, db_url):
                break
            await asyncio.sleep(0.05)
        stop.set()
        counts = await worker
        info = await js.consumer_info(RECORDS_STREAM, CONSUMER)
    finally:
        await nc.close()
    reasons = [letter["reason"] for letter in letters]
    return counts.stored, counts.duplicates, counts.dead, reasons, info.num_ack_pending or 0


def test_a_worker_stores_once_and_dead_letters_the_rest(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(db_url)
    add_device(db_url, "m-1")
    with NatsServer(tmp_path / "nats") as server:
        stored, duplicates, dead, reasons, unacknowledged = asyncio.run(
            _scenario(db_url, server.url)
        )
    assert [k.device for k in stored_keys(db_url)] == ["m-1"]
    assert (stored, duplicates, dead, unacknowledged) == (1, 1, 2, 0)
    assert reasons[0] == "device 'ghost' is not registered in the hub"
    assert reasons[1].startswith("not a record: not JSON")


def test_dead_letters_are_printed_one_json_object_a_line(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "nats") as server:
        asyncio.run(_dead_letter(server.url))
        done = CliRunner().invoke(app, ["hub", "dead-letters", "--nats", server.url])
    assert done.exit_code == 0, done.output
    lines = [line for line in done.output.splitlines() if line.startswith("{")]
    assert [json.loads(line)["reason"] for line in lines] == ["why not"]


async def _dead_letter(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        await dead_letter(js, {"topic": "t", "reason": "why not"}, "x")
        await dead_letter(js, {"topic": "t", "reason": "why not"}, "x")  # a copy: kept once
    finally:
        await nc.close()


def test_a_worker_rides_out_a_database_outage(tmp_path: Path, pg_url: str) -> None:
    upgrade(pg_url)
    add_device(pg_url, "m-1")
    proxy = TcpProxy(5432)  # the test PostgreSQL, through a proxy that can cut it off
    proxied = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}", 1)
    assert proxied != pg_url
    try:
        with NatsServer(tmp_path / "nats") as server:
            stored, duplicates = asyncio.run(_outage(pg_url, proxied, server.url, proxy))
    finally:
        proxy.close()
    keys = stored_keys(pg_url)
    assert sorted(k.seq for k in keys) == list(range(200))
    assert (stored, duplicates) == (200, 0)


async def _outage(pg_url: str, proxied: str, nats_url: str, proxy: TcpProxy) -> tuple[int, int]:
    async def stored() -> int:
        return len(await asyncio.to_thread(stored_keys, pg_url))

    async def until(n: int) -> None:
        for _ in range(400):
            if await stored() >= n:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{await stored()} stored, not {n}")

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js)

        async def publish(seqs: range) -> None:
            for seq in seqs:
                body = json.dumps(reading(seq, device="m-1")).encode()
                await js.publish(RECORDS_SUBJECT, body, headers={"Nats-Msg-Id": str(seq)})

        stop = asyncio.Event()
        settings = WorkerSettings(db_url=proxied, nats_url=nats_url, batch=50, ack_wait_s=5.0)
        worker = asyncio.create_task(_work(settings, stop))
        await publish(range(100))
        await until(100)
        proxy.set_mode("drop")  # the database is gone: batches fail, are NAKed, come back
        await publish(range(100, 200))
        await asyncio.sleep(2.0)
        assert await stored() == 100
        proxy.set_mode("pass")
        await until(200)
        stop.set()
        counts = await worker
    finally:
        await nc.close()
    return counts.stored, counts.duplicates


def test_a_worker_on_postgresql_wakes_the_dashboards_of_every_hub_worker(
    tmp_path: Path, pg_url: str
) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    from edgewise.hub.web import CHANNEL

    upgrade(pg_url)
    add_device(pg_url, "m-1")
    conninfo = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        with NatsServer(tmp_path / "nats") as server:
            stored, *_ = asyncio.run(_scenario(pg_url, server.url))
        heard = [json.loads(n.payload) for n in listener.notifies(timeout=5.0, stop_after=1)]
    assert stored == 1
    assert heard == [["m-1"]]  # the registered device; the ghost is a dead letter
