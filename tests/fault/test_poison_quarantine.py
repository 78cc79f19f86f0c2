"""A task that kills its worker process every time is dead-lettered after TASK_MAX_DELIVERIES
deliveries instead of being redelivered forever; replaying it sends the task again."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from app.config import get_settings
from app.persistence.db import unit_of_work
from app.persistence.models import DeadLetter
from app.services import dead_letters
from app.services.fleet import delivery_key, priority_lists, quarantine_key
from tests.support import Worker, wait_for

pytestmark = pytest.mark.fault

MAX_DELIVERIES = 3
CONFIRM = "kill-this-worker-process"  # tasks.maintenance.CRASH_CONFIRMATION


def _letters(task_id: str) -> list[DeadLetter]:
    with unit_of_work() as session:
        return list(session.scalars(select(DeadLetter).where(DeadLetter.message_id == task_id)))


def _result_from_own_worker(service_env: dict[str, str], tmp_path: Path, queue: str,
                            task_id: str) -> object:
    """Run a worker on the test's own queue until the replayed task's result is in."""
    from tasks.celery_app import celery_app  # noqa: PLC0415

    worker = Worker(service_env, tmp_path / "worker.log", queues=queue, concurrency=1).start()
    try:
        return celery_app.AsyncResult(task_id).get(timeout=30)
    finally:
        worker.stop()


def test_poison_task_is_quarantined_and_the_worker_lives_on(service_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    queue = f"fault-poison-{uuid.uuid4().hex[:8]}"
    broker = redis.Redis.from_url(get_settings().celery_broker_url)
    env = {**service_env, "TASK_MAX_DELIVERIES": str(MAX_DELIVERIES)}
    log = tmp_path / "worker.log"
    worker = Worker(env, log, queues=queue, concurrency=1).start()
    try:
        poison = celery_app.send_task("maintenance.crash_worker", kwargs={"confirm": CONFIRM},
                                      queue=queue)
        [letter] = wait_for(lambda: _letters(poison.id), timeout=90, interval=0.5,
                            what="the poison task dead-lettered")
        assert letter.reason == "poison_task"
        assert letter.subscription == f"celery:{queue}"
        assert f"delivered {MAX_DELIVERIES} times without finishing" in letter.detail
        assert json.loads(letter.data) == {"name": "maintenance.crash_worker", "args": [],
                                           "kwargs": {"confirm": CONFIRM}}
        assert letter.attributes == {"task_name": "maintenance.crash_worker", "queue": queue,
                                     "task_id": poison.id}
        # It ran exactly MAX_DELIVERIES times: each run took its pool process down with it.
        assert log.read_text().count("exited with 'exitcode 70'") == MAX_DELIVERIES
        wait_for(lambda: poison.state == "FAILURE", timeout=10, what="the task marked failed")

        assert worker.process is not None and worker.process.poll() is None
        after = celery_app.send_task("maintenance.noop", kwargs={"command_id": "after"},
                                     queue=queue)
        assert after.get(timeout=30) == {"command_id": "after", "status": "noop"}
        assert broker.exists(delivery_key(poison.id, 0)) == 0  # cleared: a replay starts afresh

        # Sent again under the same id, as the command sweeper re-sends a command's task: it is
        # refused without running (no crash) and without a second dead letter.
        celery_app.send_task("maintenance.crash_worker", kwargs={"confirm": CONFIRM},
                             queue=queue, task_id=poison.id)
        behind = celery_app.send_task("maintenance.noop", kwargs={"command_id": "behind"},
                                      queue=queue)
        assert behind.get(timeout=30) == {"command_id": "behind", "status": "noop"}
        assert log.read_text().count("exited with 'exitcode 70'") == MAX_DELIVERIES
        assert "task.still_quarantined" in log.read_text()
    finally:
        worker.stop()

    assert len(_letters(poison.id)) == 1
    assert sum(int(broker.llen(name)) for name in priority_lists(queue)) == 0
    assert not [v for v in broker.hvals("unacked") if poison.id.encode() in v]
    assert broker.exists(quarantine_key(poison.id)) == 1  # until a replay lifts it


def test_replaying_a_quarantined_task_sends_it_again(service_env: dict[str, str],
                                                     tmp_path: Path) -> None:
    from cli.main import cli  # noqa: PLC0415

    queue = f"fault-replay-{uuid.uuid4().hex[:8]}"
    task_id = str(uuid.uuid4())
    broker = redis.Redis.from_url(get_settings().celery_broker_url)
    broker.set(delivery_key(task_id, 0), 99)  # a stale count must not quarantine the replay
    broker.set(quarantine_key(task_id), 1)  # nor the mark its quarantine left
    with unit_of_work() as session:
        letter_id = dead_letters.quarantine_task(
            session, queue=queue, task_id=task_id, task_name="maintenance.noop", args=[],
            kwargs={"command_id": "replayed"}, deliveries=5).id

    result = CliRunner().invoke(cli, ["deadletters", "replay", letter_id])
    assert result.exit_code == 0, result.output
    assert f"replayed as task {task_id} (maintenance.noop)" in result.output
    done = _result_from_own_worker(service_env, tmp_path, queue, task_id)
    assert done == {"command_id": "replayed", "status": "noop"}
    with unit_of_work() as session:
        replayed = dead_letters.get(session, letter_id)
        assert replayed.replayed_at is not None and replayed.replay_count == 1

    renamed = CliRunner().invoke(cli, ["deadletters", "replay", letter_id, "--data-file", "-"],
                                 input=json.dumps({"name": "maintenance.sweep_commands"}))
    assert renamed.exit_code != 0 and "task_name_changed" in renamed.output


def test_the_admin_api_replays_a_quarantined_task(service_env: dict[str, str], tmp_path: Path,
                                                  client: FlaskClient,
                                                  api_keys: dict[str, str]) -> None:
    queue, task_id = f"fault-replay-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    with unit_of_work() as session:
        letter_id = dead_letters.quarantine_task(
            session, queue=queue, task_id=task_id, task_name="maintenance.noop", args=[],
            kwargs={"command_id": "via-api"}, deliveries=5).id

    reply = client.post(f"/v1/admin/dead-letters/{letter_id}/replay", json={},
                        headers={"Authorization": f"Bearer {api_keys['admin']}"})
    assert reply.status_code == 202, reply.get_json()
    assert reply.get_json() == {"dead_letter_id": letter_id, "task_id": task_id,
                                "task_name": "maintenance.noop"}
    done = _result_from_own_worker(service_env, tmp_path, queue, task_id)
    assert done == {"command_id": "via-api", "status": "noop"}
