"""People: the CLI makes them, sign-in sets a strict session cookie, CSRF and rate limits hold."""

from __future__ import annotations

import logging
import ssl
import time
from pathlib import Path

import pytest
from hubtest import PASSWORD, Hub, Server, person, sign_in
from typer.testing import CliRunner

from edgewise.cli import app
from edgewise.hub import (
    LOGIN_LIMIT,
    LOGIN_WINDOW_S,
    SESSION_COOKIE,
    SESSION_S,
    add_user,
    audit_entries,
    create_app,
    disable_user,
    list_users,
    person_of,
    upgrade,
)
from edgewise.hub import (
    sign_in as sign_in_store,
)
from peers.certs import self_signed

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    return url


def hub(db: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["hub", *args, "--db", db], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_admin_create_takes_the_password_from_stdin_or_a_prompt_asked_twice(db: str) -> None:
    assert hub(db, "admin", "create", "ada", "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    code, _, err = hub(db, "admin", "create", "bob", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0 and err.endswith("edgewise: admin bob added\n")
    assert [(u["name"], u["role"]) for u in list_users(db)] == [("ada", "admin"), ("bob", "admin")]
    assert sign_in_store(db, "bob", PASSWORD).cookie is not None


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["admin", "create", "ada"], "short\n", "a password has at least 12 characters"),
        (["admin", "create", "ada"], f"{PASSWORD}\n", "a person named 'ada' exists already"),
        (
            ["user", "add", "x", "--role", "root"],
            "",
            "unknown role 'root': viewer, operator, admin",
        ),
        (["user", "add", "a b"], f"{PASSWORD}\n", "a person's name is 1 to 64 letters"),
        (["user", "disable", "ada"], "", "'ada' is the last active admin: add another first"),
        (["user", "disable", "nobody"], "", "no person named 'nobody'"),
    ],
)
def test_bad_people_commands_are_one_line_and_change_nothing(
    db: str, args: list[str], stdin: str, message: str
) -> None:
    add_user(db, "ada", role="admin", password=PASSWORD)
    code, out, err = hub(db, *args, "--password-stdin", stdin=stdin) if stdin else hub(db, *args)
    assert code == 2 and out == ""
    assert err.startswith(f"edgewise: error: {message}") and err.count("\n") == 1
    assert [u["name"] for u in list_users(db)] == ["ada"]


def test_user_add_list_and_disable(db: str) -> None:
    add_user(db, "ada", role="admin", password=PASSWORD)
    added = hub(db, "user", "add", "otto", "--role", "operator", "--password-stdin", stdin=PASSWORD)
    assert added[0] == 0
    assert hub(db, "user", "disable", "otto")[0] == 0
    code, out, _ = hub(db, "user", "list")
    assert code == 0
    assert out.split("\n")[1:3] == ["ada   admin     active", "otto  operator  disabled"]
    assert sign_in_store(db, "otto", PASSWORD).cookie is None
    actions = [(e["action"], e["target"]) for e in audit_entries(db)]
    assert actions[:3] == [("login.failed", "otto"), ("user.disable", "otto"), ("user.add", "otto")]
    assert audit_entries(db)[1]["actor"].startswith("cli:")


def test_there_are_no_default_credentials(db: str) -> None:
    assert list_users(db) == []
    for name in ("admin", "root", "edgewise"):
        for password in ("admin", "password", "edgewise", name):
            assert sign_in_store(db, name, password).cookie is None


def test_the_login_page_is_a_labelled_form(staffed: Hub) -> None:
    with person(staffed.url, None) as client:
        page = client.get("/login?next=/devices")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for part in ('<html lang="en">', '<label for="name">', '<label for="password">',
                 'autocomplete="current-password"', 'name="next" value="/devices"'):  # fmt: skip
        assert part in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_sign_in_sets_a_strict_http_only_cookie_secure_over_tls(
    staffed: Hub, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    with (
        Server(create_app(db_url=staffed.db_url), tls=(cert, key)) as server,
        person(server.url, None, verify=trust) as tls,
    ):
        over_tls = tls.post("/login", data={"name": "vera", "password": PASSWORD})
    with person(staffed.url, None) as plain:
        over_http = plain.post("/login", data={"name": "vera", "password": PASSWORD, "next": "/x"})
    assert over_http.status_code == 303 and over_http.headers["location"] == "/x"
    for answer, secure in ((over_http, False), (over_tls, True)):
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert f"Max-Age={SESSION_S}" in cookie
        assert ("Secure" in cookie) is secure


def test_sign_in_goes_only_to_pages_of_this_hub(staffed: Hub) -> None:
    with person(staffed.url, None) as client:
        for target in ("//evil.example/", "https://evil.example/"):
            answer = client.post(
                "/login",
                data={"name": "vera", "password": PASSWORD, "next": target},
                follow_redirects=False,
            )
            assert answer.headers["location"] == "/"
        other_site = {"Origin": "https://evil.example"}
        refused = client.post(
            "/login", data={"name": "vera", "password": PASSWORD}, headers=other_site
        )
        assert refused.status_code == 403


def test_a_page_sends_strangers_to_sign_in_and_back(staffed: Hub) -> None:
    with person(staffed.url, None) as client:
        answer = client.get("/", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/"
        sign_in(client, "otto")
        # The dashboard's fleet page, its header naming who is signed in and their role.
        assert 'otto <span class="role">operator</span>' in client.get("/").text


def test_unsafe_requests_need_the_sessions_csrf_token(staffed: Hub) -> None:
    with person(staffed.url, "ada") as client:
        csrf = client.headers.pop("X-CSRF-Token")
        new = {"name": "press-9"}
        assert client.post("/api/v1/devices", json=new).status_code == 403
        wrong = {"X-CSRF-Token": "0" * len(csrf)}
        assert client.post("/api/v1/devices", json=new, headers=wrong).status_code == 403
        right = {"X-CSRF-Token": csrf}
        assert client.post("/api/v1/devices", json=new, headers=right).status_code == 201
        # A web form carries it as a field: sign out with the form the start page has.
        assert f'value="{csrf}"' in client.get("/").text
        assert client.post("/logout", data={"csrf_token": "x"}).status_code == 403
        out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert client.get("/api/v1/me").status_code == 401


def test_failed_sign_ins_are_audited_and_limited_per_name(db_url: str) -> None:
    add_user(db_url, "vera", role="viewer", password=PASSWORD)
    now = time.time()
    for _ in range(LOGIN_LIMIT):
        assert sign_in_store(db_url, "vera", "wrong password!", now=now).cookie is None
    throttled = sign_in_store(db_url, "vera", PASSWORD, now=now)
    assert throttled.cookie is None and throttled.retry_after_s == LOGIN_WINDOW_S
    # Other names are not held back, and the window passes.
    add_user(db_url, "otto", role="operator", password=PASSWORD)
    assert sign_in_store(db_url, "otto", PASSWORD, now=now).cookie is not None
    later = sign_in_store(db_url, "vera", PASSWORD, now=now + LOGIN_WINDOW_S + 1)
    assert later.cookie is not None
    actions = [e["action"] for e in audit_entries(db_url) if e["target"] == "vera"]
    assert actions[:2] == ["login", "login.throttled"]
    assert actions.count("login.failed") == LOGIN_LIMIT


def test_the_sign_in_form_answers_429_with_retry_after(staffed: Hub) -> None:
    with person(staffed.url, None) as client:
        wrong = {"name": "nobody", "password": "wrong password!"}
        for _ in range(LOGIN_LIMIT):
            answer = client.post("/login", data=wrong)
            assert answer.status_code == 401 and "Wrong name or password." in answer.text
        answer = client.post("/login", data=wrong)
    assert answer.status_code == 429 and answer.headers["retry-after"] == str(LOGIN_WINDOW_S)


def test_sessions_end_when_they_expire_or_the_person_is_disabled(db_url: str) -> None:
    add_user(db_url, "ada", role="admin", password=PASSWORD)
    add_user(db_url, "vera", role="viewer", password=PASSWORD)
    cookie = sign_in_store(db_url, "vera", PASSWORD).cookie
    assert cookie is not None
    found = person_of(db_url, cookie)
    assert found is not None and (found.name, found.role) == ("vera", "viewer")
    assert person_of(db_url, cookie, now=time.time() + SESSION_S + 1) is None
    disable_user(db_url, "vera", actor="ada")
    assert person_of(db_url, cookie) is None


def test_passwords_and_tokens_are_never_logged_or_audited(
    staffed: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with person(staffed.url, "ada") as client:
        cookie = client.cookies[SESSION_COOKIE]
        assert cookie
        token = client.post("/api/v1/devices", json={"name": "press-9"}).json()["token"]
        client.post("/login", data={"name": "ada", "password": "not the password"})
    # The hub's side only: the test's own client (httpx, httpcore) logs what it receives.
    logged = "\n".join(
        f"{r.getMessage()} {r.args}"
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
    )
    audit = str(audit_entries(staffed.db_url))
    for secret in (PASSWORD, "not the password", cookie, token):
        assert secret not in logged and secret not in audit
