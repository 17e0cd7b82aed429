"""The OPC-UA input against a node-opcua server: data changes, source timestamps, reconnects."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from edgewise.agent.inputs.opcua import OpcuaInput, OpcuaInputConfig
from peers.servers import OPCUA_USER, Collector, StartOpcua, free_port

SOURCE_EPOCH = 1577836800.0  # the peer's device clock starts at 2020-01-01T00:00:00Z
NODES = [
    {"node_id": "ns=1;s=Temperature", "name": "temp", "unit": "degC"},
    {"node_id": "ns=1;s=Counter", "name": "count"},
]


def config(port: int, **kw: object) -> OpcuaInputConfig:
    return OpcuaInputConfig.model_validate(
        {
            "type": "opcua",
            "name": "line",
            "endpoint": f"opc.tcp://127.0.0.1:{port}",
            "stream": "line-1",
            "nodes": NODES,
            "publishing_interval_ms": 50,
            "timeout_s": 2,
            **kw,
        }
    )


def temps(readings: list[object]) -> list[tuple[float, float]]:
    return [(r.timestamp, r.values["temp"]) for r in readings if "temp" in r.values]  # type: ignore[attr-defined]


def test_data_changes_arrive_with_source_timestamps(
    shared_opcua_port: int, collector: Collector
) -> None:
    source = OpcuaInput(config(shared_opcua_port))
    source.start(collector)
    try:
        collector.wait_for(lambda rs: len(temps(rs)) >= 3)
    finally:
        source.stop()
    # The peer's temperature at step k is 20 + 0.5 k, measured at 2020-01-01 + k seconds.
    seen = temps(collector.readings)
    for timestamp, value in seen:
        assert timestamp == pytest.approx(SOURCE_EPOCH + (value - 20.0) / 0.5, abs=1e-3)
    assert len({v for _, v in seen}) == len(seen)  # each a change
    counts = [r for r in collector.readings if "count" in r.values]
    assert counts and all(abs(r.timestamp - time.time()) < 60 for r in counts)
    message = next(m for m in collector.messages if m.topic == "ns=1;s=Temperature")
    assert (message.source, message.format, message.ack, message.upstream_copy) == (
        "line",
        "readings",
        None,
        False,
    )
    assert all(r.stream == "line-1" for r in collector.readings)
    assert source.errors == 0 and source.connects == 1


def test_stops_cleanly(shared_opcua_port: int, collector: Collector) -> None:
    source = OpcuaInput(config(shared_opcua_port))
    source.start(collector)
    collector.wait_for(lambda rs: len(rs) >= 2)
    started = time.monotonic()
    source.stop()
    assert time.monotonic() - started < 5.0
    count = len(collector.messages)
    time.sleep(0.5)
    assert len(collector.messages) == count


def test_reconnects_when_the_server_comes_back(
    opcua_server: StartOpcua, collector: Collector
) -> None:
    port = free_port()
    first = opcua_server(port)
    source = OpcuaInput(config(port))
    source.start(collector)
    try:
        collector.wait_for(lambda rs: len(rs) >= 2)
        first.stop()
        deadline = time.monotonic() + 15
        while source.errors == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.errors > 0
        arrived = len(collector.readings)
        opcua_server(port)
        # The restarted server counts from 1 again: a small count after a restart is news.
        collector.wait_for(lambda rs: any("count" in r.values for r in rs[arrived:]), timeout=40)
    finally:
        source.stop()
    assert source.connects >= 2


def test_username_and_password_from_a_secret(
    shared_opcua_port: int, collector: Collector, tmp_path: Path
) -> None:
    port = shared_opcua_port
    secret = tmp_path / "password"
    username, password = OPCUA_USER.split(":")
    secret.write_text(f"{password}\n")
    source = OpcuaInput(config(port, username=username, password={"file": str(secret)}))
    source.start(collector)
    try:
        collector.wait_for(lambda rs: len(rs) >= 1)
    finally:
        source.stop()
    assert source.connects == 1

    secret.write_text("wrong\n")
    refused = OpcuaInput(config(port, username=username, password={"file": str(secret)}))
    refused.start(collector)
    deadline = time.monotonic() + 15
    while refused.errors == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    refused.stop()
    assert refused.errors > 0 and refused.connects == 0


def test_unreachable_server_never_crashes(collector: Collector) -> None:
    source = OpcuaInput(config(free_port()))
    source.start(collector)
    deadline = time.monotonic() + 10
    while source.errors < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    source.stop()
    assert source.errors >= 2 and collector.messages == []


def test_a_password_needs_a_username() -> None:
    with pytest.raises(ValidationError, match="a password needs a username"):
        config(1, password={"env": "X"})
    assert math.isfinite(config(1).timeout_s)


def test_bad_values_are_nan_and_unknown_nodes_are_skipped(
    shared_opcua_port: int, collector: Collector
) -> None:
    nodes = [
        {"node_id": "ns=1;s=Broken", "name": "broken"},
        {"node_id": "ns=1;s=NoSuchNode", "name": "ghost"},
        {"node_id": "ns=1;s=Counter", "name": "count"},
    ]
    source = OpcuaInput(config(shared_opcua_port, nodes=nodes))
    source.start(collector)
    try:
        collector.wait_for(
            lambda rs: (
                any("broken" in r.values for r in rs) and sum("count" in r.values for r in rs) >= 2
            )
        )
    finally:
        source.stop()
    broken = [r.values["broken"] for r in collector.readings if "broken" in r.values]
    assert broken and all(math.isnan(v) for v in broken)
    assert not any("ghost" in r.values for r in collector.readings)
    # One for the node that cannot be monitored, one per bad value.
    assert source.errors == 1 + len(broken)
    assert source.connects == 1
