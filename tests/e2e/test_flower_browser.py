"""Flower in headless Chromium: behind basic auth, it lists the running worker, shows a task
that ran on it as succeeded, and its Broker tab shows the worker's queue with its depth. Needs
Debian's chromium (scripts/ensure_test_tools.sh, run by `make test`); skipped without it, except
under CI=true, where it fails."""

from __future__ import annotations

import os
import secrets
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import ManagedProcess, Worker, devstack, wait_for

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
# No GPU, no sandbox (root in a container), and nothing that phones home: the test machine
# may have no network beyond localhost.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
USER = "flower-test"


def _need_chromium() -> Any:
    """The playwright sync API, or a skip (a failure under CI) saying what is missing."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is not installed (scripts/ensure_test_tools.sh installs it)"
    try:
        from playwright import sync_api  # noqa: PLC0415 - an optional test dependency
    except ImportError:
        missing = missing or "the playwright package is missing (pip install -e '.[test]')"
    if missing is None:
        return sync_api
    if os.environ.get("CI") == "true":
        pytest.fail(f"Flower browser test cannot run under CI: {missing}")
    pytest.skip(missing)


@pytest.fixture
def flower(service_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real Flower with basic auth from FLOWER_BASIC_AUTH (as `make run` starts it)."""
    port, password = devstack.free_port(), secrets.token_urlsafe(12)
    process = ManagedProcess(
        [sys.executable, "-m", "celery", "-A", "tasks", "flower", f"--port={port}",
         "--address=127.0.0.1"],
        {**service_env, "FLOWER_BASIC_AUTH": f"{USER}:{password}"}, tmp_path / "flower.log",
        ready_marker=b"Visit me at", name="flower").start()
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _status(f"{url}/healthcheck") == 200, timeout=30, what="flower healthy")
    try:
        yield url, password
    finally:
        assert process.stop() == 0
    assert password.encode() not in (tmp_path / "flower.log").read_bytes()


def _status(url: str, auth: tuple[str, str] | None = None) -> int:
    try:
        return requests.get(url, auth=auth, timeout=5).status_code
    except requests.ConnectionError:
        return 0


def _page_shows(page: Any, url: str, *texts: str) -> bool:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    content = page.content()
    return all(text in content for text in texts)


def _queue_row(page: Any, url: str, queue: str) -> list[str]:
    page.goto(f"{url}/workers?refresh=1")
    page.wait_for_load_state("networkidle")
    page.goto(f"{url}/broker")
    page.wait_for_load_state("networkidle")
    cells: list[str] = page.locator(f"#queue-table tr[id='{queue}'] td").all_inner_texts()
    return cells


def test_flower_dashboard_shows_worker_and_succeeded_task(
        service_env: dict[str, str], flower: tuple[str, str], tmp_path: Path) -> None:
    sync_api = _need_chromium()
    from tasks.celery_app import celery_app  # noqa: PLC0415

    url, password = flower
    assert _status(f"{url}/") == 401
    assert _status(f"{url}/tasks", auth=(USER, "wrong")) == 401
    assert _status(f"{url}/", auth=(USER, password)) == 200

    queue, node = f"flower-{uuid.uuid4().hex[:8]}", f"flower-{uuid.uuid4().hex[:6]}"
    worker = Worker(service_env, tmp_path / "worker.log", queues=queue, concurrency=1,
                    name=node).start()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(http_credentials={"username": USER,
                                                            "password": password})
            page = context.new_page()
            page.set_default_timeout(15_000)
            # Flower learns of workers from their events: wait until the dashboard lists ours.
            wait_for(lambda: _page_shows(page, f"{url}/", f"{node}@"), timeout=45,
                     interval=1.0, what="the worker on Flower's dashboard")

            result = celery_app.send_task("maintenance.noop", kwargs={"command_id": "flower"},
                                          queue=queue)
            assert result.get(timeout=30) == {"command_id": "flower", "status": "noop"}
            wait_for(lambda: _page_shows(page, f"{url}/tasks", result.id, "SUCCESS"),
                     timeout=30, interval=1.0, what="the task on Flower's tasks page")
            assert _page_shows(page, f"{url}/task/{result.id}", "maintenance.noop", "SUCCESS")
            # The Broker tab reads queue depths from the broker itself; it answered 404 ("'redis'
            # broker is not supported") while the app used a transport of its own.
            # It lists the queues the workers report consuming; Flower asks them at its start
            # (before this worker ran) and when its workers page is refreshed.
            assert _page_shows(page, f"{url}/broker", "Broker queues")
            row = wait_for(lambda: _queue_row(page, url, queue), timeout=30,
                           interval=1.0, what="the worker's queue on Flower's Broker tab")
            assert row[:2] == [queue, "0"], row
            screenshot = tmp_path / "flower-tasks.png"
            _page_shows(page, f"{url}/tasks", result.id)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
            worker.stop()
    assert screenshot.stat().st_size > 0
    print(f"\nFlower screenshot: {screenshot}")

    # Flower's Prometheus metrics count the task's events (the tasks page showed it, so its
    # events are in). flower 2.2 serves /metrics without asking for credentials.
    metrics = requests.get(f"{url}/metrics", auth=(USER, password), timeout=5)
    assert metrics.status_code == 200
    assert 'flower_events_total{task="maintenance.noop",type="task-succeeded"' in metrics.text
