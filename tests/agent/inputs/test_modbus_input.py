"""The Modbus input against a libmodbus server: decoding, scaling, refused points, reconnects."""

from __future__ import annotations

import math
import time

import pytest
from pydantic import ValidationError

from edgewise.agent.inputs.modbus import ModbusInput, ModbusInputConfig, ModbusPoint
from peers.servers import Collector, StartModbus, free_port

POINTS = [
    {"name": "i16", "address": 0, "data_type": "int16"},
    {"name": "u16", "address": 1, "data_type": "uint16"},
    {"name": "i32", "address": 2, "data_type": "int32"},
    {"name": "u32", "address": 4, "data_type": "uint32", "word_order": "little"},
    {"name": "f32", "address": 6, "data_type": "float32"},
    {"name": "f32_swapped", "address": 8, "data_type": "float32", "word_order": "little"},
    {"name": "tag", "address": 10},
    {"name": "temp", "table": "input", "address": 0, "scale": 0.01, "unit": "degC"},
    {"name": "requests", "table": "input", "address": 1},
    {"name": "kelvin", "table": "input", "address": 0, "scale": 0.01, "offset": 273.15},
    {"name": "run", "table": "coil", "address": 0},
    {"name": "fault", "table": "coil", "address": 1},
    {"name": "door", "table": "discrete", "address": 0},
]

EXPECTED = {
    "i16": -1234.0,
    "u16": 40000.0,
    "i32": -100000.0,
    "u32": 3000000000.0,
    "f32": 21.5,
    "f32_swapped": -3.25,
    "tag": 1.0,
    "temp": 21.5,
    "kelvin": 21.5 + 273.15,
    "run": 1.0,
    "fault": 0.0,
    "door": 1.0,
}


def config(port: int, points: list[dict[str, object]] = POINTS, **kw: object) -> ModbusInputConfig:
    return ModbusInputConfig.model_validate(
        {
            "type": "modbus",
            "name": "plc",
            "host": "127.0.0.1",
            "port": port,
            "stream": "press-1",
            "poll_interval_s": 0.05,
            "timeout_s": 0.5,
            "points": points,
            **kw,
        }
    )


def test_polled_values_arrive_decoded_and_scaled(
    modbus_server: StartModbus, collector: Collector
) -> None:
    port = free_port()
    modbus_server(port)
    source = ModbusInput(config(port))
    before = time.time()
    source.start(collector)
    try:
        collector.wait_for(lambda rs: len(rs) >= 3)
    finally:
        source.stop()
    first, *_, last = collector.readings
    assert first.stream == "press-1"
    assert before <= first.timestamp <= time.time()
    values = {k: v for k, v in first.values.items() if k != "requests"}
    assert values == pytest.approx(EXPECTED, rel=1e-12)
    # The server counts the requests it served: each poll sees a larger count.
    assert last.values["requests"] > first.values["requests"]
    message = collector.messages[0]
    assert (message.source, message.format, message.ack, message.upstream_copy) == (
        "plc",
        "readings",
        None,
        False,
    )
    assert source.errors == 0 and source.connects == 1


def test_stops_cleanly(modbus_server: StartModbus, collector: Collector) -> None:
    port = free_port()
    modbus_server(port)
    source = ModbusInput(config(port))
    source.start(collector)
    collector.wait_for(lambda rs: len(rs) >= 1)
    started = time.monotonic()
    source.stop()
    assert time.monotonic() - started < 1.0
    count = len(collector.messages)
    time.sleep(0.3)
    assert len(collector.messages) == count


def test_refused_point_is_nan_and_counted(modbus_server: StartModbus, collector: Collector) -> None:
    port = free_port()
    modbus_server(port)
    points = [
        {"name": "temp", "table": "input", "address": 0, "scale": 0.01},
        {"name": "missing", "address": 100},
    ]
    source = ModbusInput(config(port, points))
    source.start(collector)
    try:
        collector.wait_for(lambda rs: len(rs) >= 2)
    finally:
        source.stop()
    reading = collector.readings[0]
    assert reading.values["temp"] == pytest.approx(21.5)
    assert math.isnan(reading.values["missing"])
    assert source.errors >= 2 and source.connects == 1


def test_reconnects_when_the_server_comes_back(
    modbus_server: StartModbus, collector: Collector
) -> None:
    port = free_port()
    first = modbus_server(port, tag=1)
    source = ModbusInput(config(port))
    source.start(collector)
    try:
        collector.wait_for(lambda rs: any(r.values["tag"] == 1 for r in rs))
        first.stop()
        deadline = time.monotonic() + 10
        while source.errors == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert source.errors > 0
        modbus_server(port, tag=2)
        collector.wait_for(lambda rs: any(r.values["tag"] == 2 for r in rs))
    finally:
        source.stop()
    assert source.connects >= 2
    # A poll that lost its connection delivers nothing: every reading is complete.
    assert all(not math.isnan(v) for r in collector.readings for v in r.values.values())


def test_unreachable_device_never_crashes(collector: Collector) -> None:
    source = ModbusInput(config(free_port()))
    source.start(collector)
    deadline = time.monotonic() + 10
    while source.errors < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    source.stop()
    assert source.errors >= 2 and collector.messages == []
    assert time.monotonic() - started < 2.0


def test_points_must_fit_their_table() -> None:
    with pytest.raises(ValidationError, match="coils and discrete inputs are bool"):
        ModbusPoint(name="run", table="coil", address=0, data_type="int16")
    with pytest.raises(ValidationError, match="coils and discrete inputs are bool"):
        ModbusPoint(name="temp", address=0, data_type="bool")
