"""The dashboard in real headless Chromium (Debian's, driven by Playwright): sign in, the fleet,
a device whose chart gets a live point while it is open, the alert inbox where a new alarm
appears and is acknowledged by a click; no browser console error and no serious or critical
axe-core violation, in light and dark. Saves the screenshots docs/ shows."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dashboard_data import run
from hubtest import Hub, Server

from edgewise.hub import add_device, add_user, create_app, upgrade

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; under CI it must run: .ci/run installs it")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Never `playwright install`: Debian's Chromium is the browser.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    token = add_device(url, "press-7", covers=["plc-1", "plc-2"])
    add_device(url, "meter-3")
    add_user(url, "ada", role="viewer", password=PASSWORD)
    add_user(url, "otto", role="operator", password=PASSWORD)
    with Server(create_app(db_url=url)) as server:
        hub = Hub(url, server.url, token)
        # Five minutes of a pump whose bearing starts failing, and a conveyor, up to now.
        t0 = time.time() - 290
        for first in range(0, 280, 70):
            assert hub.post(run(first, first + 70, t0)).status_code == 200
        assert hub.post(run(0, 280, t0, device="plc-1", stream="conveyor")).status_code == 200
        yield hub


def accessible(page: Any, where: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    serious = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not serious, f"{where}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in serious
    )


@contextmanager
def browsing(chromium: Any, scheme: str) -> Iterator[tuple[Any, list[str]]]:
    """A page in ``scheme`` and the console errors it logs (none allowed at the end)."""
    context = chromium.new_context(
        viewport={"width": 1280, "height": 860},
        color_scheme=scheme,
        locale="en-US",
        timezone_id="UTC",
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield page, errors
    finally:
        context.close()
    assert not errors, errors


def sign_in(page: Any, url: str, name: str, *, check: bool = False) -> None:
    page.goto(f"{url}/")
    assert "/login" in page.url
    if check:
        accessible(page, "sign-in page")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_sign_in_see_the_fleet_and_a_live_point_arrive(
    chromium: Any, hub: Hub, scheme: str
) -> None:
    from playwright.sync_api import expect

    suffix = "" if scheme == "light" else "-dark"
    with browsing(chromium, scheme) as (page, _):
        sign_in(page, hub.url, "ada", check=True)
        rows = page.locator("tbody tr")
        assert rows.count() == 4  # press-7, plc-1, plc-2, meter-3
        assert (
            page.locator("tr", has_text="press-7").locator(".badge").inner_text().lower() == "live"
        )
        assert (
            page.locator("tr", has_text="meter-3").locator(".badge").inner_text().lower()
            == "silent"
        )
        accessible(page, "fleet")
        page.screenshot(path=SHOTS / f"fleet{suffix}.png", full_page=True)

        page.get_by_role("link", name="press-7").click()
        page.wait_for_selector("[data-stream='pump-1'] .uplot")
        page.wait_for_selector("#live-status[data-state='live']")
        assert page.locator("#events-body tr").count() == 1  # the bearing's alarm
        before = page.locator("#device").get_attribute("data-cursor") or "0.0"

        # A new batch through the ingest API while the page is open: the chart gets its points.
        assert hub.post(run(280, 285, time.time() - 284)).status_code == 200
        expect(page.locator("#device")).not_to_have_attribute("data-cursor", before)
        latest = page.locator("[data-stream='pump-1'] .latest").inner_text()
        assert "temp_c 74.89" in latest, latest  # reading 284
        accessible(page, "device page")
        page.screenshot(path=SHOTS / f"device{suffix}.png", full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_an_alarm_arrives_in_the_inbox_and_is_acknowledged_by_a_click(
    chromium: Any, hub: Hub, scheme: str
) -> None:
    from playwright.sync_api import expect

    suffix = "" if scheme == "light" else "-dark"
    with browsing(chromium, scheme) as (page, _):
        sign_in(page, hub.url, "otto")
        expect(page.locator("#open-alerts")).to_have_text("2")  # the pump's and the conveyor's
        page.get_by_role("link", name="Alerts", exact=True).click()
        page.wait_for_url(f"{hub.url}/alerts")
        expect(page.locator("#inbox tbody tr")).to_have_count(2)
        # An alarm through the ingest API while the inbox is open: it appears, live.
        now = time.time()
        alarm = {"score": 0.93, "explanation": "ram pressure 212 bar above its learned range",
                 "detector": "default", "model_version": "1bfe908688e7"}  # fmt: skip
        record = {"device": "plc-2", "stream": "ram", "kind": "event", "seq": 300,
                  "name": "alarm", "timestamp": now, "received": now, "body": alarm}  # fmt: skip
        assert hub.post([record]).status_code == 200
        row = page.locator("#inbox tr", has_text="plc-2")
        expect(row).to_be_visible()
        expect(row.locator(".badge")).to_have_text("open")
        accessible(page, "alert inbox")
        page.screenshot(path=SHOTS / f"alerts{suffix}.png", full_page=True)
        alert_id = (row.get_attribute("id") or "").removeprefix("alert-")
        row.get_by_label(f"Why (alert {alert_id})").fill("checking the press")
        row.get_by_role("button", name="Acknowledge").click()
        row = page.locator(f"#alert-{alert_id}")
        expect(row.locator(".badge")).to_have_text("acknowledged")
        expect(row).to_contain_text("acknowledged by otto: checking the press")
        accessible(page, "alert inbox after acknowledging")
