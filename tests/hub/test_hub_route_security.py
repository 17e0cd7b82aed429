"""Every route of the hub refuses strangers, the wrong device and a lower role.

The routes are walked from the app itself, so a new route is checked the moment it exists:
it must be in PUBLIC_ROUTES, or state here the least role (or the agent token) it needs.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends
from hubtest import PEOPLE, Hub, Server, person, reading

from edgewise.hub import (
    PUBLIC_ROUTES,
    ROLES,
    SESSION_COOKIE,
    Agent,
    add_device,
    agent,
    create_app,
    routes,
)

ALERT_ACTIONS = ("acknowledge", "escalate", "close", "reopen", "accept")

LEAST_ROLE = {
    ("GET", "/"): "viewer",
    ("GET", "/openapi.json"): "viewer",
    ("GET", "/api/v1/me"): "viewer",
    ("POST", "/logout"): "viewer",
    ("GET", "/api/v1/devices"): "viewer",
    ("POST", "/api/v1/devices/{name}/relearn"): "operator",
    ("POST", "/api/v1/devices"): "admin",
    ("POST", "/api/v1/devices/{name}/rotate"): "admin",
    ("POST", "/api/v1/devices/{name}/revoke"): "admin",
    ("POST", "/api/v1/devices/{name}/decommission"): "admin",
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users/{name}/disable"): "admin",
    ("GET", "/api/v1/audit"): "admin",
    # The dashboard (docs/dashboard.md).
    ("GET", "/alerts"): "viewer",
    ("GET", "/models"): "viewer",
    ("GET", "/devices/{name}"): "viewer",
    ("GET", "/devices/{name}/history"): "viewer",
    ("GET", "/devices/{name}/live"): "viewer",
    ("GET", "/api/v1/alerts"): "viewer",
    ("GET", "/alerts/live"): "viewer",
    **{("POST", f"/api/v1/alerts/{{alert_id}}/{act}"): "operator" for act in ALERT_ACTIONS},
    ("POST", "/alerts/{alert_id}"): "operator",
}
"""The least role each route for people needs."""

AGENT_ROUTES = {
    ("POST", "/api/v1/ingest"),
    ("GET", "/api/v1/releases/metadata/{name}"),
    ("GET", "/api/v1/releases/targets/{path:path}"),
}
"""Routes for agents: a device token, which covers only its own devices."""

PAGES = {
    ("GET", "/"),
    ("GET", "/alerts"),
    ("GET", "/models"),
    ("GET", "/devices/{name}"),
    ("POST", "/alerts/{alert_id}"),  # the inbox's form
}
"""HTML pages: a stranger is sent to the sign-in page rather than answered 401."""

NAME_OF = {role: name for name, role in PEOPLE.items()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(client: httpx.Client, method: str, path: str, **options: Any) -> httpx.Response:
    """``method path`` with path parameters filled in and, for unsafe methods, an empty body."""
    url = path.replace("{name}", "press-7").replace("{alert_id}", "1").replace("{path:path}", "x")
    body = {} if method not in ("GET", "HEAD") else None
    return client.request(method, url, json=body, follow_redirects=False, **options)


@pytest.fixture(scope="module")
def every_route(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    from edgewise.hub import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('routes') / 'hub.db'}"
    upgrade(url)
    return routes(create_app(db_url=url))


def test_every_route_is_public_or_states_who_may_call_it(
    every_route: list[tuple[str, str]],
) -> None:
    stated = PUBLIC_ROUTES | LEAST_ROLE.keys() | AGENT_ROUTES
    assert set(every_route) - stated == set(), "state the least role of these routes"
    assert stated - set(every_route) == set(), "these routes are gone: drop them here"


def test_only_the_public_routes_answer_strangers(
    staffed: Hub, every_route: list[tuple[str, str]]
) -> None:
    forged = {SESSION_COOKIE: "x" * 43}
    with person(staffed.url, None) as stranger, person(staffed.url, None, cookies=forged) as fake:
        for method, path in every_route:
            for client in (stranger, fake):
                answer = call(client, method, path)
                if (method, path) in PUBLIC_ROUTES:
                    assert answer.status_code not in (401, 403), (method, path)
                elif (method, path) in PAGES:
                    assert answer.status_code == 303, (method, path)
                    assert answer.headers["location"].startswith("/login?next="), (method, path)
                else:
                    assert answer.status_code == 401, (method, path, answer.text)
                    assert answer.headers["www-authenticate"], (method, path)


def test_a_device_token_is_not_a_person(staffed: Hub) -> None:
    with person(staffed.url, None, headers=bearer(staffed.token)) as device:
        for method, path in LEAST_ROLE:
            expected = 303 if (method, path) in PAGES else 401
            assert call(device, method, path).status_code == expected, (method, path)


def test_a_lower_role_is_refused(staffed: Hub) -> None:
    for role in ROLES[:-1]:
        with person(staffed.url, NAME_OF[role]) as lower:
            for (method, path), least in LEAST_ROLE.items():
                if ROLES.index(role) < ROLES.index(least):
                    answer = call(lower, method, path)
                    assert answer.status_code == 403, (role, method, path, answer.text)
                    assert f"needs the {least} role" in answer.json()["error"]


def test_unsafe_requests_without_the_csrf_token_are_refused(staffed: Hub) -> None:
    with person(staffed.url, "ada") as admin:
        del admin.headers["X-CSRF-Token"]
        for method, path in LEAST_ROLE:
            if method != "GET":
                answer = call(admin, method, path)
                assert answer.status_code == 403, (method, path)
                assert "CSRF" in answer.json()["error"]


def test_another_devices_token_is_refused(staffed: Hub) -> None:
    other = add_device(staffed.db_url, "press-8")
    # press-8 may not speak for press-7, nor send the records of a device it does not front.
    assert staffed.post([reading(0)], token=other).status_code == 403
    theirs = staffed.post([reading(0, "plc-1")], token=other, agent="press-8")
    assert theirs.status_code == 403
    assert staffed.post([reading(0, "press-8")], token=other, agent="press-8").status_code == 200


def test_the_agent_dependency_names_the_agent_and_what_it_covers(hub: Hub) -> None:
    app = create_app(db_url=hub.db_url)

    @app.get("/api/v1/agent/covers")
    def covers(found: Annotated[Agent, Depends(agent)]) -> list[str]:
        return sorted(found.covers)

    with Server(app) as server:
        answers = [
            httpx.get(f"{server.url}/api/v1/agent/covers", headers=headers)
            for headers in (
                {},
                {"Authorization": "Bearer nope"},
                {"Authorization": f"Bearer {hub.token}"},
            )
        ]
    assert [a.status_code for a in answers] == [401, 401, 200]
    assert answers[0].headers["www-authenticate"] == "Bearer"
    assert answers[2].json() == ["plc-1", "plc-2", "press-7"]
