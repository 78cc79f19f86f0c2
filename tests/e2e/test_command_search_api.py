"""GET /v1/settlement/commands: newest first, filtered by status, party and time, keyset-paged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from tests.api import Api, unique
from tests.support import Worker

pytestmark = pytest.mark.e2e


def test_search_by_party_status_and_time_newest_first(client: FlaskClient,
                                                       api_keys: dict[str, str],
                                                       worker: Worker) -> None:
    writer, reader = Api(client, api_keys["writer"]), Api(client, api_keys["reader"])
    account = unique("search")
    before = datetime.now(UTC) - timedelta(seconds=1)
    first = writer.deposit(account, "1.00")["command_id"]
    second = writer.deposit(account, "2.00")["command_id"]
    found = reader.get(f"/v1/settlement/commands?party={account}").get_json()
    assert [c["command_id"] for c in found["commands"]] == [second, first]
    assert found["next_cursor"] is None
    assert found["commands"][0]["status"] == "settled"

    page = reader.get(f"/v1/settlement/commands?party={account}&limit=1").get_json()
    assert [c["command_id"] for c in page["commands"]] == [second]
    rest = reader.get(f"/v1/settlement/commands?party={account}&limit=1"
                      f"&cursor={page['next_cursor']}").get_json()
    assert [c["command_id"] for c in rest["commands"]] == [first]

    since = before.isoformat().replace("+00:00", "Z")
    windowed = reader.get(f"/v1/settlement/commands?party={account}&status=settled"
                          f"&from={since}").get_json()
    assert len(windowed["commands"]) == 2
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert reader.get(f"/v1/settlement/commands?party={account}&from={later}"
                      ).get_json()["commands"] == []
    assert reader.get(f"/v1/settlement/commands?party={account}&status=failed"
                      ).get_json()["commands"] == []


def test_bad_filters_are_problems_and_the_route_needs_a_key(client: FlaskClient,
                                                            api_keys: dict[str, str]) -> None:
    reader = Api(client, api_keys["reader"])
    for query, code in (("status=exploded", "invalid_status"), ("from=yesterday", "invalid_time"),
                        ("cursor=%%%", "invalid_cursor")):
        response = reader.get(f"/v1/settlement/commands?{query}")
        assert response.status_code == 422, query
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"] == code
    assert client.get("/v1/settlement/commands").status_code == 401
    assert Api(client, api_keys["risk"]).get("/v1/settlement/commands").status_code == 403
