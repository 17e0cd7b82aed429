"""``edgewise demo`` end to end: a subprocess prints the dashboard and a login, the hub answers,
devices of every kind store detections, an alarm is raised, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgewise.sim import Fleet

DEADLINE_S = 120.0  # a loaded CI machine; the demo itself shows its first points in seconds


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def guide(process: subprocess.Popen[str]) -> dict[str, str]:
    """The address and the login the demo prints, read from its stdout."""
    assert process.stdout is not None
    found: dict[str, str] = {}
    for line in process.stdout:
        for key in ("dashboard", "sign in", "password"):
            match = re.match(rf"\s+{key}\s+(\S+)", line)
            if match:
                found[key] = match.group(1)
        if len(found) == 3:
            return found
    raise AssertionError(f"the demo ended before printing its login: {found}")


def history(client: httpx.Client, device: str) -> dict[str, Any]:
    answer = client.get(f"/devices/{device}/history")
    assert answer.status_code == 200, answer.text
    points: dict[str, Any] = answer.json()
    return points


@pytest.mark.skipif(sys.platform != "linux", reason="counts child processes in /proc")
def test_demo_shows_the_fleet_on_the_dashboard_and_stops_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    command = [sys.executable, "-m", "edgewise", "demo", "--duration", "110", "--speed", "1500"]
    demo = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        login = guide(demo)
        url = login["dashboard"].rstrip("/")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert len(login["password"]) >= 12
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            assert client.get("/devices/press-1/history").status_code == 401  # signed out
            signed = client.post(
                "/login", data={"name": login["sign in"], "password": login["password"]}
            )
            assert signed.status_code == 303, signed.text
            fleet = Fleet()
            one_of_each = {
                kind: next(d for d, k in fleet.kinds.items() if k == kind)
                for kind in ("machine", "meter", "wearable")
            }
            scored: set[str] = set()
            alarms: list[dict[str, Any]] = []
            deadline = time.monotonic() + DEADLINE_S
            while (len(scored) < 3 or not alarms) and time.monotonic() < deadline:
                assert demo.poll() is None, "the demo stopped early"
                for kind, device in one_of_each.items():
                    streams = history(client, device)["streams"]
                    if any(s is not None for each in streams.values() for s in each["score"]):
                        scored.add(kind)
                alarms = [
                    e
                    for device in ("press-1", "meter-07", "watch-1")
                    for e in history(client, device)["events"]
                    if e["name"] == "alarm"
                ]
                time.sleep(1.0)
            assert scored == {"machine", "meter", "wearable"}
            assert alarms, "no alarm on the devices with faults"
        helpers = children(demo.pid)
        assert helpers, "the agent runs as a child process"
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, out
    assert "Traceback" not in out
    assert not [pid for pid in helpers if alive(pid)]
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone
