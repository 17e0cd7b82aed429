"""``edgewise demo`` on the dashboard: a hub, an edge agent and a simulated fleet, until Ctrl-C.

The hub runs in this process (uvicorn in a thread, on a free loopback port), on SQLite in a
temporary folder unless ``--db`` names a database. The agent is the real one, ``edgewise agent
run``, in a child process: its input is the fleet's simulator, or, with ``--broker``, an MQTT
subscription to which this process publishes the fleet's readings. A one-time admin with a
random password signs in; nothing is left behind but what ``--db`` keeps.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import yaml

from edgewise.sim import Fleet

from ._common import InputError

__all__ = ["DEFAULT_SPEED", "Broker", "broker_of", "run_web_demo"]

DEFAULT_SPEED = 600.0
"""Simulated seconds per second on the dashboard: the first fault within half a minute."""

GATEWAY = "demo-gateway"
"""The agent's device id; its token covers every device of the fleet."""

_TOPIC = "edgewise-demo"
_AGENT_STOP_S = 15.0  # the agent drains its uplink for 2 s; more only when the machine is slow
_PR_SET_PDEATHSIG = 1
_DAY, _SIX = 86400.0, 6 * 3600.0


@dataclass(frozen=True, slots=True)
class Broker:
    """An MQTT broker the fleet publishes to and the agent subscribes to."""

    host: str
    port: int


def broker_of(url: str) -> Broker:
    """``mqtt://HOST[:PORT]`` as a :class:`Broker`.

    >>> broker_of("mqtt://127.0.0.1:1883"), broker_of("mqtt://broker.local").port
    (Broker(host='127.0.0.1', port=1883), 1883)
    >>> broker_of("http://x")
    Traceback (most recent call last):
    edgewise.cli._common.InputError: --broker takes mqtt://HOST[:PORT], not 'http://x'
    """
    parts = urlsplit(url)
    try:
        port = parts.port or 1883
    except ValueError:
        port = 0
    if parts.scheme != "mqtt" or not parts.hostname or not port or parts.path not in ("", "/"):
        raise InputError(f"--broker takes mqtt://HOST[:PORT], not {url!r}")
    return Broker(parts.hostname, port)


def _provision(db: str, fleet: Fleet, *, role: str) -> tuple[str, str, str]:
    """A one-time person (name, random password) and the agent's token covering the fleet."""
    from edgewise.hub import ConflictError, add_device, add_user, list_users, rotate_device

    taken = {u["name"] for u in list_users(db)}
    name = "demo" if "demo" not in taken else f"demo-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    add_user(db, name, role=role, password=password, actor="demo")
    try:
        token = add_device(db, GATEWAY, covers=list(fleet.kinds), actor="demo")
    except ConflictError:  # a database an earlier demo used: the gateway gets a new token
        token = rotate_device(db, GATEWAY, actor="demo")
    return name, password, token


def _agent_config(
    folder: Path,
    *,
    hub: str,
    token: str,
    fleet: Fleet,
    seed: int,
    speed: float,
    broker: Broker | None,
) -> Path:
    """The agent's configuration file: the fleet (or the broker) in, the hub out."""
    secret = folder / "token"
    secret.touch(mode=0o600)
    secret.write_text(token)
    source: dict[str, Any] = (
        {
            "type": "simulator",
            "name": "fleet",
            "scenario": "fleet",
            "seed": seed,
            "hours": fleet.hours,
            "speed": speed,
            "start": fleet.start,
        }
        if broker is None
        else {
            "type": "mqtt",
            "name": "fleet",
            "host": broker.host,
            "port": broker.port,
            "client_id": f"{GATEWAY}-{secrets.token_hex(4)}",
            "session_expiry_s": 0,
            "topics": [{"topic": f"{_TOPIC}/#"}],
            "format": "json",
        }
    )
    config = {
        "version": 1,
        "device": {"id": GATEWAY},
        "inputs": [source],
        "streams": [{"match": f"{device}/*", "device": device} for device in fleet.kinds],
        "uplink": {"url": hub, "token": {"file": str(secret)}, "interval_s": 0.5},
        "storage": {"dir": str(folder / "agent")},
    }
    path = folder / "agent.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _die_with_parent() -> None:
    # Runs in the child before exec: should the demo be killed outright, the agent still stops.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "edgewise", "agent", "run", "--config", str(config)]
    with log.open("wb") as sink:
        return subprocess.Popen(
            [*command, "--log-level", "warning"],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops the agent in order
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )


def _stop_agent(agent: subprocess.Popen[bytes]) -> None:
    if agent.poll() is None:
        agent.terminate()
        try:
            agent.wait(_AGENT_STOP_S)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()


@contextlib.contextmanager
def _hub(db: str, sock: socket.socket) -> Iterator[None]:
    """The hub's API and dashboard served on ``sock`` from a thread, while in the block."""
    import uvicorn

    from edgewise.hub import create_app

    config = uvicorn.Config(create_app(db_url=db), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, args=([sock],), name="hub", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the hub did not start")
            time.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def _publishing(
    broker: Broker, fleet: Fleet, *, seed: int, speed: float, failed: threading.Event
) -> Iterator[None]:
    """The fleet's devices publish their readings to ``broker`` (JSON, QoS 1), in a thread;
    ``failed`` is set if the broker stops taking them."""
    from edgewise.agent import Inbound, MqttPublisher
    from edgewise.agent.inputs.replay import ReplayInput, SimulatorInputConfig

    publish = MqttPublisher(
        host=broker.host, port=broker.port, client_id=f"edgewise-demo-{secrets.token_hex(4)}"
    )
    source = ReplayInput(
        SimulatorInputConfig(
            type="simulator",
            name="fleet",
            scenario="fleet",
            seed=seed,
            hours=fleet.hours,
            speed=speed,
            start=fleet.start,
        )
    )

    def send(message: Inbound) -> None:
        assert isinstance(message.payload, list)  # a simulator makes readings
        for r in message.payload:
            values = {k: None if v != v else v for k, v in r.values.items()}  # nan: missing
            body = {"stream": r.stream, "timestamp": r.timestamp, "values": values}
            if failed.is_set():
                return
            try:
                publish(f"{_TOPIC}/{r.stream}", json.dumps(body).encode(), 1, False)
            except (ConnectionError, TimeoutError, RuntimeError):
                failed.set()  # the demo stops and says why; the input thread ends quietly

    source.start(send)
    try:
        yield
    finally:
        source.stop()
        publish.close()


def _free_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def _guide(url: str, name: str, password: str, fleet: Fleet, speed: float, *, kept: bool) -> str:
    bearing = next(f for f in fleet.faults if f.kind == "bearing wear")
    lines = [
        f"edgewise demo: {len(fleet.kinds)} simulated devices (3 machines, "
        f"{len(fleet.meters.names)} smart meters, {len(fleet.wearables.names)} wearables) "
        f"-> an edge agent -> the hub, {fleet.hours:g} simulated hours at x{speed:g}",
        "",
        f"  dashboard  {url}/",
        f"  sign in    {name}",
        f"  password   {password}   (shown once; "
        f"{'disabled' if kept else 'gone'} when the demo ends)",
        "",
        "Open a device to watch its readings and scores arrive live; the injected faults:",
    ]
    for fault in fleet.faults:
        at = fault.start / speed
        lines.append(
            f"  {url}/devices/{fault.machine:<9}  {fault.kind} after {fault.start / 3600:g} "
            f"simulated hours (~{at:.0f} s)"
        )
    lines += [
        f"(the bearing on {bearing.machine} grows slowly: it shows hours after it starts)",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def run_web_demo(
    *,
    duration: float | None,
    seed: int,
    speed: float,
    broker: Broker | None,
    db: str | None,
) -> None:
    """Run the demo on the dashboard until Ctrl-C (SIGINT), SIGTERM or ``duration`` seconds."""
    from edgewise.hub import HubError, disable_user, upgrade

    if broker is not None:
        try:
            socket.create_connection((broker.host, broker.port), timeout=5).close()
        except OSError as error:
            raise InputError(f"no MQTT broker at {broker.host}:{broker.port}: {error}") from None
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    folder = Path(tempfile.mkdtemp(prefix="edgewise-demo-"))
    db_url = db or f"sqlite:///{folder / 'hub.db'}"
    # The story starts at the latest 06:00 UTC, the plant's day shift, whatever the hour: the
    # fleet's detectors learn from scratch, and the day's first hours teach them most.
    fleet = Fleet(seed=seed, start=(time.time() - _SIX) // _DAY * _DAY + _SIX)
    login: str | None = None
    try:
        try:
            upgrade(db_url)
            # An admin in a database thrown away at the end; in one that stays (--db), an
            # operator, so that disabling it at the end never meets "the last admin".
            role = "admin" if db is None else "operator"
            login, password, token = _provision(db_url, fleet, role=role)
        except HubError as error:
            raise InputError(f"the hub's database: {error}") from None
        sock = _free_port()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = _agent_config(
            folder, hub=url, token=token, fleet=fleet, seed=seed, speed=speed, broker=broker
        )
        agent = _start_agent(config, folder / "agent.log")
        try:
            lost = threading.Event()  # the broker stopped taking the devices' readings
            with (
                _hub(db_url, sock),
                _publishing(broker, fleet, seed=seed, speed=speed, failed=lost)
                if broker is not None
                else contextlib.nullcontext(),
            ):
                print(_guide(url, login, password, fleet, speed, kept=db is not None), flush=True)
                ended = time.monotonic() + (duration if duration is not None else float("inf"))
                story = time.monotonic() + fleet.hours * 3600.0 / speed
                while not stop.wait(0.2) and time.monotonic() < ended:
                    if story < time.monotonic() < ended:
                        story = float("inf")
                        print("the simulated day is over; the dashboard stays up", flush=True)
                    if agent.poll() is not None:
                        log = (folder / "agent.log").read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"the agent stopped (exit {agent.returncode}):\n{log}")
                    if lost.is_set():
                        raise RuntimeError("the MQTT broker stopped taking the devices' readings")
                print("edgewise demo: stopping", flush=True)
                _stop_agent(agent)  # first, so its last records reach the hub
        finally:
            _stop_agent(agent)
            sock.close()
    finally:
        if db is not None and login is not None:
            disable_user(db, login, actor="demo")
        shutil.rmtree(folder, ignore_errors=True)
