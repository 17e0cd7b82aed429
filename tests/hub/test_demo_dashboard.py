"""``edgewise demo`` end to end, as a subprocess: it prints the dashboard and a login, the hub
answers, devices of every kind store detections, an alarm is raised, and Ctrl-C leaves nothing
behind; the same over a real broker and PostgreSQL; and in Chromium, a live point arrives."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_dashboard_browser import SHOTS, chromium  # noqa: F401 (a fixture)
from typer.testing import CliRunner

from edgewise.bench._services import Mosquitto
from edgewise.cli import app
from edgewise.hub import list_users
from edgewise.sim import Fleet

DEADLINE_S = 120.0  # a loaded CI machine; the demo itself shows its first points in seconds

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="counts children in /proc")


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Demo:
    """A running demo: its process, what it printed, a client signed in with its login."""

    process: subprocess.Popen[str]
    url: str
    name: str
    password: str
    printed_at: float  # monotonic time at which the login was read
    client: httpx.Client

    def history(self, device: str) -> dict[str, Any]:
        answer = self.client.get(f"/devices/{device}/history")
        assert answer.status_code == 200, answer.text
        points: dict[str, Any] = answer.json()
        return points

    def scored(self, device: str) -> bool:
        streams = self.history(device)["streams"]
        return any(s is not None for each in streams.values() for s in each["score"])

    def interrupt(self) -> str:
        """Ctrl-C; what it printed after the login. The agent, its child, must be gone too."""
        helpers = children(self.process.pid)
        assert helpers, "the agent runs as a child process"
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, out
        assert "Traceback" not in out
        assert not [pid for pid in helpers if alive(pid)]
        return out


@contextmanager
def demo(tmp: Path, *options: str) -> Iterator[Demo]:
    """``edgewise demo OPTIONS`` with its temporary folder in ``tmp``, signed in."""
    command = [sys.executable, "-m", "edgewise", "demo", *options]
    env = {**os.environ, "TMPDIR": str(tmp)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        found: dict[str, str] = {}
        for line in process.stdout:
            for key in ("dashboard", "sign in", "password"):
                match = re.match(rf"\s+{key}\s+(\S+)", line)
                if match:
                    found[key] = match.group(1)
            if len(found) == 3:
                break
        assert len(found) == 3, f"the demo ended before printing its login: {found}"
        printed_at = time.monotonic()
        url = found["dashboard"].rstrip("/")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert len(found["password"]) >= 12
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            assert client.get("/devices/press-1/history").status_code == 401  # signed out
            form = {"name": found["sign in"], "password": found["password"]}
            assert client.post("/login", data=form).status_code == 303
            yield Demo(process, url, found["sign in"], found["password"], printed_at, client)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def wait_for(demo: Demo, done: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        assert demo.process.poll() is None, "the demo stopped early"
        assert time.monotonic() < deadline, f"no {what} after {DEADLINE_S:.0f} s"
        time.sleep(1.0)


def test_demo_shows_every_kind_of_device_and_an_alarm_then_stops_cleanly(tmp_path: Path) -> None:
    with demo(tmp_path, "--duration", "110", "--speed", "1500") as running:
        kinds = Fleet().kinds
        one_of_each = [
            next(d for d, k in kinds.items() if k == kind) for kind in set(kinds.values())
        ]
        wait_for(running, lambda: all(running.scored(d) for d in one_of_each), "scores")
        faulty = {fault.machine for fault in Fleet().faults}
        wait_for(
            running,
            lambda: any(e["name"] == "alarm" for d in faulty for e in running.history(d)["events"]),
            "alarm",
        )
        running.interrupt()
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone


def test_a_demo_killed_outright_takes_its_agent_along(tmp_path: Path) -> None:
    with demo(tmp_path, "--duration", "110") as running:
        helpers = children(running.process.pid)
        assert helpers
        running.process.kill()  # no chance to clean up: the kernel stops the agent (PDEATHSIG)
        running.process.wait()
        deadline = time.monotonic() + 30
        while [pid for pid in helpers if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in helpers if alive(pid)]


def test_demo_over_a_broker_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        broker_url = f"mqtt://127.0.0.1:{broker.port}"
        options = ("--broker", broker_url, "--db", pg_url, "--duration", "110", "--speed", "1500")
        (tmp_path / "demo").mkdir()
        with demo(tmp_path / "demo", *options) as running:
            wait_for(
                running, lambda: running.scored("meter-07") and running.scored("watch-1"), "scores"
            )
            running.interrupt()
    assert list((tmp_path / "demo").iterdir()) == []
    # The database stays, with the demo's person disabled: its printed password opens nothing.
    status = {u["name"]: (u["role"], u["status"]) for u in list_users(pg_url)}
    assert status[running.name] == ("operator", "disabled")


def test_demo_refuses_a_bad_broker_or_terminal_with_infrastructure_in_one_line() -> None:
    runner = CliRunner()
    for options, message in (
        (["--broker", "http://x"], "--broker takes mqtt://HOST[:PORT], not 'http://x'"),
        (["--broker", "mqtt://127.0.0.1:1"], "no MQTT broker at 127.0.0.1:1"),
        (["--terminal", "--db", "sqlite:///x.db"], "--broker and --db are for the dashboard"),
    ):
        result = runner.invoke(app, ["demo", *options])
        assert result.exit_code == 2, result.output
        assert message in result.stderr and "Traceback" not in result.output


def test_demo_in_chromium_a_live_point_arrives(tmp_path: Path, chromium: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    with demo(tmp_path, "--duration", "150") as running:  # the default speed, as `make demo`
        context = chromium.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(f"{running.url}/")
            page.get_by_label("Name").fill(running.name)
            page.get_by_label("Password").fill(running.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{running.url}/")
            page.get_by_role("link", name="meter-07").click()
            page.wait_for_selector("#live-status[data-state='live']")
            before = page.locator("#device").get_attribute("data-cursor") or "0.0"
            expect(page.locator("#device")).not_to_have_attribute(
                "data-cursor", before, timeout=60_000
            )
            seconds = time.monotonic() - running.printed_at
            print(f"first live point in Chromium {seconds:.1f} s after the login was printed")
            # The demand spike's alarm arrives live too (about 25 s in at this speed).
            expect(page.locator("#events-body tr").first).to_contain_text(
                "outside its normal range", timeout=90_000
            )
            page.screenshot(path=SHOTS / "demo-meter.png", full_page=True)
        finally:
            context.close()
        running.interrupt()
    assert not errors, errors
