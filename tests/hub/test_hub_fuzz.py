"""Schemathesis fuzzes every operation of the hub's OpenAPI as an admin and as a device.

No request it makes may get a server error (5xx). The examples are few and derandomized, so
the run is short and repeatable.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hubtest import PASSWORD, Hub, person
from hypothesis import HealthCheck, given, settings

from edgewise.hub import CSRF_HEADER, SESSION_COOKIE, sign_in
from edgewise.hub._people import csrf_token

# Signing out would end the session the rest of the run uses.
_SKIP = {("POST", "/logout")}


def session_of(hub: Hub, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The headers (CSRF token) and cookies of a new session of ``name``."""
    cookie = sign_in(hub.db_url, name, PASSWORD).cookie
    assert cookie is not None
    return {CSRF_HEADER: csrf_token(cookie)}, {SESSION_COOKIE: cookie}


def fuzz(hub: Hub, *, headers: dict[str, str], cookies: dict[str, str]) -> int:
    """Run every operation's examples against ``hub``; how many requests were made."""
    # The description is for people only: a viewer reads it.
    reader_headers, reader_cookies = session_of(hub, "vera")
    schema = schemathesis.openapi.from_url(
        f"{hub.url}/openapi.json", headers=reader_headers, cookies=reader_cookies
    )
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in _SKIP:
            continue

        @settings(
            max_examples=6,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=hub.url, headers=headers, cookies=cookies)
            assert response.status_code < 500, case.as_curl_command()

        check()
    return calls


def test_no_server_error_as_an_admin(staffed: Hub) -> None:
    headers, cookies = session_of(staffed, "ada")
    assert fuzz(staffed, headers=headers, cookies=cookies) > 50


def test_no_server_error_as_a_device(staffed: Hub) -> None:
    headers = {"Authorization": f"Bearer {staffed.token}"}
    assert fuzz(staffed, headers=headers, cookies={}) > 50


def test_control_characters_are_refused_not_a_server_error(staffed: Hub) -> None:
    # PostgreSQL refuses NUL in text: each of these was a 500 there before names were checked.
    with person(staffed.url, "ada") as ada:
        answers = [
            ada.post("/api/v1/devices", json={"name": "a\0b"}),
            ada.post("/api/v1/devices", json={"name": "ab", "covers": ["\0"]}),
            ada.post("/api/v1/devices/a%00b/rotate"),
            ada.post("/api/v1/users/a%00b/disable"),
            ada.post("/api/v1/devices/press-7/relearn", json={"stream": "a\0"}),
            ada.post("/login", data={"name": "a\0b", "password": "x"}),
        ]
    assert [a.status_code for a in answers] == [400, 400, 404, 404, 400, 401]
