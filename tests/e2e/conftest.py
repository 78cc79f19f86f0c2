from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.api import Api
from tests.support import Worker


@pytest.fixture
def api(client: FlaskClient, api_keys: dict[str, str], worker: Worker) -> Api:
    return Api(client, api_keys["writer"])


from tests.e2e.bridge_fixtures import bridge, bridge_env, relay  # noqa: E402, F401 - fixtures
