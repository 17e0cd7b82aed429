"""``edgewise agent run``: the agent with its inputs, actions, uplink and metrics, until a signal.

SIGINT and SIGTERM stop it gracefully (inputs stop, what they delivered is processed and stored,
the pipelines are checkpointed, the uplink gets a moment to drain; exit code 0). SIGHUP reloads
the configuration file without losing state (an invalid new file is reported and ignored).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from ._agent import Agent
from ._config import AgentConfig, ConfigError, load_config
from ._inbound import Inbound, Input
from ._metrics import MetricsServer
from ._uplink import Uplink
from .inputs.mqtt import MqttInput, MqttInputConfig
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
        else:
            opened.append(ReplayInput(source))
    return opened


def decoder(config: AgentConfig) -> Callable[[Inbound], list]:  # type: ignore[type-arg]
    """How the agent turns payloads into readings, per input."""
    from_topic = {
        s.name
        for s in config.inputs
        if isinstance(s, MqttInputConfig) and s.stream_level is not None
    }

    def run_decode(message: Inbound):  # type: ignore[no-untyped-def]
        from ._decode import decode

        return decode(message, stream=message.topic if message.source in from_topic else None)

    return run_decode


def run(path: str | Path, *, stop: threading.Event | None = None) -> int:
    """Run the agent configured in ``path`` until SIGINT/SIGTERM (or ``stop``); the exit code."""
    config = load_config(path)
    stop = stop or threading.Event()
    reload = threading.Event()
    agent = Agent(config, decode=decoder(config), inputs=open_inputs(config))
    uplink = None
    if config.uplink is not None:
        uplink = Uplink(
            config.uplink, agent=config.device.id, outbox=agent.outbox, on_command=agent.command
        )
    metrics = None
    if config.metrics is not None:
        metrics = MetricsServer(agent, uplink, host=config.metrics.host, port=config.metrics.port)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        (reload if signum == signal.SIGHUP else stop).set()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, on_signal)
    agent.start()
    if uplink is not None:
        uplink.start()
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
    agent.stop()
    if uplink is not None:
        uplink.stop(drain_s=_DRAIN_S)
    agent.close()
    if metrics is not None:
        metrics.stop()
    log.info("agent %s stopped", config.device.id)
    return 0
