"""``edgewise agent run``: the agent with its inputs, actions, uplink and metrics, until a signal.

SIGINT and SIGTERM stop it gracefully (inputs stop, what they delivered is processed and stored,
the pipelines are checkpointed, the uplink gets a moment to drain; exit code 0). SIGHUP reloads
the configuration file without losing state (an invalid new file is reported and ignored).
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from ._actions import Actions
from ._agent import Agent
from ._config import AgentConfig, ConfigError, load_config
from ._decode import Decoded, decode
from ._inbound import Inbound, Input
from ._metrics import MetricsServer
from .inputs.http import HttpInputConfig
from .inputs.modbus import ModbusInput, ModbusInputConfig
from .inputs.mqtt import MqttInput, MqttInputConfig
from .inputs.opcua import OpcuaInput, OpcuaInputConfig
from .inputs.replay import ReplayInput

__all__ = ["open_inputs", "run"]

log = logging.getLogger("edgewise.agent")

_DRAIN_S = 2.0  # how long a graceful stop gives the uplink to empty the outbox


def open_inputs(config: AgentConfig) -> list[Input]:
    """The inputs the configuration names (each loads its library only when started)."""
    opened: list[Input] = []
    for source in config.inputs:
        if isinstance(source, MqttInputConfig):
            opened.append(MqttInput(source))
        elif isinstance(source, HttpInputConfig):
            opened.append(source.build())
        elif isinstance(source, ModbusInputConfig):
            opened.append(ModbusInput(source))
        elif isinstance(source, OpcuaInputConfig):
            opened.append(OpcuaInput(source))
        else:
            opened.append(ReplayInput(source))
    return opened


def decoder(config: AgentConfig) -> Callable[[Inbound], Decoded]:
    """How the agent turns payloads into readings: MQTT inputs may name streams by topic level."""
    from_topic = {
        s.name
        for s in config.inputs
        if isinstance(s, MqttInputConfig) and s.stream_level is not None
    }

    def run_decode(message: Inbound) -> Decoded:
        return decode(message, stream=message.topic if message.source in from_topic else None)

    return run_decode


def actions(config: AgentConfig, agent: Agent) -> Actions | None:
    """The local actions, claiming each event in the outbox; MQTT ones use the first broker."""
    if not config.actions:
        return None
    publish = None
    if any(a.mqtt is not None for a in config.actions):
        from ._mqtt_publish import MqttPublisher

        broker = next(s for s in config.inputs if isinstance(s, MqttInputConfig))
        publish = MqttPublisher(
            host=broker.host,
            port=broker.port,
            client_id=f"{broker.client_id}-actions",
            username=broker.username,
            password=broker.password,
            ca=None if broker.tls is None else broker.tls.ca,
        )
    return Actions(config.actions, publish=publish, fired=agent.outbox)


def run(path: str | Path, *, stop: threading.Event | None = None) -> int:
    """Run the agent configured in ``path`` until SIGINT/SIGTERM (or ``stop``); the exit code."""
    config = load_config(path)
    stop = stop or threading.Event()
    reload = threading.Event()
    agent = Agent(config, decode=decoder(config), inputs=open_inputs(config))
    local = actions(config, agent)
    if local is not None:
        agent.on_event = local.submit
    uplink = None
    if config.uplink is not None:
        from ._uplink import Uplink  # httpx, only for an agent that has a hub

        uplink = Uplink(
            config.uplink, agent=config.device.id, outbox=agent.outbox, on_command=agent.command
        )
    updater = None
    if config.models is not None and config.uplink is not None:
        from ._updater import HubFetcher, ModelUpdater  # python-tuf, only for signed models

        fetcher = HubFetcher(
            token=config.uplink.token.reveal(),
            verify=config.uplink.trust() or True,
            timeout_s=config.uplink.timeout_s,
        )
        updater = ModelUpdater(
            folder=config.storage.dir / "models",
            device=config.device.id,
            hub_url=config.uplink.url,
            root=config.models.root.read_bytes(),
            fetcher=fetcher,
            every_s=config.models.every_s,
        )
    metrics = None
    if config.metrics is not None:
        metrics = MetricsServer(
            agent, uplink, host=config.metrics.host, port=config.metrics.port, models=updater
        )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        (reload if signum == signal.SIGHUP else stop).set()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, on_signal)
    agent.start()
    # What start-up made (modules, the restored pipelines) lives as long as the process: kept
    # out of the collector's full passes, which otherwise scan it all and stall the worker.
    gc.freeze()
    if uplink is not None:
        uplink.start()
    if updater is not None:
        updater.start()
    if metrics is not None:
        metrics.start()
    log.info("agent %s running: %d inputs", config.device.id, len(agent.inputs))
    while not stop.wait(0.2):
        if reload.is_set():
            reload.clear()
            try:
                fresh = load_config(path)
            except ConfigError as error:
                log.error("reload refused, the running configuration stays:\n%s", error)
                continue
            agent.reload(fresh, open_inputs(fresh))
            log.info("configuration reloaded")
    if updater is not None:
        updater.stop()
        fetcher.close()
    agent.stop()
    if local is not None:
        local.close()
    if uplink is not None:
        uplink.stop(drain_s=_DRAIN_S)
    agent.close()
    if metrics is not None:
        metrics.stop()
    log.info("agent %s stopped", config.device.id)
    return 0
