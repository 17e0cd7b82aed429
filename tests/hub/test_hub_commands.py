"""Commands: every answer carries the pending ones of the covered devices until acknowledged."""

from __future__ import annotations

import pytest
from hubtest import Hub, reading

from edgewise.hub import HubError, add_device, queue_command
from edgewise.hub._db import session
from edgewise.hub._models import Command


def test_commands_are_sent_until_acknowledged_then_never_again(hub: Hub) -> None:
    relearn = queue_command(hub.db_url, "plc-1", "relearn", stream="temp")
    spec = {"spec": {"version": 1, "steps": [{"step": "default"}]}, "streams": "pump-*"}
    pipeline = queue_command(hub.db_url, "press-7", "pipeline", body=spec)
    expected = [
        {"id": relearn, "device": "plc-1", "kind": "relearn", "stream": "temp", "body": {}},
        {"id": pipeline, "device": "press-7", "kind": "pipeline", "stream": None, "body": spec},
    ]
    assert hub.post([]).json()["commands"] == expected  # an empty poll
    assert hub.post([reading(0)]).json()["commands"] == expected  # not yet acknowledged
    answer = hub.post([], acked=[relearn]).json()
    assert answer["commands"] == expected[1:]
    assert hub.post([], acked=[relearn, pipeline]).json()["commands"] == []
    assert hub.post([]).json()["commands"] == []


def test_an_agent_sees_and_acknowledges_only_the_commands_of_its_devices(hub: Hub) -> None:
    other = add_device(hub.db_url, "press-8")
    theirs = queue_command(hub.db_url, "press-8", "relearn", stream="s")
    ours = queue_command(hub.db_url, "plc-2", "relearn", stream="s")
    assert [c["id"] for c in hub.post([], acked=[theirs]).json()["commands"]] == [ours]
    answer = hub.post([], token=other, agent="press-8").json()
    assert [c["id"] for c in answer["commands"]] == [theirs]  # not acknowledged by press-7


def test_a_batch_refused_does_not_acknowledge_its_commands(hub: Hub) -> None:
    relearn = queue_command(hub.db_url, "plc-1", "relearn", stream="temp")
    assert hub.post([{**reading(0), "seq": -1}], acked=[relearn]).status_code == 422
    assert [c["id"] for c in hub.post([]).json()["commands"]] == [relearn]


def test_commands_are_checked_when_queued(hub: Hub) -> None:
    with pytest.raises(HubError, match="names the stream"):
        queue_command(hub.db_url, "plc-1", "relearn")
    with pytest.raises(HubError, match="pipeline command has body"):
        queue_command(hub.db_url, "plc-1", "pipeline", body={"spec": {}})
    with pytest.raises(HubError, match="no device named 'plc-9'"):
        queue_command(hub.db_url, "plc-9", "relearn", stream="s")
    assert hub.post([]).json()["commands"] == []


def test_a_command_the_agent_refused_is_acknowledged_with_its_reason(hub: Hub) -> None:
    spec = {"spec": {"version": 1, "steps": [{"step": "nope"}]}, "streams": "*"}
    refused = queue_command(hub.db_url, "press-7", "pipeline", body=spec)
    relearn = queue_command(hub.db_url, "plc-1", "relearn", stream="temp")
    why = "the pipeline spec does not build: step 1: no step named 'nope'"
    answer = hub.post([], acked=[{"id": refused, "error": why}, relearn])
    assert answer.status_code == 200 and answer.json()["commands"] == []
    with session(hub.db_url) as s:
        assert s.get(Command, refused).refused == why  # type: ignore[union-attr]
        assert s.get(Command, relearn).refused is None  # type: ignore[union-attr]
    bad = hub.post([], acked=[{"id": relearn, "error": ""}])
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("acked_commands[0]: a command id, or {")
