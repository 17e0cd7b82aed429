"""Saving and loading a step, its streams included, in the versioned state format.

A saved step is a state document (see :mod:`edgewise.stream._state`) with::

    spec      the step's spec (registered name and parameters; a pipeline spec for a pipeline)
    template  the step's own learned state: {"version": <its state_version>, "state": {...}}
              (and "steps": [...] for the steps inside a pipeline)
    lanes     the same for each stream in memory, by stream name
    meta      whatever the caller saved beside it (the command line: its columns)

Loading builds the step from its spec, checks every state version, restores the state and lets
each step check that its arrays fit its parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._base import Step
from ._state import StateError, dump_document, load_document

__all__ = ["lane_document", "load_state", "restore_lane", "save_state"]


def _body(step: Step) -> dict[str, Any]:
    body: dict[str, Any] = {"version": type(step).state_version, "state": step._learned_state()}
    children = step._children()
    if children:
        body["steps"] = [_body(child) for child in children]
    return body


def _restore(step: Step, body: Any, where: str) -> None:
    if not isinstance(body, Mapping) or not isinstance(body.get("state"), Mapping):
        raise StateError(f"{where}: no learned state")
    name = type(step).__name__
    version = body.get("version")
    if version != type(step).state_version:
        raise StateError(
            f"{where}: the state of {name} has version {version!r}; this edgewise reads version "
            f"{type(step).state_version} (saved by another release: rebuild the state)"
        )
    try:
        step._restore(body["state"])
    except StateError as error:
        raise StateError(f"{where}: {error}") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        raise StateError(f"{where}: the state does not fit {name} ({error})") from None
    children = step._children()
    bodies = body.get("steps", [])
    if len(bodies) != len(children):
        raise StateError(f"{where}: state for {len(bodies)} steps, but {name} has {len(children)}")
    for i, (child, child_body) in enumerate(zip(children, bodies, strict=True)):
        _restore(child, child_body, f"{where}, step {i + 1}")


def _spec(step: Step) -> dict[str, Any]:
    from ._spec import SpecError

    try:
        return step.to_spec()
    except SpecError as error:
        raise StateError(str(error)) from None


def _build(spec: Any, origin: str) -> Step:
    from ._spec import SpecError, build

    try:
        return build(spec)
    except SpecError as error:
        raise StateError(f"{origin}: {error}") from None


def save_state(
    step: Step,
    path: str | Path | None = None,
    *,
    kind: str = "npz",
    meta: Mapping[str, Any] | None = None,
) -> bytes:
    """Save ``step``, its spec, learned state and streams in memory; return the bytes written.

    ``kind`` is ``"npz"`` (arrays as binary members) or ``"json"`` (one text document). With
    ``path``, the file is replaced atomically.
    """
    lanes = step.__dict__.get("lanes_")
    body = {
        "spec": _spec(step),
        "template": _body(step),
        "lanes": {} if lanes is None else {s: _body(lane) for s, lane in lanes.active.items()},
        "meta": dict(meta or {}),
    }
    return dump_document(body, None if path is None else Path(path), kind=kind)


def load_state(source: str | Path | bytes) -> tuple[Step, dict[str, Any]]:
    """The step saved by :func:`save_state` (from a path or bytes), and the ``meta`` saved with it.

    Raises :class:`~edgewise.stream.StateError` with one line saying what is wrong.
    """
    if isinstance(source, bytes):
        data, origin = source, "state"
    else:
        origin = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as error:
            raise StateError(f"{origin}: {error.strerror or error}") from None
    document = load_document(data, origin)
    step = _build(document.get("spec"), origin)
    _restore(step, document.get("template"), f"{origin}: {type(step).__name__}")
    lanes = document.get("lanes")
    if not isinstance(lanes, Mapping):
        raise StateError(f"{origin}: no streams in the state")
    for stream, body in lanes.items():
        lane = step._new_lane(stream)
        _restore(lane, body, f"{origin}: stream {stream!r}")
        step._lanes().active[stream] = lane
    meta = document.get("meta", {})
    return step, dict(meta) if isinstance(meta, Mapping) else {}


def lane_document(
    owner: Step, lane: Step, *, spec: Mapping[str, Any] | None = None, kind: str = "npz"
) -> bytes:
    """One stream's state, for a state store or a checkpoint.

    ``spec`` is ``owner``'s spec when the caller has it already: building it costs more than
    the lane's state, so one who saves many lanes of one owner builds it once. ``kind`` as in
    :func:`save_state`.
    """
    body = {
        "spec": _spec(owner) if spec is None else spec,
        "stream": lane.stream_,
        "lane": _body(lane),
    }
    return dump_document(body, kind=kind)


def restore_lane(
    owner: Step, stream: str, data: bytes, *, spec: Mapping[str, Any] | None = None
) -> Step:
    """The lane of ``stream`` that :func:`lane_document` saved, for ``owner`` (whose spec the
    caller may pass, see :func:`lane_document`)."""
    origin = f"stored state of stream {stream!r}"
    document = load_document(data, origin)
    expected = _spec(owner) if spec is None else spec
    if document.get("spec") != expected or document.get("stream") != stream:
        raise StateError(f"{origin}: it was saved by another configuration or for another stream")
    lane = owner._new_lane(stream)
    _restore(lane, document.get("lane"), origin)
    return lane
