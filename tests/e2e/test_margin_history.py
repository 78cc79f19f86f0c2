"""An account's margin health over time: the history API from stored snapshots, the console's
chart of it with its margin events marked, and the nightly retention prune."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from flask.testing import FlaskClient

from tests.api import Api, unique
from tests.e2e.console_support import Console
from tests.e2e.test_risk_api import health_when, post_price, put_positions
from tests.support import Worker

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def moved_account(flask_app: object, api_keys: dict[str, str], worker: Worker) -> str:
    """An account taken HEALTHY → WARNING → MARGIN_CALL by USDT price moves (positions need a
    known asset; other tests rely on EUR staying unpriced and on which accounts GBP moves)."""
    from flask import Flask  # noqa: PLC0415

    assert isinstance(flask_app, Flask)
    risk = Api(flask_app.test_client(), api_keys["risk"])
    account, coin = unique("history"), "USDT"
    assert post_price(risk, coin, "200").status_code == 201
    assert put_positions(risk, account, [{"asset": coin, "collateral": "10"},
                                         {"asset": "USD", "borrowed": "1000"}]).status_code == 200
    health_when(risk, account, "2000.00")
    for value, collateral in (("140", "1400.00"), ("120", "1200.00")):
        assert post_price(risk, coin, value).status_code == 201
        health_when(risk, account, collateral)
    return account


def test_history_lists_snapshots_oldest_first_with_events(
        client: FlaskClient, api_keys: dict[str, str], moved_account: str) -> None:
    risk = Api(client, api_keys["risk_reader"])
    path = f"/v1/risk/accounts/{moved_account}/margin-health/history"
    body = risk.get(path).get_json()
    statuses = [s["status"] for s in body["snapshots"]]
    assert statuses[0] == "HEALTHY" and statuses[-1] == "MARGIN_CALL" and "WARNING" in statuses
    times = [s["calculated_at"] for s in body["snapshots"]]
    assert times == sorted(times) and body["truncated"] is False
    assert [e["event_type"] for e in body["events"]] == ["margin_warning", "margin_call"]

    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert risk.get(f"{path}?from={later}").get_json()["snapshots"] == []
    middle = body["snapshots"][1]["calculated_at"].replace("+00:00", "Z")
    windowed = risk.get(f"{path}?to={middle}").get_json()
    assert [s["status"] for s in windowed["snapshots"]] == ["HEALTHY"]

    assert risk.get(f"{path}?from=soon").status_code == 422
    missing = risk.get(f"/v1/risk/accounts/{unique('nobody')}/margin-health/history")
    assert missing.status_code == 404
    assert Api(client, api_keys["reader"]).get(path).status_code == 403


def test_the_console_charts_health_over_time_with_events_marked(
        client: FlaskClient, api_keys: dict[str, str], moved_account: str) -> None:
    console = Console(client)
    console.sign_in(api_keys["risk_reader"])
    page = console.page(f"/console/risk/{moved_account}")
    svg = re.search(r'<svg id="health-chart".*?</svg>', page, re.S)
    assert svg, "no margin-health chart"
    points = re.search(r'<polyline class="line" points="([^"]+)"', svg.group(0))
    assert points and len(points.group(1).split()) >= 3
    assert svg.group(0).count('<g class="mark">') == 2
    assert ">health score<" in svg.group(0)
    risk = console.page("/console/risk")
    assert re.search(r'<rect class="bar" data-series="MARGIN_CALL"[^>]*height="[1-9]', risk)
    # The nearest to liquidation come lowest score first, in plain notation.
    scores = [Decimal(s) for s in re.findall(r'<td class="num">([0-9.]+)</td>', risk)]
    assert scores and scores == sorted(scores) and "E+" not in risk


def test_snapshots_past_the_retention_are_pruned_but_the_newest_stays(
        client: FlaskClient, api_keys: dict[str, str], moved_account: str) -> None:
    from sqlalchemy import update  # noqa: PLC0415

    from app.config import get_settings  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.persistence.risk_models import RiskSnapshot  # noqa: PLC0415
    from tasks.celery_app import celery_app  # noqa: PLC0415

    risk = Api(client, api_keys["risk"])
    path = f"/v1/risk/accounts/{moved_account}/margin-health/history"
    before = risk.get(path).get_json()["snapshots"]
    assert len(before) >= 3
    days = get_settings().risk_snapshot_retention_days
    with unit_of_work() as session:  # age every snapshot of the account past the retention
        session.execute(update(RiskSnapshot)
                        .where(RiskSnapshot.account_id == moved_account)
                        .values(calculated_at=RiskSnapshot.calculated_at
                                - timedelta(days=days + 1)))
    result = celery_app.send_task("risk.prune_snapshots").get(timeout=30)
    assert result["retention_days"] == days and result["deleted"] >= len(before) - 1
    after = risk.get(path).get_json()["snapshots"]
    assert [s["status"] for s in after] == ["MARGIN_CALL"]
    assert risk.get(f"/v1/risk/accounts/{moved_account}/margin-health").status_code == 200


def test_the_prune_runs_nightly_from_beat() -> None:
    import celeryconfig  # noqa: PLC0415
    from tasks.celery_app import celery_app  # noqa: PLC0415

    entry = celeryconfig.beat_schedule["risk-prune-snapshots"]
    assert entry["task"] == "risk.prune_snapshots"
    celery_app.loader.import_default_modules()
    assert "risk.prune_snapshots" in celery_app.tasks
