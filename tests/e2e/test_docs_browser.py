"""/docs in headless Chromium against the API under gunicorn: Swagger UI renders from the
package's own files (no network beyond localhost), shows the escrow operation with its example,
and "Try it out" with an API key creates an escrow through the live API. Needs Debian's
chromium, as the Flower test does; skipped without it, except under CI=true, where it fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.api import unique
from tests.e2e.test_flower_browser import CHROMIUM, CHROMIUM_ARGS, _need_chromium
from tests.support import ROOT, Worker, devstack, wait_for

pytestmark = pytest.mark.e2e


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:  # not listening yet, or still booting on a busy machine
        return False


@pytest.fixture
def live_api(service_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    port = devstack.free_port()
    with (tmp_path / "api.log").open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "python:web.gunicorn_conf",
             "--bind", f"127.0.0.1:{port}", "--workers", "1", "--no-control-socket",
             "web.wsgi:app"],
            cwd=ROOT, env={**os.environ, **service_env}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(base + "/healthz"), timeout=60, interval=0.2, what="gunicorn up")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_docs_find_the_escrow_operation_and_try_it_out(
        live_api: str, api_keys: dict[str, str], worker: Worker) -> None:
    sync_api = _need_chromium()
    key = api_keys["writer"]
    outside: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.on("request", lambda r: None if r.url.startswith(live_api)
                    else outside.append(r.url))
            page.goto(f"{live_api}/docs")
            page.wait_for_selector("#operations-Escrows-createEscrow")
            tags = page.locator(".opblock-tag-section h3").all_inner_texts()
            assert tags and tags[0].startswith("Settlement"), tags

            page.click("button.authorize")
            page.fill(".auth-container input", key)
            page.click(".auth-btn-wrapper button.authorize")
            page.click(".auth-btn-wrapper button.btn-done")

            page.click("#operations-Escrows-createEscrow .opblock-summary")
            operation = page.locator("#operations-Escrows-createEscrow")
            operation.locator(".body-param__example, .example, .microlight").first.wait_for()
            assert "release_delay_seconds" in operation.inner_text()
            operation.locator("button.try-out__btn").click()
            editor = operation.locator("textarea.body-param__text")
            example = json.loads(editor.input_value())
            assert example["approvals_required"] >= 1 and example["amount"]
            payer = unique("docs-payer")
            editor.fill(json.dumps({**example, "payer": payer}))
            operation.locator("button.execute").click()
            live = operation.locator(".live-responses-table tr.response")
            status = live.locator(".response-col_status").first
            status.wait_for()
            assert status.inner_text().strip().startswith("202"), operation.inner_text()
            answer = live.locator(".microlight").first.inner_text()
            accepted: dict[str, Any] = json.loads(answer)
        finally:
            browser.close()
    assert outside == [], "the docs page fetched something beyond the API"
    escrow = requests.get(f"{live_api}{accepted['escrow_url']}", timeout=5,
                          headers={"Authorization": f"Bearer {key}"})
    assert escrow.status_code == 200
    assert escrow.json()["payer"] == payer
