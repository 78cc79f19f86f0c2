"""The operator console in headless Chromium, served by gunicorn as `make run` serves it: sign
in, the overview's chart, a held command's reason, a dead letter replayed with a corrected
body, a batch's progress bar moving (the page refreshes itself) and cancelling it, sign out.
A screenshot of every page lands in .fusion/test-artifacts/console/ (named in the README).
Needs Debian's chromium; skipped without it, except under CI=true, where it fails."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.api import Api, unique
from tests.e2e.console_support import (
    cancel_if_running,
    held_command,
    planned_reconciliation,
    quarantined_task,
    run_one_check,
    task_body,
)
from tests.e2e.test_flower_browser import CHROMIUM, CHROMIUM_ARGS, _need_chromium
from tests.e2e.test_risk_api import health_when, post_price, put_positions
from tests.support import ROOT, ManagedProcess, Worker, devstack, wait_for

pytestmark = pytest.mark.e2e

SCREENSHOTS = ROOT / ".fusion" / "test-artifacts" / "console"


@pytest.fixture
def api_server(service_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    port = devstack.free_port()
    # No CONSOLE_SECRET_KEY: outside production both workers derive the same one, and the
    # test's pages are served by either.
    env = dict(service_env)
    process = ManagedProcess(
        [sys.executable, "-m", "gunicorn", "--config", "python:web.gunicorn_conf", "--bind",
         f"127.0.0.1:{port}", "--workers", "2", "--no-control-socket", "web.wsgi:app"],
        env, tmp_path / "api.log", ready_marker=b"Booting worker", name="api").start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


def _shot(page: Any, name: str) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_console_in_a_browser(api_server: str, flask_app: Flask, api_keys: dict[str, str],
                              worker: Worker) -> None:
    sync_api = _need_chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    held = held_command(api_keys["writer"], flask_app.test_client())
    letter_id = quarantined_task("browser-broken")
    run_id = planned_reconciliation()
    risk = Api(flask_app.test_client(), api_keys["risk"])
    # Not EUR or GBP: other tests rely on EUR staying unpriced and on who holds GBP.
    account, coin = unique("browser-risk"), "USDT"
    assert post_price(risk, coin, "130").status_code == 201
    assert put_positions(risk, account, [{"asset": coin, "collateral": "10"},
                                         {"asset": "USD", "borrowed": "1000"}]).status_code == 200
    health_when(risk, account, "1300.00")
    shots: list[Path] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{api_server}/console/overview")
            assert "/console/sign-in" in page.url
            shots.append(_shot(page, "01-sign-in"))
            page.fill("input[name=api_key]", api_keys["admin"])
            page.click("button[type=submit]")
            page.wait_for_url("**/console/overview")
            bars = page.locator("svg#commands-chart rect.bar")
            assert bars.count() > 0
            assert page.locator("svg#commands-chart rect.bar[data-series=held]").count() > 0
            assert "commands" in page.locator("svg#commands-chart text.unit").all_text_contents()
            shots.append(_shot(page, "02-overview"))

            page.goto(f"{api_server}/console/commands?status=held")
            page.get_by_role("link", name=held).click()
            assert page.inner_text("#command-status") == "held"
            assert page.inner_text("#command-reason").startswith("compliance_review")
            shots.append(_shot(page, "03-held-command"))

            page.goto(f"{api_server}/console/ledger")
            assert page.locator("#asset-totals .check.ok").count() > 0
            shots.append(_shot(page, "04-ledger"))

            page.goto(f"{api_server}/console/dead-letters/{letter_id}")
            page.fill("textarea[name=body]", task_body("browser-fixed"))
            page.get_by_role("button", name="Replay", exact=True).click()
            assert "Replayed as task" in page.inner_text(".flash.ok")
            assert "Replayed 1 times" in page.inner_text("#letter-replays")
            shots.append(_shot(page, "05-dead-letter-replayed"))

            page.goto(f"{api_server}/console/batches")
            bar = page.locator(f"#batch-{run_id} progress")
            assert bar.get_attribute("value") == "0"
            run_one_check(run_id, "asset_sums")
            # No reload from here: the page refreshes itself while a batch runs.
            wait_for(lambda: page.locator(f"#batch-{run_id} progress").get_attribute("value")
                     == "1", timeout=15, interval=0.5, what="the progress bar at 1")
            shots.append(_shot(page, "06-batches"))
            page.locator(f"#batch-{run_id}").get_by_role("button", name="Cancel").click()
            assert page.inner_text(f"#batch-{run_id} .status") == "cancelled"

            page.goto(f"{api_server}/console/risk")
            assert page.locator("svg#bands-chart rect.bar[data-series=WARNING]").count() == 1
            page.fill("input[name=account_id]", account)
            page.get_by_role("button", name="Margin health over time").click()
            page.wait_for_url(f"**/console/risk/{account}")
            assert page.locator("svg#health-chart polyline.line").count() == 1
            shots.append(_shot(page, "07-risk-account"))
            page.goto(f"{api_server}/console/risk")
            shots.append(_shot(page, "08-risk"))
            page.goto(f"{api_server}/console/compliance")
            shots.append(_shot(page, "09-compliance"))

            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url("**/console/sign-in")
            page.goto(f"{api_server}/console/overview")
            assert "/console/sign-in" in page.url
        finally:
            browser.close()
            cancel_if_running(run_id)
    assert all(s.stat().st_size > 0 for s in shots)
    print(f"\nconsole screenshots: {SCREENSHOTS}")
