"""Modbus TCP: poll a device's registers and deliver each poll as one reading.

The configuration and the decoding of registers need nothing beyond pydantic; pymodbus is
imported by :meth:`ModbusInput.start`, so an agent without a Modbus input never loads it.
"""

from __future__ import annotations

import logging
import math
import struct
import threading
import time
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from edgewise.agent._inbound import Deliver, Inbound
from edgewise.stream import Reading

from ._backoff import Backoff

if TYPE_CHECKING:
    from pymodbus.client import ModbusTcpClient

__all__ = ["ModbusInput", "ModbusInputConfig", "ModbusPoint", "decode_registers"]

_log = logging.getLogger(__name__)

Table = Literal["holding", "input", "coil", "discrete"]
DataType = Literal["int16", "uint16", "int32", "uint32", "float32", "bool"]

_WORDS = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}
_FORMAT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}


class ModbusPoint(BaseModel):
    """One value read from the device: where it is, how to decode it, how to scale it.

    ``value = raw * scale + offset``. Coils and discrete inputs read as 0 or 1 (their
    ``data_type`` is ``bool``, the default for them). ``word_order`` applies to 32-bit types:
    ``"big"`` puts the high word at the lower address (the Modbus convention), ``"little"``
    the low word; bytes within a register are always big-endian.

    >>> ModbusPoint(name="temp", address=6, data_type="float32").words
    2
    >>> ModbusPoint(name="run", table="coil", address=0).data_type
    'bool'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    table: Table = "holding"
    address: int = Field(ge=0, le=65535)
    data_type: DataType | None = Field(default=None, validate_default=True)
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None

    @field_validator("data_type", mode="after")
    @classmethod
    def _fits_register(cls, data_type: DataType | None, info: ValidationInfo) -> DataType:
        bits = info.data.get("table") in ("coil", "discrete")
        if data_type is None:
            return "bool" if bits else "uint16"
        if bits != (data_type == "bool"):
            raise ValueError("coils and discrete inputs are bool, registers are not")
        return data_type

    @property
    def words(self) -> int:
        """How many registers (or bits) the point spans."""
        return _WORDS.get(self.data_type or "bool", 1)


class ModbusInputConfig(BaseModel):
    """A Modbus TCP device polled every ``poll_interval_s``; each poll is one reading of ``stream``.

    >>> config = ModbusInputConfig(
    ...     type="modbus", name="pump", host="10.0.0.7", stream="pump-1",
    ...     points=[{"name": "temp", "table": "input", "address": 0, "scale": 0.01}],
    ... )
    >>> config.port, config.unit_id, config.poll_interval_s
    (502, 1, 1.0)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["modbus"]
    name: str
    host: str
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=255)
    poll_interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=2.0, gt=0)
    stream: str
    points: list[ModbusPoint] = Field(min_length=1)


def decode_registers(point: ModbusPoint, words: list[int]) -> float:
    """The scaled value of ``point`` from the registers (or bits) read for it.

    >>> decode_registers(ModbusPoint(name="t", address=0, data_type="int16"), [0xFB2E])
    -1234.0
    >>> decode_registers(ModbusPoint(name="t", address=0, scale=0.01), [2150])
    21.5
    >>> little = ModbusPoint(name="t", address=0, data_type="float32", word_order="little")
    >>> decode_registers(little, [0x0000, 0xC050])
    -3.25
    """
    if point.data_type == "bool":
        raw = float(bool(words[0]))
    else:
        assert point.data_type is not None
        ordered = words if point.word_order == "big" else words[::-1]
        packed = b"".join(w.to_bytes(2, "big") for w in ordered)
        raw = float(struct.unpack(_FORMAT[point.data_type], packed)[0])
    return raw * point.scale + point.offset


class ModbusInput:
    """Polls one Modbus TCP device from its own thread (pymodbus's synchronous client).

    Every poll delivers ``Inbound(format="readings")`` with one reading of the configured
    stream, stamped with the agent's clock when the poll began (Modbus carries no device time).
    A point the device refuses (an exception response, e.g. illegal address) is ``nan`` in
    that reading. When the connection fails the poll is skipped, so no reading pretends to be
    a measurement, and the input reconnects with a backoff from 0.5 s doubling to 30 s.
    Failures are counted in ``errors``, connections made in ``connects``; nothing raises out
    of the thread.
    """

    def __init__(self, config: ModbusInputConfig) -> None:
        self.config = config
        self.name = config.name
        self.errors = 0
        self.connects = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, deliver: Deliver) -> None:
        """Import pymodbus and start polling in a daemon thread."""
        from pymodbus.client import ModbusTcpClient

        config = self.config
        # No retries inside pymodbus: a lost request fails the poll, and we reconnect with backoff.
        client = ModbusTcpClient(config.host, port=config.port, timeout=config.timeout_s, retries=0)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(client, deliver), name=f"modbus:{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; returns after the current poll (at most one request timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, client: ModbusTcpClient, deliver: Deliver) -> None:
        backoff = Backoff()
        topic = f"{self.config.host}:{self.config.port}/{self.config.unit_id}"
        next_poll = time.monotonic()
        while not self._stop.is_set():
            if not client.connected:
                if not client.connect():
                    self.errors += 1
                    delay = backoff.next()
                    _log.warning(
                        "%s: cannot connect to %s; retrying in %.1f s", self.name, topic, delay
                    )
                    self._stop.wait(delay)
                    continue
                self.connects += 1
                backoff.reset()
                next_poll = time.monotonic()
            if self._stop.wait(max(0.0, next_poll - time.monotonic())):
                break
            next_poll = max(next_poll + self.config.poll_interval_s, time.monotonic())
            reading = self._poll(client)
            if reading is not None:
                deliver(Inbound(self.name, topic, [reading], "readings", received=time.time()))
        client.close()

    def _poll(self, client: ModbusTcpClient) -> Reading | None:
        """One reading of every point; ``None`` when the connection failed (it is closed then)."""
        now = time.time()
        values: dict[str, float] = {}
        try:
            for point in self.config.points:
                values[point.name] = self._read(client, point)
        except Exception as error:  # pymodbus's, the socket's, or anything else: never crash
            self.errors += 1
            _log.warning("%s: poll failed (%s); reconnecting", self.name, error)
            client.close()
            return None
        return Reading(self.config.stream, now, values)

    def _read(self, client: ModbusTcpClient, point: ModbusPoint) -> float:
        read = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }[point.table]
        response = read(point.address, count=point.words, device_id=self.config.unit_id)
        if response.isError():
            self.errors += 1
            _log.warning(
                "%s: %s at %s %d refused: %s",
                self.name,
                point.name,
                point.table,
                point.address,
                response,
            )
            return math.nan
        words = response.registers if point.data_type != "bool" else [int(response.bits[0])]
        return decode_registers(point, list(words))
