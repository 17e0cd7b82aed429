"""The agent's configuration: a versioned YAML file, validated, with errors at ``file:line:column``.

Everything the agent does is in it: who the device is, its inputs, which pipeline serves which
streams (pipelines are the core contract's specs: one spec may serve many streams), actions, the
uplink and the storage budget. Secrets are never in it, only where to find them
(:class:`~edgewise.agent.Secret`).
"""

from __future__ import annotations

import fnmatch
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgewise.stream import SpecError
from edgewise.stream._spec import PipelineSpec, build

from ._action_config import ActionConfig
from ._secret import Secret
from .inputs.http import HttpInputConfig
from .inputs.modbus import ModbusInputConfig
from .inputs.mqtt import MqttInputConfig
from .inputs.opcua import OpcuaInputConfig
from .inputs.replay import ReplayInputConfig, SimulatorInputConfig

__all__ = [
    "AgentConfig",
    "ConfigError",
    "StreamConfig",
    "UplinkConfig",
    "load_config",
    "parse_config",
]


class ConfigError(ValueError):
    """A configuration that cannot be used; ``errors``: one ``file:line:column: message`` each."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceConfig(_Model):
    """Who this agent is to the hub."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")


class StorageConfig(_Model):
    """Where the outbox and checkpoints live, and how much disk they may take."""

    dir: Path = Path("edgewise-agent")
    max_outbox_mb: float = Field(default=256.0, gt=0.0)
    checkpoint_every_s: float = Field(default=30.0, gt=0.0)


class StreamConfig(_Model):
    """Which streams a pipeline serves (a name or a glob), their units, what goes to the hub."""

    match: str = Field(min_length=1)
    pipeline: str = "default"
    units: dict[str, str] = Field(default_factory=dict)
    send_readings: bool = Field(
        default=True, description="Forward every reading with its detection record."
    )
    device: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The device these streams are of: its clock stamps them (default: this "
        "entry's match) and their records name it (default: the agent's device).",
    )

    @property
    def clock(self) -> str:
        """The device whose clock skew these streams' readings estimate."""
        return self.match if self.device is None else self.device


class SummaryConfig(_Model):
    """Per-stream summaries: min, mean, max and count per input, the top score, abnormal count."""

    window_s: float = Field(default=60.0, gt=0.0)


class UplinkConfig(_Model):
    """The hub: its URL, this agent's token, batch limits and pacing."""

    url: str = Field(pattern=r"^https?://")
    token: Secret
    ca: Path | None = None
    batch_records: int = Field(default=1000, ge=1)
    batch_bytes: int = Field(default=1 << 20, ge=1024)
    interval_s: float = Field(default=1.0, gt=0.0)
    timeout_s: float = Field(default=10.0, gt=0.0)
    backoff_max_s: float = Field(default=60.0, gt=0.0)

    def trust(self) -> ssl.SSLContext | None:
        """The certificates the hub's must chain to: those in ``ca``, or None for the system's.

        Raises ``ValueError`` naming the file when it holds no usable certificate.
        """
        if self.ca is None:
            return None
        try:
            return ssl.create_default_context(cafile=str(self.ca))
        except (OSError, ssl.SSLError) as error:
            raise ValueError(
                f"{self.ca}: no CA certificate could be read from it: {error}"
            ) from None


class ModelsConfig(_Model):
    """Signed model releases from the hub (``docs/releases.md``); needs ``uplink``."""

    root: Path = Field(
        description="The repository's root metadata given at set-up: the trust anchor."
    )
    every_s: float = Field(default=300.0, gt=0.0)


class MetricsConfig(_Model):
    """Prometheus ``/metrics`` and ``/healthz``; loopback unless told otherwise."""

    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)


InputConfig = Annotated[
    MqttInputConfig
    | HttpInputConfig
    | ModbusInputConfig
    | OpcuaInputConfig
    | ReplayInputConfig
    | SimulatorInputConfig,
    Field(discriminator="type"),
]


def _default_pipelines() -> dict[str, PipelineSpec]:
    # edgewise.detect.default_pipeline() as a spec, without importing the detectors to say so.
    steps = [{"step": "last_value"}, {"step": "default"}]
    return {"default": PipelineSpec(version=1, steps=steps)}  # type: ignore[arg-type]


class AgentConfig(_Model):
    """The whole configuration; see ``docs/agent.md`` for every field with examples."""

    version: Literal[1]
    device: DeviceConfig
    inputs: list[InputConfig] = Field(min_length=1)
    pipelines: dict[str, PipelineSpec] = Field(default_factory=dict)
    streams: list[StreamConfig] = Field(default_factory=lambda: [StreamConfig(match="*")])
    actions: list[ActionConfig] = Field(default_factory=list)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    summaries: SummaryConfig = Field(default_factory=SummaryConfig)
    uplink: UplinkConfig | None = None
    models: ModelsConfig | None = None
    metrics: MetricsConfig | None = None

    @model_validator(mode="after")
    def _default_pipeline(self) -> AgentConfig:
        # `default` is always there (the default detector alone) unless the file redefines it.
        self.pipelines.setdefault("default", _default_pipelines()["default"])
        return self

    def stream_config(self, stream: str) -> StreamConfig | None:
        """The first stream entry whose name or glob matches ``stream``."""
        for entry in self.streams:
            if entry.match == stream or fnmatch.fnmatchcase(stream, entry.match):
                return entry
        return None

    def device_of(self, stream: str) -> str | None:
        """The device whose clock stamps ``stream`` (None for a stream no entry matches)."""
        entry = self.stream_config(stream)
        return None if entry is None else entry.clock

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """What pydantic cannot see: references between sections, pipelines that do not build."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        used = {entry.pipeline for entry in self.streams}
        for name, spec in self.pipelines.items():
            try:
                build(spec.model_dump(), try_reading=name in used)
            except SpecError as error:
                found.append((("pipelines", name), str(error)))
        for i, entry in enumerate(self.streams):
            if entry.pipeline not in self.pipelines:
                known = ", ".join(sorted(self.pipelines)) or "none"
                found.append(
                    (("streams", i, "pipeline"), f"no pipeline {entry.pipeline!r} (known: {known})")
                )
        if any(a.mqtt is not None for a in self.actions) and not any(
            isinstance(s, MqttInputConfig) for s in self.inputs
        ):
            found.append(
                (("actions",), "MQTT actions publish to the broker of an MQTT input: add one")
            )
        if self.uplink is not None:
            try:
                self.uplink.trust()
            except ValueError as error:
                found.append((("uplink", "ca"), str(error)))
        if self.models is not None and self.uplink is None:
            found.append((("models",), "model releases come from the hub: add an uplink"))
        if self.models is not None and not self.models.root.is_file():
            found.append((("models", "root"), f"{self.models.root}: no such file"))
        seen: set[str] = set()
        for i, source in enumerate(self.inputs):
            if source.name in seen:
                found.append((("inputs", i, "name"), f"input name {source.name!r} is used twice"))
            seen.add(source.name)
        return found


def _locate(node: yaml.Node | None, loc: Sequence[str | int]) -> yaml.Node | None:
    """The deepest YAML node along pydantic's error location ``loc``."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    node = value
                    break
            # A part that is no key (a union's tag) names no node: stay where we are.
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
    return node


def _where(path: Path, root: yaml.Node | None, loc: Sequence[str | int]) -> str:
    node = _locate(root, loc)
    if node is None:
        return f"{path}:1:1"
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _message(loc: Sequence[str | int], text: str) -> str:
    where = ".".join(str(p) for p in loc if isinstance(p, int) or not p.startswith("function-"))
    return f"{where}: {text}" if where else text


def parse_config(text: str, path: Path) -> AgentConfig:
    """Validate the YAML ``text`` of ``path``; raise :class:`ConfigError` listing every error."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (1, 1) if mark is None else (mark.line + 1, mark.column + 1)
        raise ConfigError([f"{path}:{line}:{column}: {error.problem or error}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1:1: the configuration must be a mapping with `version: 1`"])
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(
            [
                f"{_where(path, root, e['loc'])}: {_message(e['loc'], e['msg'])}"
                for e in error.errors()
            ]
        ) from None
    problems = config.problems()
    if problems:
        raise ConfigError([f"{_where(path, root, loc)}: {_message(loc, m)}" for loc, m in problems])
    return config


def load_config(path: str | Path) -> AgentConfig:
    """The configuration in the YAML file ``path`` (see :func:`parse_config`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError([f"{path}:1:1: {error.strerror or error}"]) from None
    return parse_config(text, path)
