"""Action configuration: when an action fires, how often at most, and what it does.

Templates (an MQTT topic or payload, a command's arguments) are :meth:`str.format` strings over
a fixed set of the event's fields (:data:`TEMPLATE_FIELDS`); anything else (an unknown field,
``{device.__class__}``, ``{stream[0]}``, a format spec the value rejects) is an error when the
configuration loads, not when the event comes.
"""

from __future__ import annotations

import string
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ._event import Event
from ._secret import Secret

__all__ = [
    "TEMPLATE_FIELDS",
    "ActionConfig",
    "CommandAction",
    "MqttAction",
    "RateConfig",
    "WebhookAction",
    "render",
    "template_values",
]

TEMPLATE_FIELDS = frozenset(
    {
        "device",
        "stream",
        "seq",
        "name",
        "score",
        "explanation",
        "timestamp",
        "detector",
        "model_version",
        "key",
    }
)
"""The event fields a template may name."""

_EVENT_KINDS = ("alarm", "end", "accept", "relearn")

# A stand-in event that checks templates at load time: every field has its real type.
_SAMPLE = Event("press-7", "pump-1", 41, "alarm", 1.7e9, 0.98, "temp=95", "default", "1bfe90")


def template_values(event: Event) -> dict[str, Any]:
    """The values templates see: plain strings and numbers, never the event object itself.

    >>> template_values(_SAMPLE)["key"]
    'press-7/pump-1/41/alarm'
    """
    return {
        "device": event.device,
        "stream": event.stream,
        "seq": event.seq,
        "name": event.name,
        "score": event.score,
        "explanation": event.explanation,
        "timestamp": event.timestamp,
        "detector": event.detector,
        "model_version": event.model_version,
        "key": event.key,
    }


def render(template: str, event: Event) -> str:
    """Fill ``template`` with the event's fields (a checked template; see :func:`check_template`).

    >>> render("plant/{device}/{stream}/stop", _SAMPLE)
    'plant/press-7/pump-1/stop'
    >>> render("{score:.2f}", _SAMPLE)
    '0.98'
    """
    return template.format_map(template_values(event))


def check_template(template: str) -> str:
    """``template`` if it names only :data:`TEMPLATE_FIELDS`, plainly, and renders; else raise.

    >>> check_template("{stream.__class__}")
    Traceback (most recent call last):
    ...
    ValueError: template '{stream.__class__}': field 'stream.__class__' is not one of ...
    """
    try:
        fields = _fields(template)
    except ValueError as error:
        raise ValueError(f"template {template!r}: {error}") from None
    for field in fields:
        if field not in TEMPLATE_FIELDS:
            allowed = ", ".join(sorted(TEMPLATE_FIELDS))
            raise ValueError(f"template {template!r}: field {field!r} is not one of {allowed}")
    try:
        render(template, _SAMPLE)
    except (ValueError, TypeError) as error:
        raise ValueError(f"template {template!r}: {error}") from None
    return template


def _fields(template: str) -> list[str]:
    """The field names in ``template`` and in its format specs (``{score:{width}}``)."""
    fields: list[str] = []
    for _, field, spec, _ in string.Formatter().parse(template):
        if field is None:
            continue
        fields.append(field)
        if spec:
            fields.extend(_fields(spec))
    return fields


Template = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateConfig(_Model):
    """A token bucket: ``burst`` firings at once, refilled at ``per_s`` a second."""

    per_s: float = Field(gt=0.0)
    burst: int = Field(ge=1)


class MqttAction(_Model):
    """Publish a command on the local broker. Without ``payload``, the event as JSON."""

    topic: Template
    payload: str | None = None
    qos: Literal[0, 1] = 1
    retain: bool = False

    @field_validator("topic", "payload")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value)


class WebhookAction(_Model):
    """POST the event as JSON to ``url``, signed with ``secret`` (see ``verify_signature``)."""

    url: str = Field(pattern=r"^https?://")
    secret: Secret
    timeout_s: float = Field(default=5.0, gt=0.0)


class CommandAction(_Model):
    """Run a program, without a shell; each template fills exactly one argument."""

    argv: list[Template] = Field(min_length=1)
    timeout_s: float = Field(default=10.0, gt=0.0)

    @field_validator("argv")
    @classmethod
    def _check(cls, argv: list[str]) -> list[str]:
        # The program itself is fixed: an event must never choose what runs.
        if _fields(argv[0]):
            raise ValueError(f"argv[0] {argv[0]!r} must be a fixed program, not a template")
        return [check_template(arg) for arg in argv]


class ActionConfig(_Model):
    """One local action: which events (``on``, ``streams``), how often (``rate``), what it does.

    ``on`` holds event names or kinds: ``"alarm"``, ``"end"`` (every ``end:<input>``),
    ``"end:temp"`` (that input only), ``"accept"``, ``"relearn"``, or ``"*"`` for all;
    ``streams`` is a glob over stream names. Exactly one of ``mqtt``, ``webhook``, ``command``.

    >>> a = ActionConfig.model_validate(
    ...     {"name": "stop-pump", "on": ["alarm"], "streams": "pump-*",
    ...      "mqtt": {"topic": "plant/{stream}/cmd", "payload": "stop"}})
    >>> a.kind, a.matches(_SAMPLE), a.rate
    ('mqtt', True, RateConfig(per_s=1.0, burst=10))
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    on: list[str] = Field(default_factory=lambda: ["alarm"], min_length=1)
    streams: str = Field(default="*", min_length=1)
    rate: RateConfig = RateConfig(per_s=1.0, burst=10)
    mqtt: MqttAction | None = None
    webhook: WebhookAction | None = None
    command: CommandAction | None = None

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML) reads the key `on` as the boolean true.
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @field_validator("on", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("on")
    @classmethod
    def _known(cls, on: list[str]) -> list[str]:
        for name in on:
            kind, _, input_ = name.partition(":")
            if name == "*" or (kind in _EVENT_KINDS and not input_):
                continue
            if kind in ("end", "accept") and input_:
                continue
            raise ValueError(
                f"unknown event {name!r}: expected one of {', '.join(_EVENT_KINDS)}, "
                "end:<input>, accept:<input> or *"
            )
        return on

    @model_validator(mode="after")
    def _exactly_one(self) -> ActionConfig:
        kinds = [k for k in ("mqtt", "webhook", "command") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"an action does exactly one of mqtt, webhook, command; got {kinds or 'none'}"
            )
        return self

    @property
    def kind(self) -> Literal["mqtt", "webhook", "command"]:
        """What the action does."""
        if self.mqtt is not None:
            return "mqtt"
        return "webhook" if self.webhook is not None else "command"

    def matches(self, event: Event) -> bool:
        """Whether ``event`` triggers this action (its name and its stream)."""
        named = any(
            on == "*" or event.name == on or event.name.startswith(on + ":") for on in self.on
        )
        return named and fnmatchcase(event.stream, self.streams)
